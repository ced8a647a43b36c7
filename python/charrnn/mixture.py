"""Mixing a network's and an n-gram model's next-character probabilities.

At every position of a name the mixture predicts ``w * P_net(c | prefix) + (1 - w) *
P_ngram(c | prefix)``: a sum of two distributions over the same characters is one, so the
mixture is a language model in its own right, and its NLL is never worse than the worse of
the two (the log is concave).  It pays where the two models err differently — the counts
are sharp on frequent endings, the network generalises across them; on a large list of
surnames the mixture beats both.

``w`` is fitted on held-out names (:func:`fit_weight`: the NLL is convex in ``w``, so a
ternary search finds the minimum); measure the mixture on other names than those it was
fitted on (:func:`evaluate` cross-fits: ``charrnn ngram FILE --mix MODEL``).

One weight per position in the name does better (:func:`fit_position_weights`): the counts
know how names begin, where the network has seen nothing yet, and the network knows the
whole prefix, where the n-gram sees only its last few characters.  The position is known
before the character is, so the per-position mixture is a language model too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .data import NameBatches
from .model import CharRNN
from .ngram import NGram

__all__ = [
    "network_position_probs",
    "ngram_position_probs",
    "positions",
    "mixture_nll",
    "fit_weight",
    "fit_position_weights",
    "position_mixture_nll",
    "evaluate",
]

# Positions 0 .. POSITIONS - 2 get a weight each, the later ones share the last.
POSITIONS = 10


def network_position_probs(model: CharRNN, items: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """``P_net`` of each predicted symbol (every character, then the end marker) of every
    item, item after item: a float64 array of ``sum(len(item) + 1)`` probabilities."""
    if model.mode != "names" or model.conditional:
        raise ValueError("a mixture takes a names-mode model without categories")
    per_item: list[np.ndarray] = [np.zeros(0)] * len(items)
    for batch in NameBatches(list(items), model.vocab, batch_size=batch_size, shuffle=False):
        nll = model.forward_backward(batch, compute_grad=False, details=True).position_nll
        assert nll is not None
        for column, index in enumerate(batch.index):
            per_item[int(index)] = nll[: int(batch.lengths[column]), column]
    return np.exp(-np.concatenate(per_item)) if per_item else np.zeros(0)


def ngram_position_probs(ngram: NGram, items: Sequence[str]) -> np.ndarray:
    """``P_ngram`` of the same symbols, in the same order as :func:`network_position_probs`."""
    if ngram.mode != "names":
        raise ValueError("a mixture takes a names-mode n-gram model")
    return ngram.predicted_probs(list(items))


def mixture_nll(p_net: np.ndarray, p_ngram: np.ndarray, weight: float) -> float:
    """NLL per predicted symbol (nats) of the mixture with weight ``weight`` on the network."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    return _nll(p_net, p_ngram, weight)


def _nll(p_net: np.ndarray, p_ngram: np.ndarray, weight: Any) -> float:
    """The mixture's NLL per symbol with ``weight`` (one, or one per symbol) on the network."""
    if p_net.shape != p_ngram.shape or p_net.size == 0:
        raise ValueError(f"the two models must score the same positions, got {p_net.shape} and {p_ngram.shape}")
    return float(-np.log(weight * p_net + (1.0 - weight) * p_ngram).mean())


def fit_weight(p_net: np.ndarray, p_ngram: np.ndarray, tolerance: float = 1e-4) -> float:
    """The weight in [0, 1] with the lowest mixture NLL on these positions (the NLL is a
    convex function of the weight: ternary search)."""
    lo, hi = 0.0, 1.0
    while hi - lo > tolerance:
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if mixture_nll(p_net, p_ngram, a) <= mixture_nll(p_net, p_ngram, b):
            hi = b
        else:
            lo = a
    # The minimum may sit on an end (one model no help at all): the search only nears it.
    return min((0.0, (lo + hi) / 2, 1.0), key=lambda w: mixture_nll(p_net, p_ngram, w))


def positions(items: Sequence[str]) -> np.ndarray:
    """The position in its item of each predicted symbol, in the order of
    :func:`network_position_probs` (0: the first character; ``len(item)``: the end marker)."""
    return np.concatenate([np.arange(len(item) + 1) for item in items]) if len(items) else np.zeros(0, np.int64)


def fit_position_weights(
    p_net: np.ndarray, p_ngram: np.ndarray, position: np.ndarray, buckets: int = POSITIONS
) -> np.ndarray:
    """One :func:`fit_weight` per position (positions from ``buckets - 1`` on share one);
    a position no item reaches gets the weight of all positions."""
    bucket = np.minimum(position, buckets - 1)
    at = [bucket == b for b in range(buckets)]
    overall = fit_weight(p_net, p_ngram) if not all(a.any() for a in at) else None
    return np.array([fit_weight(p_net[a], p_ngram[a]) if a.any() else overall for a in at])


def position_mixture_nll(p_net: np.ndarray, p_ngram: np.ndarray, position: np.ndarray, weights: np.ndarray) -> float:
    """NLL per predicted symbol of the mixture with ``weights[position]`` on the network."""
    if p_net.shape != position.shape:
        raise ValueError(f"the two models must score the same positions, got {p_net.shape} and {position.shape}")
    return _nll(p_net, p_ngram, np.asarray(weights)[np.minimum(position, len(weights) - 1)])


def evaluate(model: CharRNN, ngram: NGram, items: Sequence[str]) -> dict[str, Any]:
    """The mixture measured on ``items`` without fitting its weight on the names it is
    measured on (cross-fitting): the weight fitted on the even-numbered items scores the
    odd ones and the other way round.  ``{"weight"`` (the mean of the two), ``"weights"``,
    ``"network_nll"``, ``"ngram_nll"``, ``"mixture_nll"}`` per predicted symbol on all of
    ``items`` (``"mixture_nll"``: each half with the weight fitted on the other), and the same
    with one weight per position: ``"position_weights"`` (the mean of the two halves') and
    ``"position_mixture_nll"``."""
    halves = [list(items[0::2]), list(items[1::2])]
    if not all(halves):
        raise ValueError("a mixture needs at least 2 held-out items: one to fit its weight, one to measure it")
    probs = [(network_position_probs(model, h), ngram_position_probs(ngram, h)) for h in halves]
    weights = [fit_weight(*probs[1 - k]) for k in range(2)]  # half k is scored with the other's weight
    where = [positions(h) for h in halves]
    by_position = [fit_position_weights(*probs[1 - k], where[1 - k]) for k in range(2)]
    sizes = [p[0].size for p in probs]

    def pooled(nll_of: Any) -> float:  # the two halves' NLLs, weighted by their symbols
        return sum(nll_of(k) * sizes[k] for k in range(2)) / sum(sizes)

    return {
        "weight": sum(weights) / 2,
        "weights": weights,
        "network_nll": pooled(lambda k: mixture_nll(*probs[k], 1.0)),
        "ngram_nll": pooled(lambda k: mixture_nll(*probs[k], 0.0)),
        "mixture_nll": pooled(lambda k: mixture_nll(*probs[k], weights[k])),
        "position_weights": [float(w) for w in (by_position[0] + by_position[1]) / 2],
        "position_mixture_nll": pooled(lambda k: position_mixture_nll(*probs[k], where[k], by_position[k])),
    }
