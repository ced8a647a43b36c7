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
    category.weight         [K, C]           conditional models only

so they load into ``torch.nn.Embedding`` / ``nn.LSTM`` / ``nn.Linear`` unchanged (see
:mod:`charrnn.interop`).  A *conditional* model (``categories=["male", "female"]``) also
learns one embedding of size ``C = category_dim`` per category; layer 0 reads the
character embedding followed by the category embedding of the item's category, so its
``weight_ih_l0`` is ``[G*H, E + C]``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional, Union

import numpy as np

from . import _core, checkpoint
from .checks import positive_int, sampling_options
from .constraints import DEFAULT_RESAMPLE, NameConstraint
from .constraints import resample as resample_draws
from .data import Batch, NameBatches
from .dropout import Dropout, as_dropout
from .errors import CheckpointError
from .labelled import Labelled, check_category_names
from .metrics import summarize
from .mixture import Mixture, network_position_probs
from .mixture import fit as fit_mixture
from .mixture import from_checkpoint as mixture_from_checkpoint
from .pretrained import model_path, resolve_model
from .vocab import Vocab

__all__ = ["CharRNN", "CELLS", "Pass", "State", "load", "model_from_checkpoint"]

logger = logging.getLogger(__name__)

CELLS = ("lstm", "rnn", "gru")
MODES = ("names", "text")  # what a model learnt from: separate items, or one continuous text
GATES = {"lstm": 4, "rnn": 1, "gru": 3}
DEFAULT_MAX_LEN = 50  # default cap on the length of a sampled name, in characters
DEFAULT_CATEGORY_DIM = 8  # default size of a conditional model's category embedding

# What names a category: its name, or its id (0-based, in the model's category order).
Category = Union[str, int]
# The recurrent state between batches: (h, c), each [layers, batch, hidden] (c: LSTM only).
State = Optional[tuple[np.ndarray, Optional[np.ndarray]]]


class Pass(NamedTuple):
    """What one :meth:`CharRNN.forward_backward` call gives."""

    loss_sum: float  # summed NLL (nats) over the real positions
    seq_loss: np.ndarray  # [B] float64, the same per sequence
    grads: Optional[list[np.ndarray]]  # gradients of loss_sum, in params_list() order
    state: tuple[np.ndarray, Optional[np.ndarray]]  # (h_n, c_n): the final state
    masks: Optional[dict[str, Any]] = None  # with details=True: the dropout masks drawn
    position_nll: Optional[np.ndarray] = None  # with details=True: [T, B] NLL per position, 0 at padding


class CharRNN:
    """A character-level recurrent language model over a :class:`Vocab`.

    ``cell`` is ``"lstm"``, ``"gru"`` or ``"rnn"``; ``hidden`` the state size, ``layers``
    the number of stacked recurrent layers, ``embed`` the character embedding size.
    Weights are initialised like PyTorch's defaults from ``numpy.random.default_rng(seed)``.

    ``categories`` (a list of names) makes the model *conditional*: every item then has a
    category, whose learnt embedding of size ``category_dim`` is fed to layer 0 beside
    each character's; training needs labelled items (:class:`charrnn.Labelled`) and
    sampling a ``category``.  ``category_counts`` (training items per category, set by
    :func:`charrnn.train`) is the prior of :func:`charrnn.classify`.

    ``mode`` says what the model learnt from: ``"names"`` (independent items, each
    between start and end markers) or ``"text"`` (one continuous stream, see
    :mod:`charrnn.text`); :func:`charrnn.train_text` sets it, checkpoints keep it, and
    ``charrnn sample`` generates accordingly (:meth:`generate_text` for text).

    A names model without categories may carry a :attr:`mixture` with an n-gram model
    (:meth:`mix_with`, :mod:`charrnn.mixture`): its scores and samples are then the
    mixture's, and it is saved in the same file.
    """

    def __init__(
        self,
        vocab: Vocab,
        cell: str = "lstm",
        hidden: int = 128,
        layers: int = 2,
        embed: int = 32,
        seed: int = 0,
        categories: Optional[Sequence[str]] = None,
        category_dim: int = DEFAULT_CATEGORY_DIM,
        category_counts: Optional[Union[Sequence[int], Mapping[str, int]]] = None,
        mode: str = "names",
    ) -> None:
        if not isinstance(vocab, Vocab):
            raise TypeError(f"vocab must be a charrnn.Vocab, got {type(vocab).__name__}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
        self.vocab = vocab
        self.cell = cell
        self.hidden = positive_int(hidden, "hidden")
        self.layers = positive_int(layers, "layers")
        self.embed = positive_int(embed, "embed")
        self.seed = int(seed)
        self.categories: Optional[tuple[str, ...]] = None if categories is None else check_category_names(categories)
        self.category_dim = 0 if self.categories is None else positive_int(category_dim, "category_dim")
        self.category_counts = category_counts  # type: ignore[assignment]  # checked by the setter
        self.mode = mode  # checked by the setter
        self.params: dict[str, np.ndarray] = self._init_params(np.random.default_rng(self.seed))
        self._mixture: Optional[Mixture] = None
        # Draws the seeds of sample(seed=None) calls: successive calls differ, yet a run
        # is reproducible from the model's seed (nothing reads OS randomness).
        self._sample_rng = np.random.default_rng([self.seed, 1])

    # -- mode ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``"names"`` or ``"text"``: what the model was trained on (see the class docs)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {value!r}")
        if value != "names" and getattr(self, "_mixture", None) is not None:
            raise ValueError("a model with a mixture is a names model: drop_mixture() first")
        self._mode = value

    # -- the mixture with an n-gram model (charrnn.mixture) ----------------------------

    @property
    def mixture(self) -> Optional[Mixture]:
        """The :class:`~charrnn.mixture.Mixture` this model's probabilities are mixed with
        (None: the network alone).  With one, :meth:`log_probs`, :meth:`evaluate`,
        :meth:`sample` and :meth:`beam_search` are the mixture's."""
        return self._mixture

    @mixture.setter
    def mixture(self, value: Optional[Mixture]) -> None:
        if value is not None and not isinstance(value, Mixture):
            raise TypeError(f"mixture must be a charrnn.mixture.Mixture or None, got {type(value).__name__}")
        if value is not None:
            self._check_mixable(value.ngram)
        self._mixture = value

    def _check_mixable(self, ngram: Any) -> None:
        """ValueError unless this model and ``ngram`` can be mixed (names mode, no
        categories, the same vocabulary ids)."""
        if self._mode != "names" or self.categories is not None:
            raise ValueError("a mixture takes a names-mode model without categories")
        vocab = getattr(ngram, "vocab", None)
        if vocab != self.vocab:
            size = len(vocab) if isinstance(vocab, Vocab) else "no"
            raise ValueError(
                f"the n-gram's vocabulary ({size} ids) is not the model's ({len(self.vocab)}): "
                "fit it with NGram.fit(train_items, vocab=model.vocab)"
            )

    def mix_with(self, ngram: Any, weights: Any = None, *, fit_on: Optional[Sequence[str]] = None) -> Mixture:
        """Mix this model with ``ngram`` (a names-mode :class:`~charrnn.ngram.NGram` fitted
        with ``vocab=model.vocab``) from now on: ``weights`` on the network, one per position
        (positions from ``len(weights) - 1`` on share the last), or fitted on the held-out
        names ``fit_on`` (:func:`charrnn.mixture.fit`).  Returns the mixture."""
        if (weights is None) == (fit_on is None):
            raise ValueError("give either weights or fit_on (held-out names to fit them on)")
        self._check_mixable(ngram)
        mixed = Mixture(ngram, weights) if fit_on is None else fit_mixture(self, ngram, fit_on)
        self.mixture = mixed
        return mixed

    def drop_mixture(self) -> Optional[Mixture]:
        """Back to the network alone; returns the mixture it had (or None)."""
        dropped, self._mixture = self._mixture, None
        return dropped

    # -- categories ------------------------------------------------------------------

    @property
    def conditional(self) -> bool:
        """Whether the model has categories."""
        return self.categories is not None

    @property
    def category_counts(self) -> Optional[tuple[int, ...]]:
        """Training items per category (in category order), or None when unknown."""
        return self._category_counts

    @category_counts.setter
    def category_counts(self, counts: Optional[Union[Sequence[int], Mapping[str, int]]]) -> None:
        if counts is None:
            self._category_counts: Optional[tuple[int, ...]] = None
            return
        if self.categories is None:
            raise ValueError("category_counts needs a conditional model (categories=[...])")
        if isinstance(counts, Mapping):
            unknown = sorted(set(counts) - set(self.categories))
            if unknown:
                raise ValueError(f"category_counts names unknown categories: {', '.join(map(str, unknown))}")
            counts = [counts.get(name, 0) for name in self.categories]
        values = tuple(counts)
        if len(values) != len(self.categories):
            raise ValueError(f"category_counts needs {len(self.categories)} counts, got {len(values)}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"category_counts must be non-negative integers, got {v!r}")
        if sum(values) == 0:
            raise ValueError("category_counts must not all be zero")
        self._category_counts = tuple(int(v) for v in values)

    def category_id(self, category: Category) -> int:
        """The id of ``category`` (a name, or an id which is checked)."""
        if self.categories is None:
            raise ValueError("this model has no categories (it was not built with categories=[...])")
        if isinstance(category, str):
            if category not in self.categories:
                raise ValueError(
                    f"unknown category {category!r}; this model's categories are {', '.join(self.categories)}"
                )
            return self.categories.index(category)
        if isinstance(category, (int, np.integer)) and not isinstance(category, bool):
            if not 0 <= category < len(self.categories):
                raise ValueError(f"category id {category} is outside 0..{len(self.categories) - 1}")
            return int(category)
        raise TypeError(f"a category is a name or an id, got {category!r}")

    def _category_ids(self, category: Union[None, Category, Sequence[Category]], n: int) -> Optional[list[int]]:
        """One category id per item for ``n`` items (None for an unconditional model)."""
        if self.categories is None:
            if category is not None:
                raise ValueError("this model has no categories (it was not built with categories=[...]); drop category")
            return None
        if category is None:
            raise ValueError(f"this model is conditional: give a category ({', '.join(self.categories)})")
        if isinstance(category, (str, int, np.integer)):
            return [self.category_id(category)] * n
        ids = [self.category_id(c) for c in category]
        if len(ids) != n:
            raise ValueError(f"{n} items but {len(ids)} categories")
        return ids

    def _batch_categories(self, batch: Batch) -> Optional[np.ndarray]:
        """The batch's category ids in this model's numbering (checked)."""
        if batch.categories is None:
            if self.categories is not None:
                raise ValueError(
                    f"this model is conditional (categories: {', '.join(self.categories)}): every item needs a "
                    f"category; pass a charrnn.Labelled list (or category=...)"
                )
            return None
        if self.categories is None:
            raise ValueError(
                "the items carry categories but the model is not conditional; build it with CharRNN(..., categories=[...])"
            )
        names = batch.category_names
        if names is None or tuple(names) == self.categories:
            ids = np.ascontiguousarray(batch.categories, dtype=np.int32)
            if ids.size and (ids.min() < 0 or ids.max() >= len(self.categories)):
                raise ValueError(f"category ids must be in 0..{len(self.categories) - 1}")
            return ids
        unknown = [n for n in names if n not in self.categories]
        if unknown:
            raise ValueError(
                f"the items' categories {', '.join(unknown)} are not among this model's ({', '.join(self.categories)})"
            )
        remap = np.array([self.categories.index(n) for n in names], dtype=np.int32)
        return np.ascontiguousarray(remap[batch.categories])

    def _core_params(self) -> tuple[list[np.ndarray], Optional[np.ndarray]]:
        """``(params for _core, category embedding or None)``."""
        params = self.params_list()
        if self.categories is None:
            return params, None
        return params[:-1], params[-1]

    # -- parameters ------------------------------------------------------------------

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter, in ``_core``'s order (a conditional model's
        ``category.weight`` last: ``_core`` takes it as ``category_embedding``)."""
        key = (len(self.vocab), self.cell, self.hidden, self.layers, self.embed, self.category_dim, self.categories)
        cached = getattr(self, "_shapes", None)
        if cached is not None and cached[0] == key:  # called once or twice per training step
            return dict(cached[1])
        V, E, H, G = len(self.vocab), self.embed, self.hidden, GATES[self.cell]
        shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (V, E)}
        for k in range(self.layers):
            shapes[f"rnn.weight_ih_l{k}"] = (G * H, E + self.category_dim if k == 0 else H)
            shapes[f"rnn.weight_hh_l{k}"] = (G * H, H)
            shapes[f"rnn.bias_ih_l{k}"] = (G * H,)
            shapes[f"rnn.bias_hh_l{k}"] = (G * H,)
        shapes["fc.weight"] = (V, H)
        shapes["fc.bias"] = (V,)
        if self.categories is not None:
            shapes["category.weight"] = (len(self.categories), self.category_dim)
        self._shapes = (key, shapes)
        return dict(shapes)

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        # PyTorch's defaults: nn.Embedding ~ N(0, 1); nn.LSTM/GRU/RNN ~ U(-1/sqrt(H), 1/sqrt(H))
        # for every weight and bias; nn.Linear ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = H.
        bound = 1.0 / math.sqrt(self.hidden)
        params = {}
        for name, shape in self.param_shapes().items():
            if name in ("embedding.weight", "category.weight"):
                value = rng.standard_normal(shape)
            else:
                value = rng.uniform(-bound, bound, shape)
            params[name] = np.ascontiguousarray(value, dtype=np.float32)
        return params

    def params_list(self) -> list[np.ndarray]:
        """The parameters as the list ``_core`` takes (same arrays, not copies); for a
        conditional model the last one is ``category.weight``, which ``_core`` takes
        separately, as ``category_embedding``."""
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
            **({"mode": self._mode} if self._mode != "names" else {}),
            **(
                {}
                if self.categories is None
                else {
                    "categories": list(self.categories),
                    "category_dim": self.category_dim,
                    "category_counts": None if self._category_counts is None else list(self._category_counts),
                }
            ),
        }

    def __repr__(self) -> str:
        cats = (
            "" if self.categories is None else f", categories={list(self.categories)}, category_dim={self.category_dim}"
        )
        mixed = "" if self._mixture is None else f", mixed with a {self._mixture.ngram.order}-gram"
        return (
            f"CharRNN(cell={self.cell!r}, hidden={self.hidden}, layers={self.layers}, "
            f"embed={self.embed}, vocab={len(self.vocab)}{cats}, params={self.num_params:,}{mixed})"
        )

    # -- loss ------------------------------------------------------------------------

    def forward_backward(
        self,
        batch: Batch,
        state: State = None,
        compute_grad: bool = True,
        dropout: Union[float, Dropout] = 0.0,
        seed: int = 0,
        details: bool = False,
    ) -> Pass:
        """One pass of the network over ``batch`` from ``state`` (``(h0, c0)``, None:
        zeros): the only place the package calls ``_core.forward_backward``.

        Returns a :class:`Pass`: the summed NLL (nats) over the batch's real positions,
        the same per sequence, the gradients of the summed NLL in :meth:`params_list`
        order (None with ``compute_grad=False``) and the final state ``(h_n, c_n)``.
        No gradient flows into ``state`` (that is what truncates backpropagation through
        time in text mode).  ``dropout`` (training only; a number drops the inputs of
        layers 1.. and of the output layer, a :class:`~charrnn.dropout.Dropout` says which
        dropouts) draws its masks from ``seed``; ``details`` puts them in :attr:`Pass.masks`
        (the dict ``charrnn.reference.forward_backward(masks=)`` takes) and the NLL of every
        position in :attr:`Pass.position_nll`.
        """
        dropout = as_dropout(dropout)
        params, category_embedding = self._core_params()
        h0, c0 = (None, None) if state is None else state
        loss_sum, seq_loss, grads, h_n, c_n, *extra = _core.forward_backward(
            self.cell,
            params,
            batch.ids,
            batch.targets,
            batch.lengths,
            h0=h0,
            c0=c0,
            compute_grad=compute_grad,
            seed=int(seed),
            categories=self._batch_categories(batch),
            category_embedding=category_embedding,
            details=details,
            **dropout.kernel_kwargs(),
        )
        if not extra:
            return Pass(float(loss_sum), seq_loss, grads, (h_n, c_n))
        return Pass(float(loss_sum), seq_loss, grads, (h_n, c_n), extra[0]["masks"], extra[0]["position_nll"])

    def loss_and_grads(
        self, batch: Batch, compute_grad: bool = True, dropout: Union[float, Dropout] = 0.0, seed: int = 0
    ) -> tuple[float, Optional[dict[str, np.ndarray]]]:
        """Summed NLL (nats) of ``batch`` and its gradient for every parameter (by name),
        from a zero state (see :meth:`forward_backward`).

        The loss is a *sum* over the batch's ``batch.n_chars`` real positions; divide both
        by that number for the mean per character.  ``compute_grad=False`` returns None
        for the gradients and is cheaper.
        """
        out = self.forward_backward(batch, compute_grad=compute_grad, dropout=dropout, seed=seed)
        if out.grads is None:
            return out.loss_sum, None
        return out.loss_sum, dict(zip(self.param_shapes(), out.grads, strict=True))

    def _labelled(self, items: Sequence[str], category: Union[None, Category, Sequence[Category]]) -> Sequence[str]:
        """``items`` labelled with ``category`` (one for all, or one per item), when given."""
        if category is None:
            return items
        if isinstance(items, Labelled):
            raise ValueError("give either labelled items or category=, not both")
        ids = self._category_ids(category, len(items))
        assert self.categories is not None and ids is not None
        return Labelled(items, ids, self.categories)

    def log_probs(
        self,
        items: Sequence[str],
        batch_size: int = 256,
        category: Union[None, Category, Sequence[Category]] = None,
    ) -> np.ndarray:
        """Natural log-probability of each item, end marker included (float64 array).

        A conditional model needs each item's category: ``items`` is a
        :class:`charrnn.Labelled` list, or ``category`` gives one for all or one per item.
        """
        if len(items) == 0:
            return np.zeros(0, dtype=np.float64)
        if self._mixture is not None:
            return self._mixed_log_probs(items, batch_size, category)
        items = self._labelled(items, category)
        out = np.zeros(len(items), dtype=np.float64)
        for batch in NameBatches(items, self.vocab, batch_size=batch_size, shuffle=False):
            seq_loss = self.forward_backward(batch, compute_grad=False).seq_loss
            out[batch.index] = -np.asarray(seq_loss, dtype=np.float64)
        return out

    def _mixed_log_probs(self, items: Sequence[str], batch_size: int, category: Any) -> np.ndarray:
        """:meth:`log_probs` of the mixture: per item, the sum over its predicted symbols of
        ``log(w * P_net + (1 - w) * P_ngram)`` (:mod:`charrnn.mixture`)."""
        assert self._mixture is not None
        if category is not None:
            raise ValueError("this model has no categories (it was not built with categories=[...]); drop category")
        if isinstance(items, str):
            raise TypeError("items must be a list of names, not one string")
        items = list(items)
        probs = self._mixture.mixed_probs(network_position_probs(self, items, batch_size), items)
        lengths = [len(self.vocab.encode(item)) + 1 for item in items]
        return np.bincount(np.repeat(np.arange(len(items)), lengths), weights=np.log(probs), minlength=len(items))

    def log_prob(self, text: str, category: Optional[Category] = None) -> float:
        """Natural log-probability the model gives the whole of ``text``, end marker included
        (given ``category`` for a conditional model)."""
        return float(self.log_probs([text], category=category)[0])

    def evaluate(
        self,
        items: Sequence[str],
        batch_size: int = 256,
        category: Union[None, Category, Sequence[Category]] = None,
    ) -> dict[str, float]:
        """``{"nll", "ppl", "bpc", "chars"}`` on ``items``: NLL (nats) per predicted character,
        every character and each item's end marker counted.  ``category`` as in
        :meth:`log_probs`."""
        if len(items) == 0:
            raise ValueError("cannot evaluate on an empty list")
        total = -float(self.log_probs(items, batch_size=batch_size, category=category).sum())
        chars = sum(len(self.vocab.encode(item)) + 1 for item in items)
        return summarize(total, chars)

    def perplexity(self, items: Sequence[str], category: Union[None, Category, Sequence[Category]] = None) -> float:
        """exp(NLL per character) on ``items``."""
        return self.evaluate(items, category=category)["ppl"]

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
        category: Union[None, Category, Sequence[Category]] = None,
        *,
        starts_with: str = "",
        ends_with: str = "",
        contains: Union[str, Sequence[str]] = (),
        regex: Optional[str] = None,
        min_len: Optional[int] = None,
        resample: Optional[int] = None,
    ) -> list[str]:
        """Generate ``n`` items, each ``prefix`` + what the model writes after it.

        ``temperature`` > 0 sharpens (< 1) or flattens (> 1) the distribution; ``top_k``
        keeps only the k most likely characters at each step (``top_k=1`` is greedy);
        ``top_p`` in (0, 1] keeps only the fewest most likely characters whose
        probabilities add up to ``top_p`` (nucleus sampling); ``max_len`` caps the total
        length in characters, prefix included.  The same ``seed`` gives the same items on
        any machine; ``seed=None`` draws one from the model's own generator (seeded by the
        model's seed), so repeated calls differ.  A conditional model needs ``category``: one
        name (or id) for all ``n`` items, or a list of ``n``.

        Constraints (``starts_with``, ``ends_with``, ``contains`` — one string or several —
        ``regex``, matching the whole item, and ``min_len``) are applied while drawing, in
        the Rust sampler (see :mod:`charrnn.constraints`): every item meets them, prefix
        included, and none is longer than ``max_len`` (without a constraint an item that
        reaches ``max_len`` is cut there).  A constraint no item can meet is a
        ``ValueError``.  Masking renormalises step by step, which over-draws strange items;
        so each item is chosen among ``resample`` candidates (default
        :data:`~charrnn.constraints.DEFAULT_RESAMPLE`, 16) in proportion to its importance
        weight, which brings the items close to the model's distribution conditioned on the
        constraint (``resample=1``: plain masking, 16 times less work).
        """
        n = positive_int(n, "n")
        max_len = positive_int(max_len, "max_len")
        resample = DEFAULT_RESAMPLE if resample is None else positive_int(resample, "resample")
        temperature, top_k, top_p = sampling_options(temperature, top_k, top_p)
        prefix_ids = self.vocab.encode(prefix)
        if len(prefix_ids) > max_len:
            raise ValueError(f"prefix has {len(prefix_ids)} characters, more than max_len={max_len}")
        if seed is None:
            seed = int(self._sample_rng.integers(0, 2**63))
        elif seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        rule = NameConstraint(starts_with, ends_with, contains, regex, min_len)
        constraint = rule.compile(self.vocab, max_len) if rule.active else None
        draws = n * resample if constraint is not None else n
        categories = self._category_ids(category, n)
        if categories is not None and draws != n:
            categories = [c for c in categories for _ in range(resample)]
        params, category_embedding = self._core_params()
        drawn, log_weights = _core.sample(
            self.cell,
            params,
            draws,
            self.vocab.bos_id,
            self.vocab.eos_id,
            # With a constraint the end marker must fit after max_len characters.
            max_len - len(prefix_ids) + (constraint is not None),
            temperature=float(temperature),
            top_k=top_k,
            prefix=prefix_ids,
            seed=int(seed),
            banned=[self.vocab.pad_id, self.vocab.bos_id],
            top_p=float(top_p),
            categories=categories,
            category_embedding=category_embedding,
            constraint=constraint,
            log_weights=True,
            mixture=None if self._mixture is None else self._mixture.core(),
        )
        if draws != n:
            drawn = resample_draws(drawn, log_weights, resample, seed)
        prefix = self.vocab.decode(prefix_ids)  # the NFC form of the prefix
        return [prefix + self.vocab.decode(ids) for ids in drawn]

    def beam_search(
        self,
        prefix: str = "",
        beam: int = 5,
        max_len: int = DEFAULT_MAX_LEN,
        category: Optional[Category] = None,
    ) -> list[tuple[str, float]]:
        """The ``beam`` most likely items that start with ``prefix`` and are at most
        ``max_len`` characters long (prefix included), best first, each with the natural
        log-probability of its completion *given the prefix* (the characters after the
        prefix and the end marker).  Deterministic; may return fewer than ``beam`` when
        fewer completions fit in ``max_len``.  A conditional model needs ``category``."""
        beam = positive_int(beam, "beam")
        max_len = positive_int(max_len, "max_len")
        prefix_ids = self.vocab.encode(prefix)
        if len(prefix_ids) > max_len:
            raise ValueError(f"prefix has {len(prefix_ids)} characters, more than max_len={max_len}")
        ids = self._category_ids(category, 1)
        params, category_embedding = self._core_params()
        found = _core.beam_search(
            self.cell,
            params,
            self.vocab.bos_id,
            self.vocab.eos_id,
            prefix_ids,
            beam,
            max_len - len(prefix_ids) + 1,  # the characters after the prefix, and the end marker
            banned=[self.vocab.pad_id, self.vocab.bos_id],
            category=None if ids is None else ids[0],
            category_embedding=category_embedding,
            mixture=None if self._mixture is None else self._mixture.core(),
        )
        prefix = self.vocab.decode(prefix_ids)
        return [(prefix + self.vocab.decode(seq), float(logp)) for seq, logp in found]

    # -- continuous text (see charrnn.text) --------------------------------------------

    def generate_text(
        self,
        prime: str = "",
        length: int = 1000,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        seed: Optional[int] = None,
        chunk: int = 64,
    ) -> Iterator[str]:
        """Yield ``length`` characters of text, ``chunk`` at a time, continuing ``prime``
        (the state is warmed on it; it is not yielded).  Joined, the chunks are the same
        text for any ``chunk``; the options are :meth:`sample`'s.  See
        :func:`charrnn.text.generate_text`."""
        from .text import generate_text

        return generate_text(self, prime, length, temperature, top_k, top_p, seed, chunk)

    def evaluate_text(self, text: str, batch_size: int = 50, seq_len: int = 50) -> dict[str, float]:
        """``{"nll", "ppl", "bpc", "chars"}`` over the whole of ``text`` read as one stream
        (``batch_size`` streams, ``seq_len`` characters per chunk, state carried).  See
        :func:`charrnn.text.evaluate_text`."""
        from .text import evaluate_text

        return evaluate_text(self, text, batch_size, seq_len)

    # -- persistence -----------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], extra: Optional[dict[str, Any]] = None) -> None:
        """Write the model to a safetensors checkpoint (see :mod:`charrnn.checkpoint`)."""
        checkpoint.save(self, path, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharRNN:
        """Read a model written by :meth:`save`."""
        return load(path)


def load(path: str | os.PathLike[str]) -> CharRNN:
    """Read a model written by :meth:`CharRNN.save` (or by training), checking everything
    it can.  ``path`` may also name a model shipped with the package
    (``load("ru-first-female")``, see :mod:`charrnn.pretrained`).

    Raises FileNotFoundError (no file) or :class:`~charrnn.errors.CheckpointError` (not
    safetensors, truncated, not a charrnn checkpoint, unknown format version, bad
    metadata, missing or mis-shaped tensors).
    """
    path = resolve_model(path)
    metadata, tensors = checkpoint._read(path)  # noqa: SLF001 - the format's own reader
    return model_from_checkpoint(path, metadata, tensors)


def pretrained(name: str) -> CharRNN:
    """The model shipped with the package under ``name`` (``charrnn models`` lists them)."""
    return load(model_path(name))


def model_from_checkpoint(path: str, metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> CharRNN:
    """The model a checkpoint's metadata and tensors describe, checked (see :func:`load`)."""
    vocab, config, kwargs = checkpoint.model_arguments(path, metadata, tensors, CELLS)
    try:
        model = CharRNN(vocab, **kwargs)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad model config {config!r} ({e})") from None
    checkpoint.check_weights(path, model.param_shapes(), tensors)
    model.set_params(tensors)
    mixed = mixture_from_checkpoint(path, metadata, tensors, vocab)
    if mixed is not None:
        if model.mode != "names" or model.conditional:
            raise CheckpointError(f"{path}: a mixture needs a names-mode model without categories")
        model.mixture = mixed
        logger.info("%s: %s (sampled and scored as the mixture)", path, mixed.describe())
    return model
