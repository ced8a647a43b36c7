"""Scoring names: how likely the model finds each character of a name.

``score(model, names)`` gives, per name, the natural log-probability of each of its
characters given the ones before it (the first given the start marker), then of the end
marker, and their sum — the log-probability of the whole name (``model.log_prob``).
Every value is a natural log (nats; divide by ln 2 for bits) and at most 0: the closer
to 0, the more typical.  The mean per predicted character (``total / (len + 1)``) makes
names of different lengths comparable; ``exp(-mean)`` is the name's perplexity.

The kernels return one summed loss per sequence, so the per-character values are
differences of the losses of the name's prefixes (all prefixes go through the kernels as
one batch): ``log p(c_t | c_<t) = S(t + 1) - S(t)`` where ``S(t)`` is the summed
log-probability of the first ``t`` predictions.

A model with a :attr:`~charrnn.CharRNN.mixture` is scored as the mixture:
``log(w_t * p_net + (1 - w_t) * p_ngram)`` for every character (:mod:`charrnn.mixture`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .data import Batch, make_batch
from .model import Category, CharRNN

__all__ = ["Score", "score", "next_char_log_probs"]


@dataclass(frozen=True)
class Score:
    """The log-probabilities the model gives one name (natural logs)."""

    name: str
    chars: tuple[str, ...]  # the name's characters, then "</s>" (the end marker)
    log_probs: tuple[float, ...]  # log p(char | everything before it), one per entry of chars
    total: float  # their sum: log p(name)
    category: Optional[str] = None

    @property
    def mean(self) -> float:
        """Mean log-probability per predicted character (end marker included)."""
        return self.total / len(self.log_probs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "log_prob": self.total,
            "mean_log_prob": self.mean,
            "chars": [{"char": c, "log_prob": p} for c, p in zip(self.chars, self.log_probs, strict=True)],
        }
        if self.category is not None:
            out["category"] = self.category
        return out


def _category(model: CharRNN, category: Optional[Category]) -> Optional[int]:
    ids = model._category_ids(category, 1)  # noqa: SLF001 - same package; checks it
    return None if ids is None else ids[0]


def _run(
    model: CharRNN, encoded: list[list[int]], targets: np.ndarray, lengths: np.ndarray, category: Optional[int]
) -> np.ndarray:
    ids = make_batch(encoded).ids
    batch = Batch(
        ids,
        np.ascontiguousarray(targets, dtype=np.int32),
        np.ascontiguousarray(lengths, dtype=np.int32),
        np.arange(len(encoded)),
        None if category is None else np.full(len(encoded), category, dtype=np.int32),
    )
    seq_loss = model.forward_backward(batch, compute_grad=False).seq_loss
    return np.asarray(seq_loss, dtype=np.float64)


def score(model: CharRNN, names: Sequence[str], category: Optional[Category] = None) -> list[Score]:
    """Per-character and total natural log-probabilities of each name (see the module's
    documentation).  A conditional model needs ``category``."""
    if isinstance(names, str):
        raise TypeError("names must be a list of names, not one string")
    cat = _category(model, category)
    out = []
    for name in names:
        ids = model.vocab.encode(name)
        n = len(ids) + 1  # predictions: every character, then the end marker
        # n copies of the name, copy t truncated to its first t+1 predictions.
        targets = np.repeat(make_batch([ids]).targets, n, axis=1)
        lengths = np.arange(1, n + 1, dtype=np.int32)
        cumulative = -_run(model, [ids] * n, targets, lengths, cat)  # S(1) .. S(n)
        per_char = np.diff(np.concatenate([[0.0], cumulative]))
        if model.mixture is not None:
            per_char = np.log(model.mixture.mixed_probs(np.exp(per_char), [name]))
            cumulative = np.cumsum(per_char)
        out.append(
            Score(
                name=model.vocab.decode(ids),
                chars=tuple(model.vocab.decode([i]) for i in ids) + ("</s>",),
                log_probs=tuple(float(x) for x in per_char),
                total=float(cumulative[-1]),
                category=None if cat is None or model.categories is None else model.categories[cat],
            )
        )
    return out


def next_char_log_probs(model: CharRNN, text: str, category: Optional[Category] = None) -> np.ndarray:
    """``[len(text) + 1, V]`` float64: row ``t`` is the natural log of the model's
    distribution over the next id after the start marker and ``text[:t]`` (every id,
    markers included).  Slow (``V`` sequences per row): meant for inspection and tests."""
    cat = _category(model, category)
    ids = model.vocab.encode(text)
    V = len(model.vocab)
    table = np.empty((len(ids) + 1, V), dtype=np.float64)
    base = make_batch([ids])
    for t in range(len(ids) + 1):
        # V copies of the prefix; copy v predicts the real ids up to t-1, then id v at t.
        targets = np.repeat(base.targets, V, axis=1)
        targets[t, :] = np.arange(V)
        lengths = np.full(V, t + 1, dtype=np.int32)
        with_v = _run(model, [ids] * V, targets, lengths, cat)
        prefix = _run(model, [ids], base.targets, np.array([t], dtype=np.int32), cat)[0] if t else 0.0
        table[t] = -(with_v - prefix)
        if model.mixture is not None:  # the mixture's distribution at position t
            w = float(model.mixture.position_weights(np.array([t]))[0])
            counts = model.mixture.ngram._next_probs([model.vocab.bos_id, *ids[:t]])  # noqa: SLF001
            with np.errstate(divide="ignore"):
                table[t] = np.log(w * np.exp(table[t]) + (1.0 - w) * counts)
    return table
