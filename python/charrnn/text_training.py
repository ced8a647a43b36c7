"""Training on continuous text: stateful truncated BPTT (see :mod:`charrnn.text`).

One epoch is one pass over the training stream in :class:`~charrnn.text.TextBatches`
order.  The state starts at zero at each epoch start; the final state of batch ``k`` is
the initial state of batch ``k + 1`` (the values — the gradient stops at the batch
boundary).  One step: the batch's summed NLL and its gradients from
``_core.forward_backward``; the gradients divided by the batch's ``B * T`` predicted
characters (the mean NLL per character), clipped to the global L2 norm ``clip`` and
applied by Adam — in one fused Rust call, ``_core.adam_step``.

An *evaluation* happens at each epoch end and, with ``eval_every``, every that many
steps inside an epoch: the NLL per character over the whole validation text and the
whole test text (state carried, no dropout), recorded with the epoch's running training
NLL so far.  The weights of the evaluation with the lowest validation NLL are kept and
put back at the end (without validation text: the last weights).  The learning-rate
schedule and early stopping are :mod:`charrnn.schedule`'s, as for names.

With ``checkpoint`` (a path) the run is resumable (:mod:`charrnn.text_state`): the
checkpoint — weights, Adam's moments, the best weights, the position in the stream and
the state carried into the next batch — is rewritten atomically after every
evaluation, every ``checkpoint_every`` steps and when training is interrupted;
:func:`charrnn.resume_text` carries on from it.

Ctrl-C (SIGINT) or SIGTERM lets the current step finish, writes the checkpoint, puts back
the best weights and raises :class:`~charrnn.errors.TrainingInterrupted`; a NaN or
infinite loss or gradient raises :class:`~charrnn.errors.TrainingDivergedError` before
it reaches the weights (the last checkpoint is left as it was).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from .errors import TrainingDivergedError, TrainingInterrupted
from .interrupt import deferred_interrupt
from .metrics import split_metrics
from .model import CharRNN
from .progress import TrainingMonitor
from .schedule import EarlyStopping, LRSchedule, check_patience
from .text import DEFAULT_SEQ_LEN, DEFAULT_TEXT_BATCH, TextBatches, evaluate_text, text_pass
from .text_state import TextTrainingState, save_text_checkpoint, text_fingerprint
from .training import Adam, EpochRecord, History, restore_params, weights_finite
from .training_state import restore_weights_and_optimizer

__all__ = ["train_text", "TextRecord", "TextHistory", "TEXT_DEFAULTS"]

logger = logging.getLogger(__name__)

# char-rnn's defaults (Karpathy's train.lua), with Adam instead of RMSprop: what
# `charrnn train --mode text` uses unless told otherwise.
TEXT_DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "hidden": 128,
    "layers": 2,
    "embed": 32,
    "batch": DEFAULT_TEXT_BATCH,
    "seq_len": DEFAULT_SEQ_LEN,
    "lr": 2e-3,
    "clip": 5.0,
    "dropout": 0.0,
    "epochs": 30,
    "lr_decay": 0.97,
    "lr_decay_every": 1,
    "lr_decay_start": 10,
    "val_fraction": 0.05,
    "test_fraction": 0.05,
}


@dataclass(frozen=True)
class TextRecord(EpochRecord):
    """One evaluation of a text-mode run: the fields of :class:`EpochRecord` (``epoch`` is
    the epoch in progress, ``train_nll`` its running average so far), plus ``progress``
    (epochs done, fractional inside an epoch), ``end_of_epoch`` and the test split's
    ``test_nll``/``test_ppl``/``test_bpc`` when there is one."""

    progress: float = 0.0
    end_of_epoch: bool = True
    test_nll: Optional[float] = None
    test_ppl: Optional[float] = None
    test_bpc: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.test_nll is None:
            for key in ("test_nll", "test_ppl", "test_bpc"):
                del out[key]
        return out


class TextHistory(History):
    """The evaluations of a text-mode run (several per epoch with ``eval_every``).
    ``best`` is the evaluation whose weights the model holds after training."""

    best_index: Optional[int] = None  # position in the list of the kept evaluation
    stopped_early: bool = False

    @property
    def best(self) -> Optional[TextRecord]:  # type: ignore[override]
        return None if self.best_index is None else self[self.best_index]

    @property
    def epochs(self) -> list[TextRecord]:
        """The end-of-epoch evaluations only."""
        return [r for r in self if r.end_of_epoch]

    def __repr__(self) -> str:
        return (
            f"TextHistory({len(self)} evaluations, best_epoch={self.best_epoch}, best_val_nll={self.best_val_nll}"
            f"{', stopped early' if self.stopped_early else ''})"
        )


def _positive_or_none(value: Optional[int], name: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def train_text(
    model: CharRNN,
    train_text: str,
    val_text: Optional[str] = None,
    test_text: Optional[str] = None,
    *,
    epochs: Optional[int] = TEXT_DEFAULTS["epochs"],
    batch_size: int = DEFAULT_TEXT_BATCH,
    seq_len: int = DEFAULT_SEQ_LEN,
    lr: float = TEXT_DEFAULTS["lr"],
    clip: Optional[float] = TEXT_DEFAULTS["clip"],
    dropout: float = 0.0,
    seed: int = 0,
    max_steps: Optional[int] = None,
    lr_decay: float = 1.0,
    lr_decay_every: int = 1,
    lr_decay_start: int = 0,
    patience: Optional[int] = None,
    eval_every: Optional[int] = None,
    eval_batch_size: Optional[int] = None,
    callback: Optional[Callable[[TextRecord], None]] = None,
    log_every: Optional[int] = 100,
    progress: Optional[bool] = False,
    log: Optional[str | os.PathLike[str]] = None,
    checkpoint: Optional[str | os.PathLike[str]] = None,
    checkpoint_every: Optional[int] = None,
    resume: Optional[TextTrainingState] = None,
    checkpoint_info: Optional[dict[str, Any]] = None,
) -> TextHistory:
    """Train ``model`` in place on continuous text; returns its :class:`TextHistory`.

    ``train_text``, ``val_text`` and ``test_text`` are strings (see
    :func:`charrnn.text.split_text`); every character must be in ``model.vocab``
    (build it with :func:`charrnn.text.text_vocab`).  ``batch_size`` parallel streams
    are read ``seq_len`` characters at a time with the state carried between batches and
    reset at each epoch start (:class:`charrnn.text.TextBatches`).

    Training stops after ``epochs`` epochs or ``max_steps`` steps, whichever comes first,
    or when ``patience`` evaluations in a row did not improve the best validation NLL.
    The learning rate of epoch ``e`` is ``lr * lr_decay ** n`` (see
    :class:`charrnn.schedule.LRSchedule`); ``clip`` caps the global gradient norm;
    ``dropout`` drops the inputs of layers 1.. and of the output layer during training
    steps, with masks seeded by ``(seed, step)``.  Evaluations (at each epoch end, and
    every ``eval_every`` steps) measure the validation and test texts with
    ``eval_batch_size`` streams (default: ``batch_size``) and are passed to
    ``callback`` and written to ``log`` (JSON lines; ``progress`` shows a bar).  On
    return — and on Ctrl-C — the model holds the weights of the evaluation with the
    lowest validation NLL (without ``val_text``: the last weights), and
    ``model.mode`` is ``"text"``.

    ``checkpoint``/``checkpoint_every`` keep a resumable checkpoint (with
    ``checkpoint_info``, a JSON-serialisable dict, as its ``training`` metadata);
    ``resume`` (from :func:`charrnn.text_state.load_text_checkpoint`) continues a run —
    most simply through :func:`charrnn.resume_text`.
    """
    if epochs is None and max_steps is None:
        raise ValueError("give epochs, max_steps or both; with neither training would never stop")
    epochs = _positive_or_none(epochs, "epochs")
    max_steps = _positive_or_none(max_steps, "max_steps")
    eval_every = _positive_or_none(eval_every, "eval_every")
    checkpoint_every = _positive_or_none(checkpoint_every, "checkpoint_every")
    schedule = LRSchedule(lr, lr_decay, lr_decay_every, lr_decay_start)
    patience = check_patience(patience)
    if clip is not None and not (clip > 0 and math.isfinite(clip)):
        raise ValueError(f"clip must be a positive number or None, got {clip}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if model.conditional:
        raise ValueError("text mode does not take a conditional model (categories are for names)")
    if not isinstance(train_text, str):
        raise TypeError(f"train_text must be a string, got {type(train_text).__name__}")
    run_options = {
        k: v
        for k, v in locals().items()
        if k not in ("model", "train_text", "val_text", "test_text", "callback", "schedule", "resume", "checkpoint_info")
        and not k.startswith("_")
        and (v is None or isinstance(v, (bool, int, float, str, os.PathLike)))
    }
    run_options = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in run_options.items()}

    vocab = model.vocab
    batches = TextBatches(train_text, vocab, batch_size, seq_len)
    eval_bs = batch_size if eval_batch_size is None else eval_batch_size
    # Held-out texts are encoded up front: a bad character fails before any training.
    val_batches = TextBatches(val_text, vocab, eval_bs, seq_len, whole=True) if val_text else None
    test_batches = TextBatches(test_text, vocab, eval_bs, seq_len, whole=True) if test_text else None
    model.mode = "text"
    logger.info(
        "text mode: %s; %d steps per epoch; %s", batches, len(batches), schedule.describe()
    )

    optimizer = Adam(model.params_list(), lr=lr)
    names = list(model.params)
    history = TextHistory()
    best_params: Optional[dict[str, np.ndarray]] = None
    step = 0
    epoch = 0
    start = time.perf_counter()
    step_seconds, step_chars = 0.0, 0
    epoch_loss, epoch_chars = 0.0, 0
    start_batch, carried = 0, None  # where the first epoch of this call starts
    data_id = {"train": text_fingerprint(train_text), "val": text_fingerprint(val_text), "test": text_fingerprint(test_text)}
    if resume is not None:
        resume.check_compatible(model, run_options, {"train": train_text, "val": val_text, "test": test_text})
        best_params = restore_weights_and_optimizer(resume, model, optimizer)
        history.extend(TextRecord(**record) for record in resume.history)
        history.stopped_early = resume.stopped_early
        if resume.best_index is not None:
            kept = history[resume.best_index]
            history.best_index, history.best_epoch, history.best_val_nll = resume.best_index, kept.epoch, kept.val_nll
        step, epoch, start_batch, carried = resume.step, resume.epoch, resume.batch, resume.carried
        epoch_loss, epoch_chars = resume.epoch_loss, resume.epoch_chars
        start -= resume.seconds
        step_seconds, step_chars = resume.step_seconds, resume.step_chars
        logger.info("resuming at %s", resume.summary())
    # Early stopping is a function of the validation NLLs so far (a resumed run replays them).
    stopper = EarlyStopping.replay(patience, (record.val_nll for record in history))
    saved_at: Optional[int] = None  # the step of the last checkpoint this call wrote

    def more() -> bool:
        return (epochs is None or epoch < epochs) and (max_steps is None or step < max_steps)

    def diverged(at: int, what: str) -> TrainingDivergedError:
        kept = ""
        if checkpoint is not None:
            kept = (
                f"; the last checkpoint, {os.fspath(checkpoint)} (step {saved_at}), was left as it was"
                if saved_at is not None
                else ("; the checkpoint was left as it was" if os.path.exists(checkpoint) else "")
            )
        return TrainingDivergedError(
            f"training diverged at step {at} (epoch {epoch}): {what}; the weights were not updated with it{kept}; "
            f"try a smaller learning rate",
            step=at,
            epoch=epoch,
            checkpoint=None if checkpoint is None else os.fspath(checkpoint),
        )

    def save_state(done_batches: int, state: Any) -> None:
        """Write the resumable checkpoint: ``done_batches`` of the current epoch are done
        and ``state`` is what the next batch starts from (0 and None: the epoch is over)."""
        nonlocal saved_at
        if checkpoint is None:
            return
        ensure_finite()  # a checkpoint is only ever replaced by a good one
        mid_epoch = done_batches > 0
        text_state = TextTrainingState(
            step=step,
            epoch=epoch - 1 if mid_epoch else epoch,
            batch=done_batches,
            epoch_loss=epoch_loss if mid_epoch else 0.0,
            epoch_chars=epoch_chars if mid_epoch else 0,
            optimizer=optimizer.hyperparameters(),
            m=dict(zip(names, optimizer.m, strict=True)),
            v=dict(zip(names, optimizer.v, strict=True)),
            params=model.params,
            carried=state if mid_epoch else None,
            config=model.config,
            options=run_options,
            data=data_id,
            history=history.to_dicts(),
            best_index=history.best_index,
            best_params=best_params,
            stopped_early=history.stopped_early,
            finished=not more() or history.stopped_early,
            seconds=time.perf_counter() - start,
            step_seconds=step_seconds,
            step_chars=step_chars,
            extra=checkpoint_info,
        )
        save_text_checkpoint(checkpoint, model, text_state)
        saved_at = step

    def interrupted() -> TrainingInterrupted:
        return TrainingInterrupted(step, epoch, None if checkpoint is None else os.fspath(checkpoint), stop.signum or 2)

    def ensure_finite() -> None:
        if not weights_finite(model):
            raise diverged(step, "the weights overflowed to infinity")

    def evaluate(done: int, end: bool) -> TextRecord:
        nonlocal best_params
        ensure_finite()
        val = evaluate_text(model, val_batches)["nll"] if val_batches is not None else None
        test = evaluate_text(model, test_batches)["nll"] if test_batches is not None else None
        train_nll = epoch_loss / epoch_chars if epoch_chars else math.nan
        record = TextRecord(
            epoch=epoch,
            step=step,
            **split_metrics("train", train_nll),
            **split_metrics("val", val),
            chars_per_sec=step_chars / step_seconds if step_seconds > 0 else 0.0,
            seconds=time.perf_counter() - start,
            lr=optimizer.lr,
            progress=epoch - 1 + done / len(batches),
            end_of_epoch=end,
            **split_metrics("test", test),
        )
        history.append(record)
        if val is None:
            history.best_index, history.best_epoch, history.best_val_nll = len(history) - 1, epoch, None
        elif stopper.update(val):
            history.best_index, history.best_epoch, history.best_val_nll = len(history) - 1, epoch, val
            best_params = {name: p.copy() for name, p in model.params.items()}
        history.stopped_early = stopper.should_stop
        monitor.record(record)
        if callback is not None:
            callback(record)
        return record

    with deferred_interrupt() as stop, TrainingMonitor(
        progress, log, append=resume is not None, epochs=epochs, header={"config": model.config, "options": run_options}
    ) as monitor:
        try:
            while more() and not history.stopped_early:
                epoch += 1
                optimizer.lr = schedule.lr_at(epoch)  # a function of the epoch: the same when resumed
                # Each epoch starts from a zero state; a resumed one from the carried state.
                state, carried = carried, None
                if start_batch == 0:
                    epoch_loss, epoch_chars = 0.0, 0
                done, start_batch = start_batch, 0
                if (
                    eval_every and step % eval_every == 0 and 0 < done < len(batches)
                    and (not history or history[-1].step != step)
                ):  # stopped just before this evaluation: make it now
                    evaluate(done, end=False)
                    save_state(done, state)
                    if history.stopped_early:
                        break
                for batch in monitor.epoch(itertools.islice(iter(batches), done, None), epoch, done, len(batches)):
                    t0 = time.perf_counter()
                    mask_seed = (seed * 0x9E3779B97F4A7C15 + step) % 2**64
                    loss_sum, grads, state = text_pass(model, batch, state, dropout=dropout, seed=mask_seed)
                    n = batch.n_chars
                    assert grads is not None
                    if not math.isfinite(loss_sum):
                        raise diverged(step + 1, f"the loss is {loss_sum / n:.6g}")
                    try:
                        norm = optimizer.step(grads, grad_scale=1.0 / n, max_norm=clip)
                    except ValueError as e:  # a non-finite gradient norm: nothing was changed
                        raise diverged(step + 1, str(e)) from None
                    step_seconds += time.perf_counter() - t0
                    step_chars += n
                    step += 1
                    done += 1
                    epoch_loss += loss_sum
                    epoch_chars += n
                    monitor.step(loss_sum, n)
                    if log_every and step % log_every == 0:
                        logger.info("step %d: loss %.4f, grad norm %.3f", step, loss_sum / n, norm)
                    if max_steps is not None and step >= max_steps:
                        break
                    evaluated = False
                    if eval_every and step % eval_every == 0 and done < len(batches) and not stop.requested:
                        evaluate(done, end=False)
                        evaluated = True
                    if evaluated or stop.requested or (checkpoint_every and step % checkpoint_every == 0):
                        save_state(done, state)
                    if stop.requested:
                        raise interrupted()
                    if history.stopped_early:
                        break
                if history.stopped_early:
                    break
                whole = done == len(batches)
                evaluate(done, end=whole)
                # Cut short by max_steps (not whole): resuming with more steps finishes the epoch.
                save_state(0 if whole else done, None if whole else state)
                if stop.requested:
                    raise interrupted()
            if history.stopped_early:
                logger.info(
                    "stopping early: %d evaluations without a better validation NLL than %.4f",
                    stopper.stale,
                    stopper.best,
                )
        finally:
            if best_params is not None:
                restore_params(model, best_params)
    return history

