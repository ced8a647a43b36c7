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

Regularisers of the optimizer (both off by default): ``weight_decay`` makes Adam AdamW
on the weight matrices (:func:`~charrnn.training.optim.weight_decay_mask` says which
and why); ``ema`` keeps an exponential moving average of the weights
(:class:`~charrnn.training.optim.WeightAverage`), updated after every step.  With it
every evaluation — the validation NLL, early stopping, the best weights, the model at
``out`` and the weights the model holds at the end — is of the average, while training
goes on from the raw weights; the checkpoint holds both.

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

import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from .. import checkpoint as _ckpt
from ..budget import WARMUP, BudgetPlan, plan_budget, time_to_plan
from ..errors import ResumeError, TrainingDivergedError, TrainingInterrupted
from ..interrupt import deferred_interrupt
from ..metrics import split_metrics
from ..model import CharRNN
from ..progress import TrainingMonitor
from ..records import EpochRecord, History
from .config import REGULARISERS, TrainConfig
from .optim import Adam, WeightAverage, weight_decay_mask, weights_finite
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

    With ``config.time_budget`` (seconds) the run is planned (:mod:`charrnn.budget`): it
    times its warm-up steps and one evaluation, makes a :class:`~charrnn.budget.BudgetPlan`
    (or follows ``plan``, when given, from the first step, to its end), sets the learning rate of every
    step from it, evaluates on its schedule and stops at its last step — or earlier, at the
    deadline guard.  The budget replaces ``epochs`` and ``max_steps``.  ``clock`` (default
    :func:`time.perf_counter`) is what time is measured with.
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
        plan: Optional[BudgetPlan] = None,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        self.model, self.source, self.config = model, source, config.check()
        self.callback, self.progress, self.log = callback, progress, log
        self.checkpoint, self.checkpoint_info = checkpoint, checkpoint_info
        self.out, self.out_metadata = out, out_metadata
        self.options = dict(options or {})
        self.resume = resume
        self.schedule = config.schedule
        self.names = list(model.param_shapes())
        self.optimizer = Adam(
            model.params_list(),
            lr=config.lr,
            weight_decay=config.weight_decay,
            decay_mask=weight_decay_mask(self.names),
        )
        # The moving average of the weights that evaluations and the saved models use.
        self.ema = WeightAverage(model.params_list(), config.ema) if config.ema else None
        self.history: History = source.history_type()
        self.best_params: Optional[dict[str, np.ndarray]] = None
        self.step = self.epoch = 0
        self.epoch_loss, self.epoch_chars = 0.0, 0
        self.step_seconds, self.step_chars = 0.0, 0
        self.clock = clock or time.perf_counter
        self.start = self.clock()
        # A time budget: the plan (given, resumed, or made once the warm-up is timed).
        self.budget = config.time_budget
        if plan is not None and self.budget is None:
            raise ValueError("a plan is followed by a time-budgeted run: give time_budget too")
        # A plan given is final (never revised): the same steps on any machine.
        self.plan = None if plan is None else dataclasses.replace(plan, revised=True)
        self.guard = plan is None  # a plan given is followed to its end: the same steps anywhere
        self.out_of_time = False  # the deadline guard stopped the run
        self._step_times: list[float] = []  # this run's step durations, until the plan is made
        self.saved_at: Optional[int] = None  # the step of the last checkpoint this run wrote

    # -- the loop ----------------------------------------------------------------------

    def more(self) -> bool:
        """Whether the budget (epochs, steps; or the time budget's plan) and early stopping
        let training go on."""
        cfg = self.config
        if self.budget is not None:  # the time budget replaces epochs and max_steps
            planned = self.plan is None or self.step < self.plan.total_steps
            return planned and not self.out_of_time and not self.history.stopped_early
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
        if self.resume is not None and self.more():  # resumed for more epochs or steps: the last is to come
            history[:] = [dataclasses.replace(record, last=False) if record.last else record for record in history]
        logger.info("%s; %s", source.describe(), self.plan.describe() if self.plan else self.schedule.describe())
        header = {"config": self.model.config, "options": self.options}
        with (
            deferred_interrupt() as self.stop,
            TrainingMonitor(
                self.progress,
                self.log,
                append=self.resume is not None,
                epochs=None if self.budget else cfg.epochs,
                header=header,
                time_left=self.time_left if self.budget else None,
            ) as self.monitor,
        ):
            try:
                if self._stopped_before_the_last_evaluation():
                    self._make_the_last_evaluation(start_batch, carried)
                while self.more():
                    self.epoch += 1
                    self.optimizer.lr = self.schedule.lr_at(
                        self.epoch
                    )  # a function of the epoch: the same when resumed
                    state, carried = carried, None  # every epoch starts from zeros; a resumed one where it was
                    if start_batch == 0:
                        self.epoch_loss, self.epoch_chars = 0.0, 0
                    self.order = source.position()  # what reproduces this epoch's batches
                    done, start_batch = self._epoch(start_batch, state)
                    if history.stopped_early:
                        break
                    whole = done == len(source)
                    if self.budget is not None:  # evaluations come from the plan, not the epochs
                        if whole:  # (an epoch cut by the plan's end was evaluated in it)
                            self._budget_check(done, True)
                        if self.stop.requested:
                            raise self._interrupted()
                        continue
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
                    logger.info(
                        "keeping the weights of epoch %d (val nll %.4f)", history.best_epoch, history.best_val_nll
                    )
                    for name, value in self.best_params.items():
                        np.copyto(self.model.params[name], value)
                elif self.ema is not None:  # without validation: the last weights, averaged
                    for p, value in zip(self.model.params_list(), self.ema.average, strict=True):
                        np.copyto(p, value)
        return history

    def _epoch(self, done: int, state: Any) -> tuple[int, int]:
        """Run the current epoch from batch ``done``; returns ``(batches done, 0)``."""
        cfg, source = self.config, self.source
        self.state = state
        if (
            self._due() and 0 < done < len(source) and (not self.history or self.history[-1].step != self.step)
        ):  # stopped just before this evaluation: make it now
            self._evaluate(done, state=self.state, end=False)
            if self.history.stopped_early:
                return done, 0
        for batch in self.monitor.epoch(source.batches(done), self.epoch, done, len(source)):
            self._step(batch)
            done += 1
            if self.budget is not None:
                if done == len(source):  # the epoch's last batch: run() checks
                    if self.stop.requested:  # saved as a step inside it, so that its loss is kept
                        self._save(done, self.state)
                        raise self._interrupted()
                    break
                self._budget_check(done, False)
                if self.stop.requested:
                    raise self._interrupted()
                if not self.more():
                    break
                continue
            if cfg.max_steps is not None and self.step >= cfg.max_steps:
                break
            due = self._due() and done < len(source) and not self.stop.requested
            if due:
                self._evaluate(done, state=self.state, end=False)
            elif self.stop.requested or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                self._save(done, self.state)
            if self.stop.requested:
                raise self._interrupted()
            if self.history.stopped_early:
                break
        return done, 0

    def _stopped_before_the_last_evaluation(self) -> bool:
        """A budgeted run stopped (Ctrl-C) at its plan's last step saves that step without the
        evaluation due after it: resumed, nothing is left to train, but that evaluation is."""
        history = self.history
        return (
            self.resume is not None
            and self.budget is not None
            and self.plan is not None
            and self.step > 0
            and not self.more()
            and not history.stopped_early
            and self._due()
            and (not history or history[-1].step != self.step)
        )

    def _make_the_last_evaluation(self, done: int, state: Any) -> None:
        """The evaluation after the resumed run's last step, as the run would have made it."""
        source = self.source
        if done == 0:  # saved as the end of its epoch (a checkpoint written before steps were kept so)
            self._evaluate(len(source), state=None, end=True)
            return
        self.epoch += 1  # (the checkpoint counts the epoch in progress as not yet begun)
        self.order = source.position()
        if done < len(source):
            self._evaluate(done, state=state, end=False)
            return
        for _ in source.batches(done):  # the epoch's last step: draw its order as the loop did, then end it
            pass
        self._evaluate(done, state=None, end=True)

    def _due(self) -> bool:
        """Whether an evaluation is due after the step just taken (``eval_every``, or the plan)."""
        if self.budget is not None:
            return self.plan is not None and self.plan.evaluates_after(self.step)
        eval_every = self.config.eval_every
        return bool(eval_every) and self.step % eval_every == 0

    # -- the time budget -------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds of this run so far (a resumed run counts the time before it)."""
        return self.clock() - self.start

    def time_left(self) -> float:
        return max(0.0, (self.budget or 0.0) - self.elapsed())

    def _budget_check(self, done: int, end: bool) -> None:
        """After a step of a time-budgeted run (``done`` batches of the epoch done; ``end``:
        the epoch is over): calibrate and plan, evaluate when the plan says so, stop at the
        plan's last step or at the deadline guard; otherwise keep the checkpoint as usual."""
        state = None if end else self.state
        at = 0 if end else done
        if self.plan is None:
            if not time_to_plan(self.step, self.elapsed(), self.budget) or self.stop.requested:
                if self.stop.requested or (
                    self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0
                ):
                    self._save(at, state)
                return
            self._make_plan(done, state, end)
            return
        if self.guard and not self._due() and not self.stop.requested and self.plan.over_deadline(self.elapsed()):
            self.out_of_time = True  # the machine got slower than planned: end on time
            logger.info("stopping at step %d of %d to end on time", self.step, self.plan.total_steps)
        if (self._due() or self.out_of_time) and not self.stop.requested:
            t0 = self.clock()
            self._evaluate(done, state=state, end=end)
            if self.guard and not self.plan.revised and not self.out_of_time and self.more():
                self._revise_plan(done, state, end, self.clock() - t0)
        elif self.stop.requested or (self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0):
            self._save(at, state)

    def _make_plan(self, done: int, state: Any, end: bool) -> None:
        """The calibration is over: time one (real, recorded) evaluation and plan the rest."""
        times = self._step_times[1:] or self._step_times  # the first step pays for one-off work
        step_seconds = sum(times) / len(times)
        t0 = self.clock()
        self._evaluate(done, state=state, end=end)  # also the checkpoint and the best model: part of each evaluation
        eval_seconds = self.clock() - t0
        self.plan = plan_budget(
            self.budget,
            elapsed=self.elapsed(),
            steps_done=self.step,
            step_seconds=step_seconds,
            eval_seconds=eval_seconds,
        )
        self._step_times = [0.0]  # (the first entry is dropped when the plan is revised)
        logger.info("%s", self.plan.describe())
        self._mark_if_planned_out()
        if self.checkpoint is not None:
            self._save(0 if end else done, state)  # now with the plan in it

    def _revise_plan(self, done: int, state: Any, end: bool, eval_seconds: float) -> None:
        """At the first planned evaluation, plan again from the speed measured since the
        plan was made (the warm-up is often slower, or faster, than the steady run), once:
        early, the rate hardly changes for it."""
        times = self._step_times[1:] or self._step_times
        if not times:
            return
        self.plan = plan_budget(
            self.budget,
            elapsed=self.elapsed(),
            steps_done=self.step,
            step_seconds=sum(times) / len(times),
            eval_seconds=max(eval_seconds, self.plan.eval_seconds),
            evaluations_done=sum(1 for r in self.history if r.plan is not None),
            revised=True,
        )
        self._step_times = []
        logger.info("revised: %s", self.plan.describe())
        self._mark_if_planned_out()
        if self.checkpoint is not None:
            self._save(0 if end else done, state)  # with the revised plan

    def _lr(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (1-based) of a time-budgeted run:
        the plan's, or before there is one the plan's warm-up."""
        peak = self.config.lr
        if self.plan is not None:
            return self.plan.lr_at(step, peak)
        return peak * min(1.0, step / WARMUP)

    def _step(self, batch: Any) -> None:
        cfg = self.config
        t0 = self.clock()
        if self.budget is not None:
            self.optimizer.lr = self._lr(self.step + 1)
        # Each step's dropout masks get their own seed, derived from (seed, step).
        mask_seed = (cfg.seed * 0x9E3779B97F4A7C15 + self.step) % 2**64
        try:
            loss_sum, grads, final = self.source.train_pass(self.model, batch, self.state, cfg.dropouts, mask_seed)
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
        if self.ema is not None:
            self.ema.update(self.step + 1)
        took = self.clock() - t0
        self.step_seconds += took
        if self.budget is not None and (self.plan is None or (self.guard and not self.plan.revised)):
            self._step_times.append(took)
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
        with self._evaluated_weights():
            record = self._record_evaluation(done, end)
        self._save(0 if end else done, state, partial=not end and self.budget is None)
        self.monitor.record(record)
        if self.callback is not None:
            self.callback(record)

    def _evaluated_weights(self) -> Any:
        """A context in which the model holds the weights that are evaluated and saved as
        the best: the moving average with ``ema``, else the weights themselves."""
        return self.ema.swapped_in() if self.ema is not None else contextlib.nullcontext()

    def _record_evaluation(self, done: int, end: bool) -> Any:
        """Evaluate the model as it is, record it, keep and write it if it is the best."""
        history, source = self.history, self.source
        evaluation = source.evaluate(self.model)
        val = evaluation.get("val")
        fields = dict(
            epoch=self.epoch,
            step=self.step,
            **split_metrics("train", self.epoch_loss / self.epoch_chars if self.epoch_chars else math.nan),
            **split_metrics("val", val),
            chars_per_sec=self.step_chars / self.step_seconds if self.step_seconds > 0 else 0.0,
            seconds=self.elapsed(),
            lr=self.optimizer.lr,
        )
        if self.plan is not None:
            fields.update(plan=self.recorded_plan(), seconds_left=self.time_left())
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
        if self._ends_here(end):
            record = history[-1] = dataclasses.replace(record, last=True)
        return record

    def _ends_here(self, end: bool) -> bool:
        """Whether no step follows the evaluation just made (``end``: at its epoch's end):
        early stopping, the plan's end or the deadline, the last epoch's end, ``max_steps``
        (an evaluation inside the last epoch is not its last)."""
        if self.history.stopped_early:
            return True
        if self.budget is not None:
            return not self.more()
        cfg = self.config
        return not self.more() and (end or (cfg.max_steps is not None and self.step >= cfg.max_steps))

    def _mark_if_planned_out(self) -> None:
        """A plan made or revised just after an evaluation may leave no step to take (a
        budget used up): that evaluation was then the last."""
        history = self.history
        if history and history[-1].step == self.step and not history[-1].last and not self.more():
            history[-1] = dataclasses.replace(history[-1], last=True)

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
            ema=None if self.ema is None else dict(zip(self.names, self.ema.average, strict=True)),
            order_state=self.order if mid else self.source.position(),
            carried=state if mid else None,
            partial_recorded=partial and mid and self.source.one_record_per_epoch,
            stopped_early=history.stopped_early,
            finished=not self.more(),
            seconds=self.elapsed(),
            step_seconds=self.step_seconds,
            step_chars=self.step_chars,
            extra=self.checkpoint_info,
            plan=None if self.plan is None else self.plan.to_dict(),
        )
        save_state(self.checkpoint, self.model, st)
        self.saved_at = self.step

    def recorded_plan(self) -> dict[str, Any]:
        """The plan as the records give it: its steps, and the model's size and the
        regularisers it was made for, so that a ``--json`` record replays the whole run as
        ``--plan`` (``charrnn.training.replay``)."""
        assert self.plan is not None
        regularisers = {key: getattr(self.config, key) for key in REGULARISERS}
        return {
            **self.plan.to_dict(),
            "hidden": self.model.hidden,
            "layers": self.model.layers,
            "regularisers": regularisers,
        }

    def _restore(self) -> tuple[int, Any]:
        """Put the resumed run's weights, optimizer, records and position back; returns
        ``(batches done of the epoch in progress, the state its next batch starts from)``."""
        r, history = self.resume, self.history
        assert r is not None
        r.check_compatible(self.model, self.options, self.source.identity())
        self.best_params = r.restore(self.model, self.optimizer)
        if self.ema is not None:
            if r.ema is None:
                raise ResumeError("the run keeps a moving average of the weights (ema), but the checkpoint holds none")
            self.ema.load([r.ema[name] for name in self.names])
        self.source.set_position(r.order_state)
        history.extend(self.source.record_type(**record) for record in r.history)
        history.best_index, history.best_epoch, history.best_val_nll = r.best_index, r.best_epoch, r.best_val_nll
        self.step, self.epoch = r.step, r.epoch
        self.epoch_loss, self.epoch_chars = r.epoch_loss, r.epoch_chars
        self.start -= r.seconds
        self.step_seconds, self.step_chars = r.step_seconds, r.step_chars
        if r.plan is not None:  # the resumed run keeps its plan: the steps that were left
            stored = BudgetPlan.from_dict(r.plan)
            if self.plan is not None and self.plan != dataclasses.replace(stored, revised=True):
                raise ResumeError(f"the plan given differs from the checkpoint's ({stored.describe()})")
            self.plan = stored
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
