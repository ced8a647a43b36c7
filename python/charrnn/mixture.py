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

A :class:`Mixture` (an n-gram over the network's vocabulary and its per-position weights)
attached to a model (:meth:`CharRNN.mix_with <charrnn.CharRNN.mix_with>`) makes the mixture
the model: its scores (``log_probs``, ``evaluate``, ``charrnn score``) and its samples (the
Rust sampler mixes at every step) are the mixture's, and it is saved in the model's file
(:meth:`Mixture.to_checkpoint`, :func:`from_checkpoint`).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .checkpoint import MIXTURE_TENSOR_PREFIX
from .data import NameBatches
from .errors import CheckpointError
from .ngram import DEFAULT_ORDER, NGram
from .vocab import Vocab

if TYPE_CHECKING:  # the model module imports this one
    from .model import CharRNN

__all__ = [
    "Mixture",
    "fit",
    "mix_if_better",
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
METADATA_KEY = "mixture"  # a model file's metadata entry of its mixture (JSON)
TENSOR_PREFIX = MIXTURE_TENSOR_PREFIX  # and the prefix of its n-gram's tensors


class Mixture:
    """An n-gram model and the weight on the network at each position of a name:
    ``weights[t] * P_net + (1 - weights[t]) * P_ngram`` predicts the symbol at position
    ``t`` (0: the first character; positions from ``len(weights) - 1`` on share the last
    weight).  Attach it to a model with :meth:`CharRNN.mix_with <charrnn.CharRNN.mix_with>`."""

    def __init__(self, ngram: NGram, weights: Any) -> None:
        if not isinstance(ngram, NGram):
            raise TypeError(f"a mixture takes a charrnn.ngram.NGram, got {type(ngram).__name__}")
        if ngram.mode != "names":
            raise ValueError("a mixture takes a names-mode n-gram model")
        try:
            w = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"weights must be numbers, got {weights!r}") from None
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"weights must be a non-empty list of numbers (one per position), got shape {w.shape}")
        if not np.all((w >= 0.0) & (w <= 1.0)):  # NaN fails too
            raise ValueError(f"weights must be in [0, 1], got {[float(x) for x in w]}")
        w.setflags(write=False)
        self._ngram = ngram
        self._weights = w
        self._core: Any = None

    @property
    def ngram(self) -> NGram:
        return self._ngram

    @property
    def weights(self) -> np.ndarray:
        """The weight on the network per position (read-only float64 array)."""
        return self._weights

    def position_weights(self, position: np.ndarray) -> np.ndarray:
        """The weight on the network at each of ``position``."""
        return self._weights[np.minimum(position, len(self._weights) - 1)]

    def mixed_probs(self, p_net: np.ndarray, items: Sequence[str]) -> np.ndarray:
        """The mixture's probability of every predicted symbol of ``items`` (in the order of
        :func:`network_position_probs`), from the network's ``p_net`` of the same symbols."""
        p_ngram = ngram_position_probs(self._ngram, items)
        if p_net.shape != p_ngram.shape:
            raise ValueError(f"the two models must score the same positions, got {p_net.shape} and {p_ngram.shape}")
        w = self.position_weights(positions(items))  # counted in NFC, as both models count them
        return w * p_net + (1.0 - w) * p_ngram

    def core(self) -> Any:
        """The mixture as the Rust sampler takes it (:class:`charrnn._core.Mixture`), built once."""
        if self._core is None:
            from . import _core

            self._core = _core.Mixture(self._ngram.core_table(), [float(x) for x in self._weights])
        return self._core

    def to_checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """``(tensors, metadata)`` that keep the mixture in a model file
        (:func:`charrnn.checkpoint.save`): the n-gram's counts under :data:`TENSOR_PREFIX`,
        and the weights, the n-gram's config and vocabulary as the JSON entry
        :data:`METADATA_KEY` (read back by :func:`from_checkpoint`)."""
        tensors = {TENSOR_PREFIX + name: t for name, t in self._ngram.tensors().items()}
        entry = {
            "weights": [float(w) for w in self._weights],
            "ngram_config": self._ngram.config(),
            "ngram_vocab": self._ngram.vocab.to_json(),
        }
        return tensors, {METADATA_KEY: json.dumps(entry, ensure_ascii=False)}

    def describe(self) -> str:
        return (
            f"a mixture with a {self._ngram.order}-gram, weights on the network "
            + " ".join(f"{w:.2f}" for w in self._weights)
            + f" (positions 0..{len(self._weights) - 2}, then the rest)"
        )

    def __repr__(self) -> str:
        return f"Mixture({self._ngram!r}, weights={[round(float(w), 4) for w in self._weights]})"


def fit(model: CharRNN, ngram: NGram, items: Sequence[str], buckets: int = POSITIONS) -> Mixture:
    """The :class:`Mixture` of ``model`` and ``ngram`` with one weight per position fitted on
    ``items`` (held-out names: :func:`fit_position_weights`)."""
    items = list(items)
    if not items:
        raise ValueError("fitting a mixture needs held-out names")
    p_net, p_ngram = network_position_probs(model, items), ngram_position_probs(ngram, items)
    return Mixture(ngram, fit_position_weights(p_net, p_ngram, positions(items), buckets))


def from_checkpoint(
    path: str, metadata: dict[str, str], tensors: dict[str, np.ndarray], vocab: Vocab
) -> Optional[Mixture]:
    """The mixture a model file keeps (None: it keeps none), checked against the model's
    ``vocab``; :class:`~charrnn.errors.CheckpointError` naming what is wrong otherwise."""
    mine = {name[len(TENSOR_PREFIX) :]: t for name, t in tensors.items() if name.startswith(TENSOR_PREFIX)}
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        if mine:
            raise CheckpointError(f"{path}: the file holds n-gram tensors but no {METADATA_KEY!r} entry")
        return None
    try:
        entry = json.loads(raw)
        weights, config = entry["weights"], entry["ngram_config"]
        ngram_vocab = Vocab.from_json(entry["ngram_vocab"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad {METADATA_KEY!r} entry ({e})") from None
    if ngram_vocab != vocab:
        raise CheckpointError(
            f"{path}: the mixture's n-gram has another vocabulary than the network "
            f"({len(ngram_vocab)} ids against {len(vocab)}): its ids would mean other characters"
        )
    if not isinstance(config, dict) or config.get("mode") != "names":
        raise CheckpointError(f"{path}: the mixture's n-gram must be a names-mode model, got config {config!r}")
    ngram = NGram.from_tensors(path, vocab, config, mine)
    try:
        return Mixture(ngram, weights)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad mixture weights ({e})") from None


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
    return np.exp(-np.concatenate(per_item).astype(np.float64)) if per_item else np.zeros(0)


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


def positions(items: Sequence[Sequence[Any]]) -> np.ndarray:
    """The position in its item of each predicted symbol, in the order of
    :func:`network_position_probs` (0: the first character; ``len(item)``: the end marker).
    A string is counted in NFC, as the vocabulary encodes it ("и" + a combining breve is one "й")."""
    sizes = [len(unicodedata.normalize("NFC", item)) if isinstance(item, str) else len(item) for item in items]
    return np.concatenate([np.arange(n + 1) for n in sizes]) if sizes else np.zeros(0, np.int64)


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
    ``"position_mixture_nll"``; ``"fitted_weights"``: one weight per position fitted on all of
    ``items`` (:func:`fit`'s, from the probabilities already computed)."""
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
        "fitted_weights": [
            float(w)
            for w in fit_position_weights(
                np.concatenate([p[0] for p in probs]), np.concatenate([p[1] for p in probs]), np.concatenate(where)
            )
        ],
    }


def mix_if_better(
    model: CharRNN, train_items: Sequence[str], val_items: Sequence[str], order: int = DEFAULT_ORDER
) -> Optional[dict[str, Any]]:
    """What training does after the network is trained: fit an ``order``-gram on
    ``train_items`` over the model's vocabulary, measure the per-position mixture on
    ``val_items`` cross-fitted (:func:`evaluate`), and if it beats the network alone,
    attach it to ``model`` with the weights fitted on all of ``val_items``.  Returns
    :func:`evaluate`'s dict plus ``"order"`` and ``"mixed"`` (whether it was attached), or
    None when there are fewer than 2 held-out names to fit and measure it on."""
    if len(val_items) < 2:
        return None
    ngram = NGram.fit(list(train_items), order=order, vocab=model.vocab)
    found = evaluate(model, ngram, val_items)
    found["order"] = order
    found["mixed"] = found["position_mixture_nll"] < found["network_nll"]
    if found["mixed"]:  # the weights fitted on all of val_items, from evaluate's probabilities
        model.mix_with(ngram, found["fitted_weights"])
    return found
