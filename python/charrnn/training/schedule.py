"""Learning-rate decay and early stopping, shared by both training loops.

**Learning-rate decay** (char-rnn style).  :class:`LRSchedule` multiplies the rate by
``decay`` at the end of every epoch whose number is a multiple of ``every`` and at least
``start``; epochs count from 1.  So the rate of epoch ``e`` is::

    lr * decay ** (number of epochs k in 1 .. e-1 with k >= start and k % every == 0)

* ``decay=0.97, every=1, start=10`` — char-rnn's default: epochs 1..10 run at ``lr``,
  epoch 11 at ``0.97 lr``, epoch 12 at ``0.97² lr``, ... (exponential decay per epoch
  once it starts);
* ``decay=0.5, every=5`` — step decay: epochs 1..5 at ``lr``, 6..10 at ``lr/2``, ...;
* ``decay=1`` (the default) — a constant rate.

The rate changes only between epochs, never inside one, so it is a pure function of the
epoch number: a resumed run gets the same rate as the run that never stopped.

**Early stopping.**  :class:`EarlyStopping` counts the evaluations since the one with the
lowest validation NLL; with ``patience=N`` training stops once ``N`` evaluations in a row
have not improved on that best (an evaluation is an epoch end, plus every ``eval_every``
steps in text mode).  The trainers then put back the best evaluation's weights, so those
are what gets saved.  ``patience=None`` never stops early.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

__all__ = ["LRSchedule", "EarlyStopping", "check_patience"]


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate of each epoch (see the module's documentation)."""

    lr: float
    decay: float = 1.0
    every: int = 1
    start: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, numbers.Real) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.decay, numbers.Real) and 0.0 < self.decay <= 1.0):
            raise ValueError(f"lr_decay must be in (0, 1], got {self.decay!r}")
        if not _is_int(self.every) or self.every < 1:
            raise ValueError(f"lr_decay_every must be at least 1 epoch, got {self.every!r}")
        if not _is_int(self.start) or self.start < 0:
            raise ValueError(f"lr_decay_start must be an epoch number >= 0, got {self.start!r}")

    @property
    def constant(self) -> bool:
        return self.decay == 1.0

    def decays_before(self, epoch: int) -> int:
        """How many times the rate has been multiplied by ``decay`` when epoch ``epoch``
        (1-based) starts: the epochs ``k`` in ``1 .. epoch-1`` with ``k >= start`` and
        ``k % every == 0``."""
        done = epoch - 1  # epochs finished before this one
        first = max(self.start, 1)  # the lowest epoch whose end may decay the rate
        if done < first:
            return 0
        return done // self.every - (first - 1) // self.every

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (1-based)."""
        if self.constant:
            return float(self.lr)
        return float(self.lr) * float(self.decay) ** self.decays_before(epoch)

    def describe(self) -> str:
        if self.constant:
            return f"lr {self.lr:g}"
        when = "every epoch" if self.every == 1 else f"every {self.every} epochs"
        since = f" from the end of epoch {max(self.start, 1)}" if self.start > 1 else ""
        return f"lr {self.lr:g} x {self.decay:g} {when}{since}"


def check_patience(patience: Optional[int]) -> Optional[int]:
    """``patience`` as an int >= 1, or None (never stop early)."""
    if patience is None:
        return None
    if not _is_int(patience):
        raise TypeError(f"patience must be an integer or None, got {patience!r}")
    if patience < 1:
        raise ValueError(f"patience must be at least 1 evaluation, got {patience}")
    return int(patience)


class EarlyStopping:
    """Tracks the best validation NLL and the evaluations since it.

    ``update(nll)`` returns True when ``nll`` is a new best (strictly lower);
    ``should_stop`` becomes True once ``patience`` evaluations in a row brought none.
    """

    def __init__(self, patience: Optional[int] = None) -> None:
        self.patience = check_patience(patience)
        self.best: Optional[float] = None
        self.stale = 0  # evaluations since the best one

    @classmethod
    def replay(cls, patience: Optional[int], val_nlls: Iterable[Optional[float]]) -> EarlyStopping:
        """The tracker after the evaluations ``val_nlls`` (None entries are skipped):
        what a resumed run starts from."""
        tracker = cls(patience)
        for nll in val_nlls:
            if nll is not None:
                tracker.update(nll)
        return tracker

    def update(self, val_nll: float) -> bool:
        if self.best is None or val_nll < self.best:
            self.best = float(val_nll)
            self.stale = 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.stale >= self.patience

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, best={self.best}, stale={self.stale})"
