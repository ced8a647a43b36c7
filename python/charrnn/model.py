"""The character-level language model: weights in numpy, math in ``charrnn._core``.

A :class:`CharRNN` is an embedding, ``layers`` recurrent layers (LSTM, GRU or tanh RNN)
and a linear output layer over the vocabulary.  Its weights are float32 numpy arrays
named as in a PyTorch ``state_dict`` of the equivalent module::

    embedding.weight        [V, E]
    rnn.weight_ih_l{k}      [G*H, E or H]    G = 4 (lstm), 3 (gru), 1 (rnn)
    rnn.weight_hh_l{k}      [G*H, H]
    rnn.bias_ih_l{k}        [G*H]
    rnn.bias_hh_l{k}        [G*H]
    fc.weight               [V, H]
    fc.bias                 [V]

so they load into ``torch.nn.Embedding`` / ``nn.LSTM`` / ``nn.Linear`` unchanged.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from . import _core
from .data import Batch, NameBatches
from .metrics import summarize
from .vocab import Vocab

__all__ = ["CharRNN", "CELLS"]

logger = logging.getLogger(__name__)

CELLS = ("lstm", "rnn", "gru")
GATES = {"lstm": 4, "rnn": 1, "gru": 3}
DEFAULT_MAX_LEN = 50  # default cap on the length of a sampled name, in characters


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


class CharRNN:
    """A character-level recurrent language model over a :class:`Vocab`.

    ``cell`` is ``"lstm"``, ``"gru"`` or ``"rnn"``; ``hidden`` the state size, ``layers``
    the number of stacked recurrent layers, ``embed`` the character embedding size.
    Weights are initialised like PyTorch's defaults from ``numpy.random.default_rng(seed)``.
    """

    def __init__(
        self,
        vocab: Vocab,
        cell: str = "lstm",
        hidden: int = 128,
        layers: int = 2,
        embed: int = 32,
        seed: int = 0,
    ) -> None:
        if not isinstance(vocab, Vocab):
            raise TypeError(f"vocab must be a charrnn.Vocab, got {type(vocab).__name__}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
        self.vocab = vocab
        self.cell = cell
        self.hidden = _positive_int(hidden, "hidden")
        self.layers = _positive_int(layers, "layers")
        self.embed = _positive_int(embed, "embed")
        self.seed = int(seed)
        self.params: dict[str, np.ndarray] = self._init_params(np.random.default_rng(self.seed))
        # Draws the seeds of sample(seed=None) calls: successive calls differ, yet a run
        # is reproducible from the model's seed (nothing reads OS randomness).
        self._sample_rng = np.random.default_rng([self.seed, 1])

    # -- parameters ------------------------------------------------------------------

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter, in ``_core``'s order."""
        V, E, H, G = len(self.vocab), self.embed, self.hidden, GATES[self.cell]
        shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (V, E)}
        for k in range(self.layers):
            shapes[f"rnn.weight_ih_l{k}"] = (G * H, E if k == 0 else H)
            shapes[f"rnn.weight_hh_l{k}"] = (G * H, H)
            shapes[f"rnn.bias_ih_l{k}"] = (G * H,)
            shapes[f"rnn.bias_hh_l{k}"] = (G * H,)
        shapes["fc.weight"] = (V, H)
        shapes["fc.bias"] = (V,)
        return shapes

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        # PyTorch's defaults: nn.Embedding ~ N(0, 1); nn.LSTM/GRU/RNN ~ U(-1/sqrt(H), 1/sqrt(H))
        # for every weight and bias; nn.Linear ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = H.
        bound = 1.0 / math.sqrt(self.hidden)
        params = {}
        for name, shape in self.param_shapes().items():
            if name == "embedding.weight":
                value = rng.standard_normal(shape)
            else:
                value = rng.uniform(-bound, bound, shape)
            params[name] = np.ascontiguousarray(value, dtype=np.float32)
        return params

    def params_list(self) -> list[np.ndarray]:
        """The parameters as the list ``_core`` takes (same arrays, not copies)."""
        return [self.params[name] for name in self.param_shapes()]

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace the weights (copied into float32 C-contiguous arrays); shapes must match."""
        expected = self.param_shapes()
        missing = [name for name in expected if name not in params]
        if missing:
            raise ValueError(f"missing parameters: {', '.join(missing)}")
        new = {}
        for name, shape in expected.items():
            value = np.asarray(params[name])
            if value.shape != shape:
                raise ValueError(f"parameter {name} has shape {value.shape}, expected {shape}")
            new[name] = np.array(value, dtype=np.float32, order="C", copy=True)
        self.params = new

    @property
    def num_params(self) -> int:
        """Total number of weights."""
        return sum(p.size for p in self.params.values())

    @property
    def config(self) -> dict[str, Any]:
        """What it takes to rebuild the model with the same shapes (stored in checkpoints)."""
        return {
            "cell": self.cell,
            "hidden": self.hidden,
            "layers": self.layers,
            "embed": self.embed,
            "vocab_size": len(self.vocab),
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return (
            f"CharRNN(cell={self.cell!r}, hidden={self.hidden}, layers={self.layers}, "
            f"embed={self.embed}, vocab={len(self.vocab)}, params={self.num_params:,})"
        )

    # -- loss ------------------------------------------------------------------------

    def loss_and_grads(
        self, batch: Batch, compute_grad: bool = True, dropout: float = 0.0, seed: int = 0
    ) -> tuple[float, Optional[dict[str, np.ndarray]]]:
        """Summed NLL (nats) of ``batch`` and its gradient for every parameter (by name).

        The loss is a *sum* over the batch's ``batch.n_chars`` real positions; divide both
        by that number for the mean per character.  ``compute_grad=False`` returns None
        for the gradients and is cheaper.  ``dropout`` (training only) drops the inputs of
        layers 1.. and of the output layer with masks drawn from ``seed``.
        """
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        loss_sum, _, grads, _, _ = _core.forward_backward(
            self.cell,
            self.params_list(),
            batch.ids,
            batch.targets,
            batch.lengths,
            compute_grad=compute_grad,
            dropout=float(dropout),
            seed=int(seed),
        )
        if grads is None:
            return float(loss_sum), None
        return float(loss_sum), dict(zip(self.param_shapes(), grads, strict=True))

    def log_probs(self, items: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Natural log-probability of each item, end marker included (float64 array)."""
        if len(items) == 0:
            return np.zeros(0, dtype=np.float64)
        out = np.zeros(len(items), dtype=np.float64)
        params = self.params_list()
        for batch in NameBatches(items, self.vocab, batch_size=batch_size, shuffle=False):
            _, seq_loss, _, _, _ = _core.forward_backward(
                self.cell, params, batch.ids, batch.targets, batch.lengths, compute_grad=False
            )
            out[batch.index] = -np.asarray(seq_loss, dtype=np.float64)
        return out

    def log_prob(self, text: str) -> float:
        """Natural log-probability the model gives the whole of ``text``, end marker included."""
        return float(self.log_probs([text])[0])

    def evaluate(self, items: Sequence[str], batch_size: int = 256) -> dict[str, float]:
        """``{"nll", "ppl", "bpc", "chars"}`` on ``items``: NLL (nats) per predicted character,
        every character and each item's end marker counted."""
        if len(items) == 0:
            raise ValueError("cannot evaluate on an empty list")
        total = -float(self.log_probs(items, batch_size=batch_size).sum())
        chars = sum(len(self.vocab.encode(item)) + 1 for item in items)
        return summarize(total, chars)

    def perplexity(self, items: Sequence[str]) -> float:
        """exp(NLL per character) on ``items``."""
        return self.evaluate(items)["ppl"]

    # -- sampling --------------------------------------------------------------------

    def sample(
        self,
        n: int = 10,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        prefix: str = "",
        seed: Optional[int] = None,
        max_len: int = DEFAULT_MAX_LEN,
        top_p: Optional[float] = None,
    ) -> list[str]:
        """Generate ``n`` items, each ``prefix`` + what the model writes after it.

        ``temperature`` > 0 sharpens (< 1) or flattens (> 1) the distribution; ``top_k``
        keeps only the k most likely characters at each step (``top_k=1`` is greedy);
        ``top_p`` in (0, 1] keeps only the fewest most likely characters whose
        probabilities add up to ``top_p`` (nucleus sampling); ``max_len`` caps the total
        length in characters, prefix included.  The same ``seed`` gives the same items on
        any machine; ``seed=None`` draws one from the model's own generator (seeded by the
        model's seed), so repeated calls differ.
        """
        n = _positive_int(n, "n")
        max_len = _positive_int(max_len, "max_len")
        if not isinstance(temperature, numbers.Real) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if top_k is None:
            top_k = 0
        else:
            top_k = _positive_int(top_k, "top_k")
        if top_p is None:
            top_p = 1.0
        elif not isinstance(top_p, numbers.Real) or not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        prefix_ids = self.vocab.encode(prefix)
        if len(prefix_ids) > max_len:
            raise ValueError(f"prefix has {len(prefix_ids)} characters, more than max_len={max_len}")
        if seed is None:
            seed = int(self._sample_rng.integers(0, 2**63))
        elif seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        drawn = _core.sample(
            self.cell,
            self.params_list(),
            n,
            self.vocab.bos_id,
            self.vocab.eos_id,
            max_len - len(prefix_ids),
            temperature=float(temperature),
            top_k=top_k,
            prefix=prefix_ids,
            seed=int(seed),
            banned=[self.vocab.pad_id, self.vocab.bos_id],
            top_p=float(top_p),
        )
        prefix = self.vocab.decode(prefix_ids)  # the NFC form of the prefix
        return [prefix + self.vocab.decode(ids) for ids in drawn]

    # -- persistence -----------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], extra: Optional[dict[str, Any]] = None) -> None:
        """Write the model to a safetensors checkpoint (see :mod:`charrnn.checkpoint`)."""
        from .checkpoint import save

        save(self, path, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharRNN:
        """Read a model written by :meth:`save`."""
        from .checkpoint import load

        return load(path)
