"""What a drawn name must look like — applied while drawing, not by rejection.

``starts_with``, ``ends_with``, ``contains``, ``regex``, ``min_len`` and ``max_len`` are
compiled together into one automaton over the model's characters
(:class:`charrnn._core.Constraint`, built with the ``regex-automata`` crate).  At every
step the Rust sampler masks the characters after which no string could still meet the
constraint, and draws from the model's distribution renormalised over what is left.  So
"female surnames ending in -ская of 8 to 10 letters" come out at full speed, every one
meets the constraint, and a constraint no string can meet is refused at once
(``ValueError``) instead of looping.

**Which distribution is that?**  Masking renormalises *locally*: a name ``x`` is drawn with
probability ``q(x) = p(x) / (Z_1 · Z_2 · …)``, where ``Z_t`` is the probability the model
gave, at step ``t``, to the characters the constraint still allowed.  Rejection sampling
(draw freely, keep what matches) gives the model's distribution *conditioned* on the
constraint, ``p(x | C) = p(x) / P(C)``.  The two agree when every ``Z_t`` product is the
same for all matching names — e.g. a constraint on the first characters only — and differ
otherwise: masking over-draws names whose beginnings the model thought unlikely to end
well.

**Closer to exact: resampling.**  The sampler also returns ``log ∏ Z_t`` for every draw;
since ``p(x | C) / q(x) = ∏ Z_t / P(C)``, drawing ``k`` candidates per name and keeping one
with probability proportional to ``∏ Z_t`` (:func:`resample`, sampling-importance-
resampling) moves the result towards ``p(x | C)`` as ``k`` grows, at ``k`` times the cost —
still far below rejection's when the constraint is rare.  ``benchmarks/constraint_bias.py``
measures both against rejection sampling on a constraint rejection can afford.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from . import _core
from .vocab import Vocab

__all__ = ["NameConstraint", "escape", "resample", "DEFAULT_RESAMPLE"]

# Candidates per item that constrained sampling draws and chooses among by importance
# weight.  Measured (docs/conditional.md): male surnames ending in -ов from the shipped
# model have a mean length of 16.7 letters with plain masking (30% longer than 20), 7.9
# with 4 candidates, 7.49 with 16 — rejection sampling, the exact answer, gives 7.48.
DEFAULT_RESAMPLE = 16

# Characters with a meaning in the regular-expression syntax of the Rust `regex` crates.
_META = set("\\.+*?()|[]{}^$#&-~")


def escape(text: str) -> str:
    """``text`` as a regular expression that matches exactly ``text``."""
    return "".join("\\" + c if c in _META else c for c in text)


def _length(value: object, name: str) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class NameConstraint:
    """What every drawn name must meet.  ``contains`` takes one string or several (all must
    occur); ``regex`` must match the whole name; lengths count characters, prefix
    included."""

    starts_with: str = ""
    ends_with: str = ""
    contains: Union[str, Sequence[str]] = field(default=())
    regex: Optional[str] = None
    min_len: Optional[int] = None
    max_len: Optional[int] = None

    def __post_init__(self) -> None:
        contains = (self.contains,) if isinstance(self.contains, str) else tuple(self.contains)
        object.__setattr__(self, "contains", tuple(c for c in contains if c))
        for name in ("starts_with", "ends_with"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string, got {getattr(self, name)!r}")
        if any(not isinstance(c, str) for c in self.contains):
            raise TypeError(f"contains must be a string or a list of strings, got {self.contains!r}")
        if self.regex is not None and not isinstance(self.regex, str):
            raise TypeError(f"regex must be a string, got {self.regex!r}")
        lo, hi = _length(self.min_len, "min_len"), _length(self.max_len, "max_len")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_len {lo} is more than max_len {hi}")

    @property
    def active(self) -> bool:
        """Whether it constrains anything."""
        return bool(self.patterns()) or self.min_len is not None or self.max_len is not None

    def patterns(self) -> list[str]:
        """The regular expressions that must each match the whole name."""
        out = []
        if self.starts_with:
            out.append(escape(self.starts_with) + ".*")
        if self.ends_with:
            out.append(".*" + escape(self.ends_with))
        out.extend(".*" + escape(c) + ".*" for c in self.contains)
        if self.regex is not None:
            out.append(self.regex)
        return out

    def compile(self, vocab: Vocab, max_len: int) -> _core.Constraint:
        """The automaton over ``vocab``'s characters, for names of at most ``max_len``
        characters (or this constraint's ``max_len`` when smaller)."""
        hi = max_len if self.max_len is None else min(self.max_len, max_len)
        chars: list[Optional[str]] = [None] * vocab.n_markers + list(vocab.chars)
        try:
            return _core.Constraint(chars, vocab.eos_id, self.patterns(), self.min_len or 0, hi)
        except ValueError as e:
            raise ValueError(f"{self.describe()}: {e}") from None

    def describe(self) -> str:
        parts = []
        if self.starts_with:
            parts.append(f"start with {self.starts_with!r}")
        if self.ends_with:
            parts.append(f"end with {self.ends_with!r}")
        parts.extend(f"contain {c!r}" for c in self.contains)
        if self.regex is not None:
            parts.append(f"match /{self.regex}/")
        if self.min_len is not None or self.max_len is not None:
            parts.append(f"have {self.min_len or 0}..{'' if self.max_len is None else self.max_len} characters")
        return "names that " + ", ".join(parts) if parts else "any name"


def resample(drawn: Sequence[Sequence[int]], log_weights: Sequence[float], k: int, seed: int) -> list[list[int]]:
    """One draw out of every ``k`` consecutive ones, chosen with probability proportional
    to its weight ``exp(log_weights)`` (seeded: the same seed keeps the same draws).  With
    constrained draws and their ``log ∏ Z_t`` this is sampling-importance-resampling
    towards the model's distribution conditioned on the constraint."""
    if k < 1 or len(drawn) % k or len(drawn) != len(log_weights):
        raise ValueError(f"resample needs groups of k={k} draws with one weight each, got {len(drawn)} draws")
    rng = np.random.Generator(np.random.PCG64(seed))
    w = np.asarray(log_weights, dtype=np.float64).reshape(-1, k)
    w = np.exp(w - w.max(axis=1, keepdims=True))
    cdf = np.cumsum(w, axis=1)
    u = rng.random(len(cdf)) * cdf[:, -1]
    picks = (cdf <= u[:, None]).sum(axis=1).clip(max=k - 1)
    return [list(drawn[g * k + int(i)]) for g, i in enumerate(picks)]
