"""What a training run records: one record per evaluation, and which one's weights were kept.

Names mode evaluates at each epoch end (:class:`EpochRecord`, :class:`History`); text
mode may also evaluate inside an epoch (``eval_every``) and on a test text
(:class:`TextRecord`, :class:`TextHistory`).  ``record.to_dict()`` is what
``charrnn train --json`` prints and ``--log`` writes: its keys are an interface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

__all__ = ["EpochRecord", "History", "TextRecord", "TextHistory"]


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
    lr: Optional[float] = None  # the learning rate of the epoch (see charrnn.training.schedule)
    # frequency-aware training (weighted validation items): the NLL per character with each
    # validation item counted as often as it occurs (val_nll counts each once); else absent
    val_nll_weighted: Optional[float] = None
    # A time-budgeted run: its plan (charrnn.budget.BudgetPlan.to_dict) and the seconds left of
    # the budget; not in to_dict() without a budget.
    plan: Optional[dict[str, Any]] = None
    seconds_left: Optional[float] = None
    # The run's final evaluation: training ends after it (not in to_dict() when False).
    last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return _without_absent(asdict(self))


def _without_absent(d: dict[str, Any]) -> dict[str, Any]:
    """A record's fields without those of features the run did not use (the weighted
    validation NLL without counts, the plan without a budget), and ``last`` but on the
    final evaluation."""
    if d.get("val_nll_weighted") is None:
        d.pop("val_nll_weighted", None)
    if d.get("plan") is None:
        d.pop("plan", None)
        d.pop("seconds_left", None)
    if not d.get("last"):
        d.pop("last", None)
    return d


class History(list):
    """The per-epoch :class:`EpochRecord` list, plus which epoch's weights were kept."""

    best_epoch: Optional[int] = None
    best_val_nll: Optional[float] = None
    best_index: Optional[int] = None  # position in the list of the kept evaluation
    stopped_early: bool = False  # True when `patience` evaluations brought no better val NLL

    @property
    def best(self) -> Optional[EpochRecord]:
        """The record of the epoch whose weights the model holds after training."""
        if self.best_index is not None and 0 <= self.best_index < len(self):  # several records per epoch
            return self[self.best_index]
        for record in self:
            if record.epoch == self.best_epoch:
                return record
        return None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, best_epoch={self.best_epoch}, best_val_nll={self.best_val_nll})"


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
        out = _without_absent(asdict(self))
        if self.test_nll is None:
            for key in ("test_nll", "test_ppl", "test_bpc"):
                del out[key]
        return out


class TextHistory(History):
    """The evaluations of a text-mode run (several per epoch with ``eval_every``).
    ``best`` is the evaluation whose weights the model holds after training."""

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
