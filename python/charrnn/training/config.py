"""One training configuration for both modes, with each mode's defaults in one place.

``TrainConfig.for_mode("names")`` is what ``charrnn train`` uses on a list of names
(chosen so that the bundled first names train in about a minute on two cores and already
give plausible names); ``TrainConfig.for_mode("text")`` is char-rnn's (Karpathy's
``train.lua``, with Adam instead of RMSprop).  The command line takes every default it
does not get from the user from here, and :mod:`charrnn.training.state` checks a resumed
run against the options it stored.

The Python functions :func:`charrnn.train` and :func:`charrnn.train_text` keep their own
keyword defaults (their signatures are an interface); each builds a :class:`TrainConfig`
from its arguments, which :meth:`TrainConfig.check` validates the same way in both modes.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Optional

from ..checks import positive_or_none
from ..dropout import Dropout
from .schedule import LRSchedule, check_patience

__all__ = ["TrainConfig", "MODES", "REGULARISERS"]

MODES = ("names", "text")
# The options that regularise a run, by their trainer names (what a time budget may turn on).
REGULARISERS = ("dropout", "variational", "input_dropout", "embed_dropout", "weight_drop", "weight_decay", "ema")


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run, with its default (see :meth:`for_mode`)."""

    mode: str = "names"
    # the model
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    embed: int = 32
    # the data
    batch_size: int = 32  # names: items per batch; text: parallel streams
    seq_len: Optional[int] = None  # text: characters per stream per batch (truncated BPTT)
    val_fraction: float = 0.1
    test_fraction: Optional[float] = None  # text only
    # the optimisation
    lr: float = 3e-3
    clip: Optional[float] = 5.0  # max global gradient norm; None (or inf): no clipping
    dropout: float = 0.2
    variational: bool = False  # dropout's masks: one per sequence instead of one per position
    input_dropout: float = 0.0
    embed_dropout: float = 0.0
    weight_drop: float = 0.0
    weight_decay: float = 0.0  # AdamW's decoupled decay of the weight matrices (0: plain Adam)
    ema: float = 0.0  # decay of the moving average of the weights that is evaluated and saved (0: none)
    epochs: Optional[int] = 40
    max_steps: Optional[int] = None
    seed: int = 0
    lr_decay: float = 1.0
    lr_decay_every: int = 1
    lr_decay_start: int = 0
    patience: Optional[int] = None
    eval_every: Optional[int] = None  # text: also evaluate every this many steps
    eval_batch_size: Optional[int] = None  # text: streams of the evaluation (default batch_size)
    # reporting and saving
    log_every: Optional[int] = 100
    checkpoint_every: Optional[int] = None
    # the time budget (seconds; charrnn.budget): replaces epochs and max_steps, plans the rate
    time_budget: Optional[float] = None

    @classmethod
    def for_mode(cls, mode: str, **changes: Any) -> TrainConfig:
        """The defaults of ``charrnn train --mode MODE``, with ``changes`` applied."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        return dataclasses.replace(_DEFAULTS[mode], **changes)

    @classmethod
    def for_budget(cls, mode: str, passes: Optional[float] = None, **changes: Any) -> TrainConfig:
        """The defaults of ``charrnn train --mode MODE --time-budget ...`` for a budget that
        goes ``passes`` times over the data: the mode's, with :func:`budget_regularisers`."""
        return cls.for_mode(mode, **{**budget_regularisers(mode, passes), **changes})

    @classmethod
    def from_options(cls, mode: str, options: dict[str, Any]) -> TrainConfig:
        """The config of a training call's ``options`` (those that are fields; the rest,
        e.g. ``progress``, are not hyperparameters), checked."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(mode=mode, **{k: v for k, v in options.items() if k in names}).check()

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def schedule(self) -> LRSchedule:
        return LRSchedule(self.lr, self.lr_decay, self.lr_decay_every, self.lr_decay_start)

    def check(self) -> TrainConfig:
        """The same config with its values checked (ValueError/TypeError naming the
        option), the same rules in both modes."""
        if self.time_budget is not None and not (
            isinstance(self.time_budget, numbers.Real) and math.isfinite(self.time_budget) and self.time_budget > 0
        ):
            raise ValueError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
        if self.epochs is None and self.max_steps is None and self.time_budget is None:
            raise ValueError("give epochs, max_steps or both; with neither training would never stop")
        for name in ("epochs", "max_steps", "eval_every", "checkpoint_every", "eval_batch_size", "seq_len"):
            positive_or_none(getattr(self, name), name)
        positive_or_none(self.batch_size, "batch_size")
        self.schedule  # noqa: B018 - checks lr and the decay options
        check_patience(self.patience)
        clip = self.clip
        if clip is not None and not (isinstance(clip, numbers.Real) and clip > 0):  # inf: no clipping; NaN refused
            raise ValueError(f"clip must be a positive number (or inf) or None, got {clip}")
        if not (isinstance(self.dropout, numbers.Real) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        self.dropouts  # noqa: B018 - checks the other dropouts
        _check_number(self.weight_decay, "weight_decay")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.lr * self.weight_decay >= 1:  # the weights would be multiplied by 1 - lr * wd <= 0
            raise ValueError(f"weight_decay * lr must be below 1, got {self.weight_decay} * {self.lr}")
        _check_number(self.ema, "ema")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (0: no moving average), got {self.ema}")
        return self

    @property
    def dropouts(self) -> Dropout:
        """Every dropout of a training step, as the model's pass takes them."""
        return Dropout(self.dropout, self.variational, self.input_dropout, self.embed_dropout, self.weight_drop)

    @property
    def max_norm(self) -> Optional[float]:
        """The clipping norm as the optimizer takes it (None: no clipping)."""
        return None if self.clip is None or math.isinf(self.clip) else float(self.clip)


def _check_number(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


_DEFAULTS = {
    "names": TrainConfig(),
    "text": TrainConfig(  # char-rnn's; cell, hidden, embed, clip: as for names
        mode="text",
        layers=2,
        batch_size=50,
        seq_len=50,
        val_fraction=0.05,
        test_fraction=0.05,
        lr=2e-3,
        dropout=0.0,
        epochs=30,
        lr_decay=0.97,
        lr_decay_start=10,
    ),
}


# What a time-budgeted run of each mode turns on (docs/budget.md, "Regularisation": measured with
# benchmarks/quality.py --variants on two-minute plans; each helped there, together most).
BUDGET_REGULARISERS: dict[str, dict[str, Any]] = {
    "names": {"variational": True, "weight_drop": 0.3, "input_dropout": 0.1, "embed_dropout": 0.1},
    "text": {"dropout": 0.2, "variational": True},
}
# How many times a budget goes over a list of names decides how it regularises (docs/budget.md,
# measured on 1- and 2-minute plans): below NAMES_DROPOUT_FROM_PASSES nothing overfits and any
# dropout only slows learning (surnames at 6 passes, patronymics at 10: no dropout is best); from
# NAMES_REGULARISED_FROM_PASSES the list is overfitted and the four regularisers win (first names
# at 44 passes by 0.036 nats; at 17.6 estimated passes, 22.6 made, by 0.015: plain dropout was best at
# a third of the run); between, the mode's plain --dropout 0.2 is as good and faster.
NAMES_DROPOUT_FROM_PASSES = 10.0
NAMES_REGULARISED_FROM_PASSES = 16.0


def budget_regularisers(mode: str, passes: Optional[float] = None, given: Collection[str] = ()) -> dict[str, Any]:
    """The options a time-budgeted run of ``mode`` changes from the mode's defaults, when the
    budget goes ``passes`` times over the training data (None: not known, taken as many):
    :data:`BUDGET_REGULARISERS`; for names seen fewer than
    :data:`NAMES_REGULARISED_FROM_PASSES` times none (the plain ``--dropout``), and fewer
    than :data:`NAMES_DROPOUT_FROM_PASSES` times no dropout at all.  Options in ``given``
    (typed by the user) are left out: :func:`without_given`."""
    if mode not in BUDGET_REGULARISERS:
        raise ValueError(f"mode must be one of {', '.join(BUDGET_REGULARISERS)}; got {mode!r}")
    if mode == "names" and passes is not None and passes < NAMES_REGULARISED_FROM_PASSES:
        chosen: dict[str, Any] = {"dropout": 0.0} if passes < NAMES_DROPOUT_FROM_PASSES else {}
    else:
        chosen = dict(BUDGET_REGULARISERS[mode])
    return without_given(chosen, given)


def without_given(chosen: dict[str, Any], given: Collection[str]) -> dict[str, Any]:
    """``chosen`` options without those the user gave; a given ``variational`` also keeps
    the dropout it makes variational."""
    keep = set(given) | ({"dropout"} if "variational" in given else set())
    return {key: value for key, value in chosen.items() if key not in keep}


def passes_bucket(passes: float) -> str:
    """Which of :func:`budget_regularisers`' ranges ``passes`` falls in, in words."""
    if passes < NAMES_DROPOUT_FROM_PASSES:
        return f"fewer than {NAMES_DROPOUT_FROM_PASSES:g}"
    if passes < NAMES_REGULARISED_FROM_PASSES:
        return f"fewer than {NAMES_REGULARISED_FROM_PASSES:g}"
    return f"{NAMES_REGULARISED_FROM_PASSES:g} or more"
