"""Training: Adam on mean per-character NLL, with clipping, validation and best-weights keeping.

One step: a batch's summed loss and gradients come from ``_core.forward_backward``; both
are divided by the batch's number of real positions (so the loss is the mean NLL per
character); the gradients are clipped to a global L2 norm of ``clip``; Adam updates the
float32 weights in place.

After every epoch the trainer records the epoch's training NLL per character — the
running average over the epoch's batches, computed with the weights as they were at each
step (no extra pass) — and the validation NLL per character over the whole validation
set, with the weights at the end of the epoch.  The weights with the lowest validation NLL
are kept and put back into the model at the end (without validation: the last weights).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from . import _core
from .data import NameBatches, describe_unseen, unseen_characters
from .errors import TrainingDivergedError, TrainingInterrupted
from .interrupt import deferred_interrupt
from .metrics import split_metrics
from .labelled import Labelled
from .model import CharRNN
from .progress import TrainingMonitor
from .schedule import EarlyStopping, LRSchedule, check_patience
from .training_state import TrainingState, capture_options, fingerprint, restore_into, save_training_checkpoint

__all__ = ["train", "History", "EpochRecord", "Adam", "clip_grad_norm"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochRecord:
    """What happened in one epoch.  NLLs are in nats per character; ``val_*`` are None
    without validation data; ``seconds`` is the time since training started."""

    epoch: int
    step: int  # optimizer steps taken so far
    train_nll: float
    val_nll: Optional[float]
    train_ppl: float
    val_ppl: Optional[float]
    train_bpc: float
    val_bpc: Optional[float]
    chars_per_sec: float  # real characters per second of training steps (no validation)
    seconds: float
    lr: Optional[float] = None  # the learning rate of the epoch (see charrnn.schedule)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class History(list):
    """The per-epoch :class:`EpochRecord` list, plus which epoch's weights were kept."""

    best_epoch: Optional[int] = None
    best_val_nll: Optional[float] = None
    stopped_early: bool = False  # True when `patience` evaluations brought no better val NLL

    @property
    def best(self) -> Optional[EpochRecord]:
        """The record of the epoch whose weights the model holds after training."""
        for record in self:
            if record.epoch == self.best_epoch:
                return record
        return None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, best_epoch={self.best_epoch}, best_val_nll={self.best_val_nll})"


class Adam:
    """Adam (Kingma & Ba) updating a list of float32 arrays in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [np.zeros_like(p) for p in self.params]  # running mean of gradients
        self.v = [np.zeros_like(p) for p in self.params]  # running mean of squared gradients
        self.t = 0

    def step(self, grads: Sequence[np.ndarray], grad_scale: float = 1.0, max_norm: Optional[float] = None) -> float:
        """``g = grad_scale * grads``, clipped to the global L2 norm ``max_norm`` (when
        given); ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, then
        ``p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)`` — one fused pass per
        array in Rust (``_core.adam_step``). Returns the norm of the scaled gradient before
        clipping. A non-finite norm raises ``ValueError`` and changes nothing (``t`` included)."""
        norm = _core.adam_step(
            self.params,
            list(grads),
            self.m,
            self.v,
            self.lr,
            self.t + 1,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            grad_scale=grad_scale,
            max_norm=max_norm,
        )
        self.t += 1
        return norm

    def hyperparameters(self) -> dict[str, Any]:
        """``{"t", "lr", "beta1", "beta2", "eps"}``: what a checkpoint stores besides the moments."""
        return {"t": self.t, "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def load(self, hyper: dict[str, Any], m: Sequence[np.ndarray], v: Sequence[np.ndarray]) -> None:
        """Put back a stored state: :meth:`hyperparameters` and the moments, in parameter order."""
        self.t = int(hyper["t"])
        self.lr = float(hyper["lr"])
        self.beta1 = float(hyper.get("beta1", self.beta1))
        self.beta2 = float(hyper.get("beta2", self.beta2))
        self.eps = float(hyper.get("eps", self.eps))
        for mine, stored in zip(self.m, m, strict=True):
            np.copyto(mine, stored)
        for mine, stored in zip(self.v, v, strict=True):
            np.copyto(mine, stored)


def weights_finite(model: CharRNN) -> bool:
    """Whether no weight has overflowed to inf or NaN."""
    return all(np.isfinite(p).all() for p in model.params.values())


def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: Optional[float]) -> float:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; returns
    the norm before clipping (``max_norm`` None: no clipping)."""
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported as an inf norm
        norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    if max_norm is not None and norm > max_norm and math.isfinite(norm):  # inf/NaN: the trainer stops
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm


def train(
    model: CharRNN,
    train_items: Sequence[str],
    val_items: Optional[Sequence[str]] = None,
    epochs: Optional[int] = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    clip: Optional[float] = 5.0,
    seed: int = 0,
    max_steps: Optional[int] = None,
    callback: Optional[Callable[[EpochRecord], None]] = None,
    log_every: Optional[int] = 100,
    dropout: float = 0.0,
    checkpoint: Optional[str | os.PathLike[str]] = None,
    checkpoint_every: Optional[int] = None,
    resume: Optional[TrainingState] = None,
    checkpoint_info: Optional[dict[str, Any]] = None,
    progress: Optional[bool] = False,
    log: Optional[str | os.PathLike[str]] = None,
    lr_decay: float = 1.0,
    lr_decay_every: int = 1,
    lr_decay_start: int = 0,
    patience: Optional[int] = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Training stops after ``epochs`` epochs or ``max_steps`` optimizer steps, whichever
    comes first (``epochs=None``: only the step budget counts; an epoch cut short by the
    budget still gets its record).  ``seed`` fixes the order of the data and the dropout
    masks; ``clip`` is the maximum global gradient norm (None: no clipping); ``dropout``
    drops the inputs of layers 1.. and of the output layer during training steps.
    ``callback`` gets each epoch's record as soon as it exists; every ``log_every``
    steps a progress line goes to this module's logger (None: never).  On return — or on
    KeyboardInterrupt — the model holds the weights of the epoch with the best validation
    NLL (without ``val_items``: the last weights).

    Reliability (see :mod:`charrnn.training_state`): with ``checkpoint`` (a path), a
    resumable training checkpoint is written there atomically at the end of every epoch,
    every ``checkpoint_every`` steps, at the end and when training is interrupted, with
    ``checkpoint_info`` (a JSON-serialisable dict) as its ``training`` metadata;
    ``resume`` (the state of :func:`~charrnn.training_state.load_training_checkpoint`,
    with the model it returned) carries on that run exactly — easiest through
    :func:`charrnn.resume`.  The first Ctrl-C (SIGINT) or SIGTERM lets the current step
    finish, writes the checkpoint and raises :class:`~charrnn.errors.TrainingInterrupted`
    (a KeyboardInterrupt); a loss or gradient that is NaN or infinite raises
    :class:`~charrnn.errors.TrainingDivergedError` before it touches the weights.

    Seeing it (see :mod:`charrnn.progress`): ``progress`` shows a bar with the running
    loss and characters per second during each epoch (None: only when stderr is a
    terminal); ``log`` (a path) gets one JSON line per evaluation.  A conditional model
    (``CharRNN(categories=...)``) trains on :class:`charrnn.Labelled` items; their counts
    per category become ``model.category_counts``, the prior of :func:`charrnn.classify`.

    Schedule (see :mod:`charrnn.schedule`): the learning rate of epoch ``e`` is
    ``lr * lr_decay ** n``, ``n`` the number of epochs ``k < e`` with
    ``k >= lr_decay_start`` and ``k % lr_decay_every == 0`` (char-rnn: ``lr_decay=0.97,
    lr_decay_start=10``); with ``patience`` training stops once that many epochs in a row
    brought no lower validation NLL (``history.stopped_early``), keeping the best weights.
    """
    run_options = capture_options(locals())
    if epochs is None and max_steps is None:
        raise ValueError("give epochs, max_steps or both; with neither training would never stop")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be positive or None, got {clip}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    schedule = LRSchedule(lr, lr_decay, lr_decay_every, lr_decay_start)
    patience = check_patience(patience)
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be at least 1 step or None, got {checkpoint_every}")
    if len(train_items) == 0:
        raise ValueError("no training items")
    if val_items is not None and len(val_items) == 0:
        logger.warning("empty validation list: training without validation")
        val_items = None

    batches = NameBatches(train_items, model.vocab, batch_size=batch_size, shuffle=True, seed=seed)
    note_category_counts(model, train_items)
    if val_items is not None:
        NameBatches(val_items, model.vocab, batch_size=batch_size, shuffle=False)  # fail early on bad chars
        unseen = unseen_characters(train_items, val_items)
        if unseen:
            logger.warning(
                "%d validation character(s) never occur in the training items, so they stay untrained: %s",
                len(unseen),
                describe_unseen(unseen),
            )
    if batch_size > len(train_items):
        logger.warning(
            "batch_size %d is larger than the %d training items: every step sees all of them",
            batch_size,
            len(train_items),
        )
    names = list(model.param_shapes())
    optimizer = Adam(model.params_list(), lr=lr)
    history = History()
    best_params: Optional[dict[str, np.ndarray]] = None
    step = 0
    start = time.perf_counter()
    step_seconds = 0.0  # wall time spent in training steps
    step_chars = 0  # real characters processed by training steps
    epoch, start_batch, resumed_loss, resumed_chars = 0, 0, 0.0, 0

    def more() -> bool:
        return (
            (epochs is None or epoch < epochs)
            and (max_steps is None or step < max_steps)
            and not history.stopped_early
        )

    data_id = {"train": fingerprint(train_items), "val": fingerprint(val_items)}
    if resume is not None:
        resume.check_compatible(model, run_options, train_items, val_items)
        best_params = restore_into(resume, model, optimizer, batches)
        history.extend(EpochRecord(**record) for record in resume.history)
        history.best_epoch, history.best_val_nll = resume.best_epoch, resume.best_val_nll
        step, epoch, start_batch = resume.step, resume.epoch, resume.batch
        resumed_loss, resumed_chars = resume.epoch_loss, resume.epoch_chars
        start -= resume.seconds
        step_seconds, step_chars = resume.step_seconds, resume.step_chars
        if resume.partial_recorded and history and more():
            history.pop()  # that epoch was cut short by max_steps; it now runs to its end
        logger.info("resuming at %s", resume.summary())
    # Early stopping is a function of the validation NLLs so far (a resumed run replays them).
    stopper = EarlyStopping.replay(patience, (record.val_nll for record in history))
    history.stopped_early = stopper.should_stop

    saved_at: Optional[int] = None  # the step of the last checkpoint this call wrote

    def diverged(at: int, what: str) -> TrainingDivergedError:
        if checkpoint is None:
            kept = "no checkpoint is kept (pass checkpoint=PATH to keep one)"
        elif saved_at is not None:
            kept = f"the last checkpoint, {checkpoint} (step {saved_at}), was left as it was"
        elif os.path.exists(checkpoint):
            kept = f"the checkpoint {checkpoint} was left as it was"
        else:
            kept = "no checkpoint had been written yet"
        return TrainingDivergedError(
            f"training diverged at step {at} (epoch {epoch}): {what}; {kept}; try a smaller learning rate",
            step=at,
            epoch=epoch,
            checkpoint=_path(checkpoint),
        )

    def ensure_finite() -> None:
        """Checked before weights are validated or saved (not per step: it costs a pass)."""
        if not weights_finite(model):
            raise diverged(step, "the weights overflowed to infinity")

    def save_state(done_epochs: int, done_batches: int, order: dict, loss: float, chars: int, **flags: bool) -> None:
        nonlocal saved_at
        if checkpoint is None:
            return
        ensure_finite()  # a checkpoint is only ever replaced by a good one
        state = TrainingState(
            step=step,
            epoch=done_epochs,
            batch=done_batches,
            order_state=order,
            epoch_loss=loss,
            epoch_chars=chars,
            optimizer=optimizer.hyperparameters(),
            m=dict(zip(names, optimizer.m, strict=True)),
            v=dict(zip(names, optimizer.v, strict=True)),
            params=model.params,
            config=model.config,
            options=run_options,
            data=data_id,
            history=history.to_dicts(),
            best_epoch=history.best_epoch,
            best_val_nll=history.best_val_nll,
            best_params=best_params,
            seconds=time.perf_counter() - start,
            step_seconds=step_seconds,
            step_chars=step_chars,
            extra=checkpoint_info,
            **flags,
        )
        save_training_checkpoint(checkpoint, model, state)
        saved_at = step

    stack = ExitStack()
    stop = stack.enter_context(deferred_interrupt())
    monitor = stack.enter_context(
        TrainingMonitor(progress, log, append=resume is not None, epochs=epochs, header={"config": model.config, "options": run_options})
    )
    try:
        while more():
            epoch += 1
            optimizer.lr = schedule.lr_at(epoch)  # a function of the epoch: the same when resumed
            epoch_loss, epoch_chars = resumed_loss, resumed_chars
            resumed_loss, resumed_chars = 0.0, 0
            order = batches.get_state()  # this epoch's data order comes from this state
            done = start_batch
            for batch in monitor.epoch(itertools.islice(batches, start_batch, None), epoch, start_batch, len(batches)):
                t0 = time.perf_counter()
                # Each step's dropout masks get their own seed, derived from (seed, step).
                mask_seed = (seed * 0x9E3779B97F4A7C15 + step) % 2**64
                try:
                    loss_sum, grads = model.loss_and_grads(batch, dropout=dropout, seed=mask_seed)
                except ValueError:
                    ensure_finite()  # the kernels refuse non-finite weights: say why they are
                    raise
                n = batch.n_chars
                if not math.isfinite(loss_sum):
                    raise diverged(step + 1, f"the loss is {loss_sum / n:.6g}; the weights were not updated with it")
                try:
                    # Gradients of the mean NLL per character, clipped, Adam: one fused pass.
                    norm = optimizer.step([grads[name] for name in names], grad_scale=1.0 / n, max_norm=clip)
                except ValueError as e:  # a non-finite gradient norm: nothing was changed
                    raise diverged(step + 1, f"{e}; the weights were not updated with it") from None
                step_seconds += time.perf_counter() - t0
                step_chars += n
                step += 1
                done += 1
                epoch_loss += loss_sum
                epoch_chars += n
                monitor.step(loss_sum, n)
                if log_every and step % log_every == 0:
                    logger.info("step %d: loss %.4f, grad norm %.3f", step, loss_sum / n, norm)
                if stop.requested or (checkpoint_every and step % checkpoint_every == 0):
                    save_state(epoch - 1, done, order, epoch_loss, epoch_chars)
                if stop.requested:
                    raise TrainingInterrupted(step, epoch, _path(checkpoint), stop.signum)
                if max_steps is not None and step >= max_steps:
                    break
            start_batch = 0

            ensure_finite()
            train_nll = epoch_loss / epoch_chars
            val_nll = model.evaluate(val_items, batch_size=max(batch_size, 256))["nll"] if val_items else None
            record = EpochRecord(
                epoch=epoch,
                step=step,
                **split_metrics("train", train_nll),
                **split_metrics("val", val_nll),
                chars_per_sec=step_chars / step_seconds if step_seconds > 0 else 0.0,
                seconds=time.perf_counter() - start,
                lr=optimizer.lr,
            )
            history.append(record)
            if val_nll is None or history.best_val_nll is None or val_nll < history.best_val_nll:
                history.best_epoch = epoch
                history.best_val_nll = val_nll
                if val_nll is not None:
                    best_params = {name: p.copy() for name, p in model.params.items()}
            if val_nll is not None:
                stopper.update(val_nll)
                history.stopped_early = stopper.should_stop  # then more() is False
            if done < len(batches):  # cut short by max_steps: resuming with more steps finishes it
                save_state(epoch - 1, done, order, epoch_loss, epoch_chars, partial_recorded=True, finished=not more())
            else:
                save_state(epoch, 0, batches.get_state(), 0.0, 0, finished=not more())
            monitor.record(record)
            if callback is not None:
                callback(record)
            if stop.requested:  # asked during validation: the checkpoint above is the place
                raise TrainingInterrupted(step, epoch, _path(checkpoint), stop.signum)
    finally:
        stack.close()
        # Also on KeyboardInterrupt: the model then holds the best *recorded* weights.
        if best_params is not None:
            logger.info(
                "keeping the weights of epoch %d (val nll %.4f)", history.best_epoch, history.best_val_nll
            )
            restore_params(model, best_params)
    return history


def note_category_counts(model: CharRNN, train_items: Sequence[str]) -> None:
    """A conditional model learns its prior from the training items' categories."""
    if model.conditional and isinstance(train_items, Labelled):
        model.category_counts = train_items.counts()


def _path(path: Optional[str | os.PathLike[str]]) -> Optional[str]:
    return None if path is None else os.fspath(path)


def restore_params(model: CharRNN, saved: dict[str, np.ndarray]) -> None:
    """Copy ``saved`` back into the model's own arrays (keeps their identity)."""
    for name, value in saved.items():
        np.copyto(model.params[name], value)
