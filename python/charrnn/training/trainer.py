"""The training loop, one for both modes: it knows batches, not names or text.

:class:`Trainer` pulls batches from a :class:`~charrnn.sources.BatchSource` and owns
everything else.  One step: the batch's summed NLL and gradients
(``source.train_pass``, which runs :meth:`CharRNN.forward_backward`); both divided by the
batch's number of predicted characters (the loss is the mean NLL per character); the
gradients clipped to the global L2 norm ``clip`` and applied by Adam
(:mod:`charrnn.training.optim`, one fused Rust call).  The state the batch ended in
goes to the next batch only when the source carries state (text); every epoch starts
from zeros.

An *evaluation* happens at each epoch end and, with ``eval_every``, every that many
steps inside an epoch: the held-out NLLs (``source.evaluate``), recorded with the
epoch's running training NLL.  The weights of the evaluation with the lowest validation
NLL are kept and put back at the end (without validation data: the last weights); with
``out`` they are also written there, atomically, as soon as they are the best so far.
The learning rate of each epoch comes from :class:`~charrnn.training.schedule.LRSchedule`;
``patience`` evaluations in a row without a better validation NLL stop the run
(:class:`~charrnn.training.schedule.EarlyStopping`).

Reliability: with ``checkpoint`` (a path) the run is resumable
(:mod:`charrnn.training.state`): the checkpoint is rewritten atomically after every
evaluation, every ``checkpoint_every`` steps and when training is interrupted.  The
first Ctrl-C (SIGINT) or SIGTERM lets the current step finish, writes the checkpoint,
puts back the best weights and raises :class:`~charrnn.errors.TrainingInterrupted` (the
model at ``out`` stays the best so far); a NaN or infinite loss or gradient raises
:class:`~charrnn.errors.TrainingDivergedError` before it reaches the weights (the last
checkpoint and ``out`` are left as they were).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from .. import checkpoint as _ckpt
from ..errors import TrainingDivergedError, TrainingInterrupted
from ..interrupt import deferred_interrupt
from ..metrics import split_metrics
from ..model import CharRNN
from ..progress import TrainingMonitor
from ..records import EpochRecord, History
from .config import TrainConfig
from .optim import Adam, weights_finite
from .schedule import EarlyStopping
from .state import TrainingState, save_state

__all__ = ["Trainer", "BestModel"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
# What goes into the model file at `out` with the weights: (its "training" metadata,
# extra metadata entries), given the history so far.
BestModel = Callable[[History], tuple[Optional[dict[str, Any]], Optional[dict[str, str]]]]


def _path(path: Optional[PathLike]) -> Optional[str]:
    return None if path is None else os.fspath(path)


class Trainer:
    """Trains ``model`` in place on ``source`` with ``config`` (see the module's docs).

    ``callback`` gets each record as soon as it exists; ``progress``/``log`` are
    :class:`~charrnn.progress.TrainingMonitor`'s; ``checkpoint`` (with
    ``checkpoint_info`` as its ``training`` metadata) keeps the run resumable; ``out``
    receives the best model so far (``out_metadata`` says what else it holds);
    ``options`` are the run's arguments as stored in checkpoints and checked on resume;
    ``resume`` (a :class:`~charrnn.training.state.TrainingState`) carries on that run.
    """

    def __init__(
        self,
        model: CharRNN,
        source: Any,
        config: TrainConfig,
        *,
        callback: Optional[Callable[[EpochRecord], None]] = None,
        progress: Optional[bool] = False,
        log: Optional[PathLike] = None,
        checkpoint: Optional[PathLike] = None,
        checkpoint_info: Optional[dict[str, Any]] = None,
        out: Optional[PathLike] = None,
        out_metadata: Optional[BestModel] = None,
        options: Optional[dict[str, Any]] = None,
        resume: Optional[TrainingState] = None,
    ) -> None:
        self.model, self.source, self.config = model, source, config.check()
        self.callback, self.progress, self.log = callback, progress, log
        self.checkpoint, self.checkpoint_info = checkpoint, checkpoint_info
        self.out, self.out_metadata = out, out_metadata
        self.options = dict(options or {})
        self.resume = resume
        self.schedule = config.schedule
        self.optimizer = Adam(model.params_list(), lr=config.lr)
        self.names = list(model.param_shapes())
        self.history: History = source.history_type()
        self.best_params: Optional[dict[str, np.ndarray]] = None
        self.step = self.epoch = 0
        self.epoch_loss, self.epoch_chars = 0.0, 0
        self.step_seconds, self.step_chars = 0.0, 0
        self.start = time.perf_counter()
        self.saved_at: Optional[int] = None  # the step of the last checkpoint this run wrote

    # -- the loop ----------------------------------------------------------------------

    def more(self) -> bool:
        """Whether the budget (epochs, steps) and early stopping let training go on."""
        cfg = self.config
        return (
            (cfg.epochs is None or self.epoch < cfg.epochs)
            and (cfg.max_steps is None or self.step < cfg.max_steps)
            and not self.history.stopped_early
        )

    def run(self) -> History:
        cfg, source, history = self.config, self.source, self.history
        start_batch, carried = self._restore() if self.resume is not None else (0, None)
        # Early stopping is a function of the validation NLLs so far (a resumed run replays them).
        self.stopper = EarlyStopping.replay(cfg.patience, (record.val_nll for record in history))
        history.stopped_early = self.stopper.should_stop
        logger.info("%s; %s", source.describe(), self.schedule.describe())
        header = {"config": self.model.config, "options": self.options}
        with deferred_interrupt() as self.stop, TrainingMonitor(
            self.progress, self.log, append=self.resume is not None, epochs=cfg.epochs, header=header
        ) as self.monitor:
            try:
                while self.more():
                    self.epoch += 1
                    self.optimizer.lr = self.schedule.lr_at(self.epoch)  # a function of the epoch: the same when resumed
                    state, carried = carried, None  # every epoch starts from zeros; a resumed one where it was
                    if start_batch == 0:
                        self.epoch_loss, self.epoch_chars = 0.0, 0
                    self.order = source.position()  # what reproduces this epoch's batches
                    done, start_batch = self._epoch(start_batch, state)
                    if history.stopped_early:
                        break
                    whole = done == len(source)
                    # Cut short by max_steps (not whole): resuming with more steps finishes the epoch.
                    self._evaluate(done, state=None if whole else self.state, end=whole)
                    if self.stop.requested:
                        raise self._interrupted()
                if history.stopped_early:
                    logger.info(
                        "stopping early: %d evaluations without a better validation NLL than %.4f",
                        self.stopper.stale,
                        self.stopper.best,
                    )
            finally:
                if self.best_params is not None:  # also on Ctrl-C: the best *recorded* weights
                    logger.info("keeping the weights of epoch %d (val nll %.4f)", history.best_epoch, history.best_val_nll)
                    for name, value in self.best_params.items():
                        np.copyto(self.model.params[name], value)
        return history

    def _epoch(self, done: int, state: Any) -> tuple[int, int]:
        """Run the current epoch from batch ``done``; returns ``(batches done, 0)``."""
        cfg, source = self.config, self.source
        self.state = state
        if (
            cfg.eval_every and self.step % cfg.eval_every == 0 and 0 < done < len(source)
            and (not self.history or self.history[-1].step != self.step)
        ):  # stopped just before this evaluation: make it now
            self._evaluate(done, state=self.state, end=False)
            if self.history.stopped_early:
                return done, 0
        for batch in self.monitor.epoch(source.batches(done), self.epoch, done, len(source)):
            self._step(batch)
            done += 1
            if cfg.max_steps is not None and self.step >= cfg.max_steps:
                break
            due = cfg.eval_every and self.step % cfg.eval_every == 0 and done < len(source) and not self.stop.requested
            if due:
                self._evaluate(done, state=self.state, end=False)
            elif self.stop.requested or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                self._save(done, self.state)
            if self.stop.requested:
                raise self._interrupted()
            if self.history.stopped_early:
                break
        return done, 0

    def _step(self, batch: Any) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        # Each step's dropout masks get their own seed, derived from (seed, step).
        mask_seed = (cfg.seed * 0x9E3779B97F4A7C15 + self.step) % 2**64
        try:
            loss_sum, grads, final = self.source.train_pass(self.model, batch, self.state, cfg.dropout, mask_seed)
        except ValueError:
            self._ensure_finite()  # the kernels refuse non-finite weights: say why they are
            raise
        # The one difference between the modes, decided by the source: carry the state or drop it.
        self.state = final if self.source.carries_state else None
        n = batch.n_chars
        if not math.isfinite(loss_sum):
            raise self._diverged(self.step + 1, f"the loss is {loss_sum / n:.6g}; the weights were not updated with it")
        try:
            # Gradients of the mean NLL per character, clipped, Adam: one fused pass.
            norm = self.optimizer.step(grads, grad_scale=1.0 / n, max_norm=cfg.max_norm)
        except ValueError as e:  # a non-finite gradient norm: nothing was changed
            raise self._diverged(self.step + 1, f"{e}; the weights were not updated with it") from None
        self.step_seconds += time.perf_counter() - t0
        self.step_chars += n
        self.step += 1
        self.epoch_loss += loss_sum
        self.epoch_chars += n
        self.monitor.step(loss_sum, n)
        if cfg.log_every and self.step % cfg.log_every == 0:
            logger.info("step %d: loss %.4f, grad norm %.3f", self.step, loss_sum / n, norm)

    # -- evaluations, the best model -------------------------------------------------------

    def _evaluate(self, done: int, state: Any, end: bool) -> None:
        """Evaluate, keep the best weights, save the checkpoint (``done`` batches of the
        epoch are done; ``state`` is what the next batch starts from), then report."""
        self._ensure_finite()
        history, source = self.history, self.source
        evaluation = source.evaluate(self.model)
        val = evaluation.get("val")
        fields = dict(
            epoch=self.epoch,
            step=self.step,
            **split_metrics("train", self.epoch_loss / self.epoch_chars if self.epoch_chars else math.nan),
            **split_metrics("val", val),
            chars_per_sec=self.step_chars / self.step_seconds if self.step_seconds > 0 else 0.0,
            seconds=time.perf_counter() - self.start,
            lr=self.optimizer.lr,
        )
        record = source.record(fields, evaluation, self.epoch - 1 + done / len(source), end)
        history.append(record)
        if val is None or history.best_val_nll is None or val < history.best_val_nll:
            history.best_index, history.best_epoch, history.best_val_nll = len(history) - 1, self.epoch, val
            if val is not None:
                self.best_params = {name: p.copy() for name, p in self.model.params.items()}
            self._write_best()
        if val is not None:
            self.stopper.update(val)
            history.stopped_early = self.stopper.should_stop
        self._save(0 if end else done, state, partial=not end)
        self.monitor.record(record)
        if self.callback is not None:
            self.callback(record)

    def _write_best(self) -> None:
        """The model as it is now — the best so far — to ``out``, atomically."""
        if self.out is None:
            return
        extra, metadata = self.out_metadata(self.history) if self.out_metadata is not None else (None, None)
        _ckpt.save(self.model, self.out, extra=extra, extra_metadata=metadata)

    # -- checkpoints, failures -----------------------------------------------------------------

    def _save(self, done: int, state: Any, partial: bool = False) -> None:
        """Write the resumable checkpoint: ``done`` batches of the current epoch are done
        and ``state`` is what the next batch starts from (0 and None: the epoch is over)."""
        if self.checkpoint is None:
            return
        self._ensure_finite()  # a checkpoint is only ever replaced by a good one
        mid = done > 0
        history, opt = self.history, self.optimizer
        st = TrainingState(
            mode=self.source.mode,
            step=self.step,
            epoch=self.epoch - 1 if mid else self.epoch,
            batch=done,
            epoch_loss=self.epoch_loss if mid else 0.0,
            epoch_chars=self.epoch_chars if mid else 0,
            optimizer=opt.hyperparameters(),
            m=dict(zip(self.names, opt.m, strict=True)),
            v=dict(zip(self.names, opt.v, strict=True)),
            params=self.model.params,
            config=self.model.config,
            options=self.options,
            data=self.source.identity(),
            history=history.to_dicts(),
            best_index=history.best_index,
            best_epoch=history.best_epoch,
            best_val_nll=history.best_val_nll,
            best_params=self.best_params,
            order_state=self.order if mid else self.source.position(),
            carried=state if mid else None,
            partial_recorded=partial and mid and self.source.one_record_per_epoch,
            stopped_early=history.stopped_early,
            finished=not self.more(),
            seconds=time.perf_counter() - self.start,
            step_seconds=self.step_seconds,
            step_chars=self.step_chars,
            extra=self.checkpoint_info,
        )
        save_state(self.checkpoint, self.model, st)
        self.saved_at = self.step

    def _restore(self) -> tuple[int, Any]:
        """Put the resumed run's weights, optimizer, records and position back; returns
        ``(batches done of the epoch in progress, the state its next batch starts from)``."""
        r, history = self.resume, self.history
        assert r is not None
        r.check_compatible(self.model, self.options, self.source.identity())
        self.best_params = r.restore(self.model, self.optimizer)
        self.source.set_position(r.order_state)
        history.extend(self.source.record_type(**record) for record in r.history)
        history.best_index, history.best_epoch, history.best_val_nll = r.best_index, r.best_epoch, r.best_val_nll
        self.step, self.epoch = r.step, r.epoch
        self.epoch_loss, self.epoch_chars = r.epoch_loss, r.epoch_chars
        self.start -= r.seconds
        self.step_seconds, self.step_chars = r.step_seconds, r.step_chars
        if r.partial_recorded and history and self.more():
            history.pop()  # that epoch was cut short by max_steps; it now runs to its end
        logger.info("resuming at %s", r.summary())
        return r.batch, r.carried

    def _ensure_finite(self) -> None:
        """Checked before weights are evaluated or saved (not per step: it costs a pass)."""
        if not weights_finite(self.model.params_list()):
            raise self._diverged(self.step, "the weights overflowed to infinity")

    def _diverged(self, at: int, what: str) -> TrainingDivergedError:
        checkpoint = self.checkpoint
        if checkpoint is None:
            kept = "no checkpoint is kept (pass checkpoint=PATH to keep one)"
        elif self.saved_at is not None:
            kept = f"the last checkpoint, {os.fspath(checkpoint)} (step {self.saved_at}), was left as it was"
        elif os.path.exists(checkpoint):
            kept = f"the checkpoint {os.fspath(checkpoint)} was left as it was"
        else:
            kept = "no checkpoint had been written yet"
        return TrainingDivergedError(
            f"training diverged at step {at} (epoch {self.epoch}): {what}; {kept}; try a smaller learning rate",
            step=at,
            epoch=self.epoch,
            checkpoint=_path(checkpoint),
        )

    def _interrupted(self) -> TrainingInterrupted:
        return TrainingInterrupted(self.step, self.epoch, _path(self.checkpoint), self.stop.signum or signal.SIGINT)

