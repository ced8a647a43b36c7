"""The counting baseline: a character n-gram model with interpolated Kneser-Ney smoothing.

Before training a network, count.  An n-gram model predicts each character from the
``n - 1`` characters before it, using nothing but how often each string of ``n``
characters occurred in the training data.  It fits in seconds, and its validation NLL is
the number every neural model must beat::

    import charrnn
    from charrnn.ngram import NGram

    names = charrnn.datasets.russian_names("first")
    train, val = charrnn.split(names, val_fraction=0.1, seed=0)
    model = NGram.fit(train, order=4)
    model.nll(train), model.nll(val)        # nats per character, as `charrnn train` reports them
    model.sample(5, seed=0)                 # -> five new names
    model.save("first.ngram.safetensors"); NGram.load("first.ngram.safetensors")

**What is counted.**  Exactly what the network is scored on (:mod:`charrnn.data`,
:mod:`charrnn.text`).  A name ``x1 .. xn`` is the sequence ``<s> x1 .. xn </s>``; the
model predicts ``x1 .. xn`` and the end marker ``</s>`` (``n + 1`` characters) from what
comes before, and the start marker ``<s>`` is never predicted.  A text (``mode="text"``)
is one long sequence; its first character is only context (the network cannot predict
it either: it has nothing before it), every later one is predicted.  Internally a text
also starts with ``<s>``, so that "the start" is a context like any other; there is no
end marker in text.  The NLL is the sum of ``-log P`` over the predicted characters
divided by their number: nats per character, comparable with ``charrnn train``'s
``train_nll``/``val_nll``.

**The history stops at the start.**  To predict ``x3`` of a 5-gram model the history is
``<s> x1 x2`` (three symbols, not four): nothing comes before ``<s>``.  So near the start
of a sequence the longest n-gram is shorter than ``n``, and it begins with ``<s>``.

**Interpolated Kneser-Ney** (Chen & Goodman 1998, "An empirical study of smoothing
techniques for language modeling"; the same rules as KenLM).  Write ``h`` for a history
of ``k - 1`` symbols, ``h'`` for ``h`` without its first symbol, and ``a(h w)`` for the
*count* of the k-gram ``h w`` at order ``k``, defined below.  Then::

    P_k(w | h) = max(a(h w) - D(a(h w)), 0) / A(h)  +  gamma(h) * P_{k-1}(w | h')

    A(h)     = sum of a(h v) over every v        (how often h was seen as a history)
    gamma(h) = sum of D(a(h v)) over every v / A(h)   (the mass the discounts took away)

Every seen k-gram gives up a little of its count (the discount ``D``), and that mass is
shared out in proportion to the shorter history's distribution.  A history never seen
(``A(h) = 0``) passes everything down: ``P_k(w | h) = P_{k-1}(w | h')``.  At the bottom,
``P_0(w) = 1 / |W|``, uniform over the outcomes ``W`` (the characters, plus ``</s>`` for
names).  The recursion starts at the longest history available (``n - 1`` symbols, or
fewer near the start) and every level sums to 1 over ``W``, so the whole does.

*Which count.*  At the highest order, ``a`` is the plain count ``c``.  At lower orders it is
the **continuation count**: ``a(g) = N1+(. g)``, the number of *different* symbols seen
just before ``g``.  A lower order is only consulted when the longer history was rare, so
what matters is in how many contexts ``g`` appears, not how often: "к</s>" ends many
surnames after many letters, while "ёк" is frequent only inside a few names.  An n-gram
that begins with ``<s>`` has nothing before it, so it keeps its plain count.

*Which discount.*  Modified Kneser-Ney (the default, ``modified=True``) uses three
discounts per order, for counts of 1, 2 and 3 or more, estimated from the
*count-of-counts* ``n_j`` (how many k-grams have count exactly ``j``)::

    Y = n1 / (n1 + 2 n2);  D1 = 1 - 2Y n2/n1;  D2 = 2 - 3Y n3/n2;  D3+ = 3 - 4Y n4/n3

(``modified=False``: one discount ``D = Y`` for every count, the original interpolated
Kneser-Ney.)  On data too small for the estimate (``n1``, ``n2`` or, for modified, ``n3``
of 0, or a discount outside ``(0, j]``) that order uses KenLM's fallback discounts 0.5, 1 and 1.5.  At order 1
every outcome of a model fitted on its own data was seen, so nothing needs the mass and
the unigram is the plain relative frequency (``D = 0``): an order-1 model *is* the unigram
counts model.  A vocabulary larger than the data (``vocab=`` a bigger alphabet, as the text
mode of the command line uses: every character of the file) makes the unigram discount
its counts too, so that unseen characters keep a small share of ``1 / |W|``.

**Unknown characters.**  A character outside the model's vocabulary raises
:class:`~charrnn.errors.UnknownCharacterError` (naming it), like the network does; there is
no unknown-character probability, which would hide the problem and flatter the NLL.

**How it is stored.**  Each k-gram gets a number (its *id*), order by order: the key of a
k-gram is ``id of its first k - 1 symbols * B + its last symbol`` (``B`` = the vocabulary
size), and its id is the rank of that key among the sorted keys of order ``k``.  So the
counts of one order are a few numpy arrays sorted by key (a trie laid out flat), the
k-grams that share a history are neighbours, and looking one up is a binary search
(``np.searchsorted``).  All of counting is one sort of the sequence's keys per order
(:func:`_unique`): order 7 on 180,000 surnames takes about a second (docs/ngram.md).

Files are safetensors (the counts as tensors, the vocabulary and options as JSON
metadata, a SHA-256 over both); no pickle.  Loading recomputes the probabilities from the
counts with the same code as fitting, so a loaded model gives bit-identical numbers.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from .checks import positive_int as _positive
from .errors import CheckpointError, DataError, UnknownCharacterError
from .metrics import summarize
from .text import encode_text, text_vocab
from .vocab import BOS, EOS, Vocab

__all__ = ["NGram", "estimate_discounts", "baseline", "DEFAULT_ORDER", "FALLBACK_DISCOUNTS", "FORMAT"]

logger = logging.getLogger(__name__)

DEFAULT_ORDER = 6  # within 0.01 nats/char of the best order on each task of docs/ngram.md
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback: for counts 1, 2, 3+
DEFAULT_MAX_LEN = 50  # the longest name `sample` writes (as CharRNN.sample), in characters
MODES = ("names", "text")
FORMAT = "charrnn-ngram"  # the safetensors metadata 'format' of a saved n-gram model
FORMAT_VERSION = "1"


# -- the discounts ---------------------------------------------------------------------


def estimate_discounts(count_of_counts: Sequence[int], modified: bool = True) -> tuple[float, float, float]:
    """The discounts ``(D1, D2, D3+)`` of one order, subtracted from k-grams seen once,
    twice, and three times or more, from ``count_of_counts = (n1, n2, n3, n4)`` (how many
    k-grams have count 1, 2, 3, 4).  Chen & Goodman's estimates; the fallback
    :data:`FALLBACK_DISCOUNTS` when the data are too few for them."""
    n1, n2, n3, n4 = (float(n) for n in count_of_counts)
    if n1 == 0 or n2 == 0 or (modified and (n3 == 0)):
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    if not modified:
        return (y, y, y)  # y is in (0, 1): a valid discount for every count
    discounts = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < d <= j for j, d in enumerate(discounts, start=1)):
        return FALLBACK_DISCOUNTS
    return discounts


# -- sequences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sequences:
    """Sequences laid end to end in one array, with what the counting needs to know.

    ``symbols[t]`` is a vocabulary id; ``back[t]`` how many symbols of the same sequence
    come before position ``t`` (0 at each ``<s>``), so the k-gram ending at ``t`` exists
    when ``back[t] >= k - 1``; ``item[t]`` the index of the sequence ``t`` belongs to;
    ``predicted[t]`` whether position ``t`` is scored (see the module docstring)."""

    symbols: np.ndarray
    back: np.ndarray
    item: np.ndarray
    predicted: np.ndarray


def _encode_all(texts: Sequence[str], vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """The vocabulary ids of all ``texts`` end to end (NFC first, as :meth:`Vocab.encode`),
    and the length of each.  Vectorised: the characters' code points are looked up in the
    vocabulary's, which are sorted.  Raises :class:`UnknownCharacterError` like ``encode``."""
    texts = [unicodedata.normalize("NFC", t) for t in texts]
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    known = np.array([ord(c) for c in vocab.chars], dtype=np.int64)  # sorted, as the ids
    at = np.minimum(np.searchsorted(known, points), max(len(known) - 1, 0))
    bad = np.flatnonzero(known[at] != points) if len(known) else np.arange(len(points))
    if len(bad):  # name the first unknown character and the item (or the text around it)
        ends = np.cumsum(lengths)
        which = int(np.searchsorted(ends, bad[0], side="right"))
        text, i = texts[which], int(bad[0] - (ends[which] - lengths[which]))
        raise UnknownCharacterError(text[i], text if len(text) <= 60 else text[max(0, i - 20) : i + 20])
    return at + Vocab.n_markers, lengths


def _sequences(ids: np.ndarray, lengths: np.ndarray, mode: str) -> _Sequences:
    """``<s> x1 .. xn </s>`` per name, or ``<s> x1 x2 ..`` per text, from the ids of all
    the items end to end (``ids``) and the length of each (``lengths``)."""
    extra = 2 if mode == "names" else 1  # the markers each sequence gets
    sizes = lengths + extra
    starts = np.cumsum(sizes) - sizes  # where each sequence begins (its <s>)
    symbols = np.full(int(sizes.sum()), EOS, dtype=np.int64)  # names end with </s>
    symbols[starts] = BOS
    item = np.repeat(np.arange(len(lengths), dtype=np.int64), sizes)
    back = np.arange(len(symbols), dtype=np.int64) - starts[item]
    inside = (back >= 1) & (back <= lengths[item])  # the characters themselves
    symbols[inside] = ids
    # names: everything after <s>; text: everything after <s> and the first character
    predicted = back >= (1 if mode == "names" else 2)
    return _Sequences(symbols, back, item, predicted)


def _shift(ids: np.ndarray) -> np.ndarray:
    """``ids`` moved one position right: ``out[t] = ids[t - 1]`` (``-1`` at ``t = 0``)."""
    out = np.empty_like(ids)
    out[0:1] = -1
    out[1:] = ids[:-1]
    return out


def _find(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The index of each of ``wanted`` in the sorted array ``keys``, ``-1`` where absent."""
    if len(keys) == 0:
        return np.full(wanted.shape, -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, at, -1)


def _unique(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True, return_counts=True)`` for non-negative
    int64 ``codes``: the sorted distinct values, the index of each code among them, and how
    often each occurs.  Faster than ``np.unique`` (which sorts indices, ``argsort``): each
    code's position is packed into its low bits, so one plain ``np.sort`` of numbers sorts
    the codes and says where each came from (about 5x faster on millions of codes)."""
    n = len(codes)
    shift = max(n.bit_length(), 1)  # bits that hold a position
    if n == 0 or int(codes.max()) >= 1 << (62 - shift):  # would not fit in 63 bits
        keys, inverse, count = np.unique(codes, return_inverse=True, return_counts=True)
        return keys, inverse.reshape(-1), count
    packed = np.sort((codes << shift) | np.arange(n, dtype=np.int64))
    ordered, where = packed >> shift, packed & ((1 << shift) - 1)
    first = np.ones(n, dtype=bool)  # where a new value starts in the sorted codes
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(n, dtype=np.int64)
    inverse[where] = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    return ordered[starts], inverse, np.diff(np.append(starts, n))


# -- one order's counts and probabilities ----------------------------------------------------


@dataclass
class _Order:
    """The k-grams of one order ``k``, sorted by key.

    Counted from the data: ``keys`` (``context id * B + last symbol``, where the context
    id is the id of the first ``k - 1`` symbols at order ``k - 1``), ``count`` (times
    seen), ``suffix`` (the id at order ``k - 1`` of the last ``k - 1`` symbols) and
    ``bos`` (whether the k-gram begins with ``<s>``).  Estimated from those
    (:meth:`NGram._estimate`): ``a`` (the Kneser-Ney count), ``discounts``, ``alpha``
    (each k-gram's discounted share of its context) and ``gamma`` (per context id, the
    weight of the order below; 1 for a context never seen)."""

    keys: np.ndarray
    count: np.ndarray
    suffix: np.ndarray
    bos: np.ndarray
    a: np.ndarray = field(default_factory=lambda: np.zeros(0))
    discounts: tuple[float, float, float] = (0.0, 0.0, 0.0)
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gamma: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.keys)


def _count_order(seqs: _Sequences, k: int, shorter: np.ndarray, B: int) -> tuple[_Order, np.ndarray]:
    """Count the k-grams of ``seqs``, given ``shorter[t]``, the id of the (k-1)-gram ending
    at each position (all 0 for k = 1: the empty history).  Returns the order's table and
    the id of the k-gram ending at each position (-1 where none fits)."""
    ends = np.flatnonzero(seqs.back >= k - 1)  # positions where a k-gram ends
    context = (_shift(shorter) if k > 1 else shorter)[ends]  # its first k-1 symbols
    keys, inverse, count = _unique(context * B + seqs.symbols[ends])
    ids = np.full(len(seqs.symbols), -1, dtype=np.int64)
    ids[ends] = inverse
    # Every occurrence of a k-gram has the same suffix and the same first symbol, so
    # writing them from all occurrences at once leaves the right value for each.
    suffix = np.empty(len(keys), dtype=np.int64)
    suffix[inverse] = shorter[ends]  # the (k-1)-gram ending at the same place
    bos = np.empty(len(keys), dtype=bool)
    bos[inverse] = seqs.symbols[ends - (k - 1)] == BOS  # does the k-gram begin with <s>?
    return _Order(keys=keys.astype(np.int64), count=count.astype(np.int64), suffix=suffix, bos=bos), ids


# -- the model ---------------------------------------------------------------------------


class NGram:
    """A character n-gram model with interpolated (modified) Kneser-Ney smoothing.

    Make one with :meth:`fit` (or :meth:`load`).  ``order`` is n: the model sees ``n - 1``
    characters of history.  ``mode`` is ``"names"`` (a list of independent items, each
    ending with the end marker) or ``"text"`` (one continuous text).  See the module
    docstring for the formulas."""

    def __init__(self, vocab: Vocab, order: int, mode: str, modified: bool, orders: list[_Order]) -> None:
        self.vocab = vocab
        self.order = order
        self.mode = mode
        self.modified = modified
        self._orders = orders  # _orders[k - 1] holds the k-grams
        self._B = len(vocab)
        # The outcomes W: what can come next.  Never the padding or the start marker,
        # and the end marker only for names.
        self._outcome = np.zeros(self._B, dtype=bool)
        self._outcome[Vocab.n_markers :] = True
        self._outcome[EOS] = mode == "names"
        self._estimate()
        self._core_table: Any = None  # the Rust sampler's tables (core_table), built on first use

    # -- fitting ------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        data: Union[Sequence[str], str],
        order: int = DEFAULT_ORDER,
        mode: str = "names",
        modified: bool = True,
        vocab: Optional[Vocab] = None,
    ) -> NGram:
        """Count the n-grams of ``data``: a list of names (``mode="names"``) or one text
        (``mode="text"``).  ``vocab`` defaults to the characters of ``data``; a larger one
        gives its extra characters a small probability (see the module docstring).

        Raises ValueError (bad ``order``/``mode``), :class:`~charrnn.errors.DataError` (no
        data) or :class:`~charrnn.errors.UnknownCharacterError` (a character of ``data``
        missing from ``vocab``)."""
        if isinstance(order, bool) or not isinstance(order, numbers.Integral):
            raise TypeError(f"order must be an integer, got {order!r}")
        if order < 1:
            raise ValueError(f"order must be at least 1 (1: unigram, 2: bigram, ...), got {order}")
        order = int(order)
        if mode not in MODES:
            raise ValueError(f"mode must be 'names' or 'text', got {mode!r}")
        started = time.perf_counter()
        if mode == "names":
            texts = _check_items(data)
            if vocab is None:
                vocab = Vocab.from_items(texts)
        else:
            texts = [_check_text(data)]
            if vocab is None:
                vocab = text_vocab(texts[0])
        seqs = _sequences(*_encode_all(texts, vocab), mode)
        B = len(vocab)
        orders = []
        ids = np.zeros(len(seqs.symbols), dtype=np.int64)  # order 0: the empty history, id 0
        for k in range(1, order + 1):
            table, ids = _count_order(seqs, k, ids, B)
            orders.append(table)
        model = cls(vocab, order, mode, modified, orders)
        logger.info(
            "fitted a %d-gram model on %d symbols in %.2fs (%s)",
            order,
            len(seqs.symbols),
            time.perf_counter() - started,
            ", ".join(f"{k}: {len(t):,}" for k, t in enumerate(orders, start=1)),
        )
        return model

    def _estimate(self) -> None:
        """The Kneser-Ney counts, discounts and interpolation weights of every order."""
        N, B = self.order, self._B
        for k, table in enumerate(self._orders, start=1):
            # The count of a k-gram: plain at the highest order and for k-grams that begin
            # with <s>; otherwise its continuation count, the number of different symbols
            # seen before it = the number of (k+1)-grams it is the suffix of.
            if k == N:
                a = table.count.copy()
            else:
                continuation = np.bincount(self._orders[k].suffix, minlength=len(table))
                a = np.where(table.bos, table.count, continuation)
            if k == 1:
                a = np.where(self._outcome[table.keys], a, 0)  # <s> is never an outcome
            count_of_counts = [int(np.count_nonzero(a == j)) for j in (1, 2, 3, 4)]
            discounts = estimate_discounts(count_of_counts, self.modified)
            if k == 1 and np.count_nonzero(a) == np.count_nonzero(self._outcome):
                discounts = (0.0, 0.0, 0.0)  # every outcome seen: plain relative frequencies
            # Each k-gram's discount, by its count (1, 2, 3+; 0 for a count of 0).
            d = np.where(a > 0, np.asarray(discounts)[np.clip(a, 1, 3) - 1], 0.0)
            # Sums over the k-grams that share a context (the context id is key // B).
            context = table.keys // B
            n_contexts = 1 if k == 1 else len(self._orders[k - 2])
            total = np.bincount(context, weights=a, minlength=n_contexts)  # A(h)
            taken = np.bincount(context, weights=d, minlength=n_contexts)  # what D took
            seen = total > 0
            table.a = a
            table.discounts = tuple(float(x) for x in discounts)  # type: ignore[assignment]
            table.alpha = (a - d) / np.where(seen, total, 1.0)[context]
            table.gamma = np.where(seen, taken / np.where(seen, total, 1.0), 1.0)

    # -- probabilities ------------------------------------------------------------------

    def _position_probs(self, seqs: _Sequences) -> np.ndarray:
        """``P(symbols[t] | what comes before it)`` at every position ``t``, all at once:
        the recursion of the module docstring, from order 0 up, one order per step."""
        B = self._B
        p = np.full(len(seqs.symbols), 1.0 / np.count_nonzero(self._outcome))  # P_0: uniform
        shorter = np.zeros(len(seqs.symbols), dtype=np.int64)  # ids of the (k-1)-grams ending at t
        for k, table in enumerate(self._orders, start=1):
            context = _shift(shorter) if k > 1 else shorter  # the k-1 symbols before t
            fits = seqs.back >= k - 1  # the history is long enough for order k
            context = np.where(fits, context, -1)
            ids = _find(table.keys, np.where(context >= 0, context * B + seqs.symbols, -1))
            alpha = np.where(ids >= 0, table.alpha[ids], 0.0)
            gamma = np.where(context >= 0, table.gamma[context], 1.0)
            p = np.where(fits, alpha + gamma * p, p)
            shorter = ids
        return p

    def next_probs(self, history: str = "") -> np.ndarray:
        """The distribution of the next symbol after ``history``, as a ``[len(vocab)]``
        float64 array over vocabulary ids (0 for the padding and start markers, and for the
        end marker in text mode; it sums to 1).  ``history`` is the start of a name (names
        mode) or text that has been written (text mode); "" is the very start."""
        encoded = self.vocab.encode(history) if self.mode == "names" else encode_text(history, self.vocab)
        return self._next_probs([BOS, *[int(i) for i in encoded]])

    def _next_probs(self, history: Sequence[int]) -> np.ndarray:
        B = self._B
        history = list(history)[-(self.order - 1) :] if self.order > 1 else []
        p = np.where(self._outcome, 1.0 / np.count_nonzero(self._outcome), 0.0)
        context = 0  # the id of the last k-1 symbols of the history; order 0: the empty one
        for k, table in enumerate(self._orders, start=1):
            if k > 1:  # the context of order k is the (k-1)-gram of the last k-1 symbols
                if k - 1 > len(history):
                    break  # the history stops at <s>: no longer context exists
                context = self._id(history[len(history) - (k - 1) :])
                if context < 0:
                    break  # never seen: every higher order only passes P down
            lo, hi = np.searchsorted(table.keys, [context * B, (context + 1) * B])
            p = table.gamma[context] * p
            p[table.keys[lo:hi] % B] += table.alpha[lo:hi]  # the k-grams seen after this context
        return p

    def _id(self, symbols: Sequence[int]) -> int:
        """The id of the k-gram ``symbols`` at order ``len(symbols)``, -1 if never seen."""
        gram = 0
        for k, s in enumerate(symbols, start=1):
            found = _find(self._orders[k - 1].keys, np.array([gram * self._B + s]))[0]
            if found < 0:
                return -1
            gram = int(found)
        return gram

    def _encode(self, data: Union[Sequence[str], str]) -> _Sequences:
        """The sequences of a list of names (names mode) or of one text (text mode)."""
        texts = _check_items(data, allow_empty=True) if self.mode == "names" else [_check_text(data)]
        return _sequences(*_encode_all(texts, self.vocab), self.mode)

    def predicted_probs(self, data: Union[Sequence[str], str]) -> np.ndarray:
        """``P(symbol | what comes before it)`` of every predicted symbol of a list of names
        (each name's characters, then its end marker, name after name) or of a text, as
        :meth:`evaluate` counts them: a float64 array."""
        seqs = self._encode(data)
        return self._position_probs(seqs)[seqs.predicted]

    def log_probs(self, items: Sequence[str]) -> np.ndarray:
        """Natural log-probability of each name, its end marker included (names mode), or
        of each text's characters after the first (text mode).  Float64 array."""
        if self.mode == "text" and isinstance(items, str):
            raise TypeError("log_probs takes a list of texts; for one text use log_prob(text)")
        texts = _check_items(items, allow_empty=True)
        if self.mode == "text":
            texts = [_check_text(t) for t in texts]
        seqs = _sequences(*_encode_all(texts, self.vocab), self.mode)
        logp = np.log(self._position_probs(seqs)[seqs.predicted])
        return np.bincount(seqs.item[seqs.predicted], weights=logp, minlength=len(items))

    def log_prob(self, text: str) -> float:
        """Natural log-probability of one name (end marker included) or one text."""
        return float(self.log_probs([text])[0])

    def evaluate(self, data: Union[Sequence[str], str]) -> dict[str, float]:
        """``{"nll", "ppl", "bpc", "chars"}`` on a list of names (names mode) or a text
        (text mode), per predicted character, counted as ``charrnn train`` counts them."""
        probs = self.predicted_probs(data)
        if probs.size == 0:
            raise DataError(
                "nothing to evaluate on: no items" if self.mode == "names" else "a text needs at least 2 characters"
            )
        return summarize(-float(np.log(probs).sum()), probs.size)

    def nll(self, data: Union[Sequence[str], str]) -> float:
        """Negative log-likelihood in nats per predicted character (see :meth:`evaluate`)."""
        return self.evaluate(data)["nll"]

    # -- sampling -----------------------------------------------------------------------

    def _draw(self, rng: np.random.Generator, history: list[int], temperature: float) -> int:
        p = self._next_probs(history)
        if temperature != 1.0:
            p = np.where(p > 0, np.exp(np.log(np.where(p > 0, p, 1.0)) / temperature), 0.0)
            p /= p.sum()
        return int(rng.choice(self._B, p=p))

    def sample(
        self, n: int = 10, seed: int = 0, temperature: float = 1.0, prefix: str = "", max_len: int = DEFAULT_MAX_LEN
    ) -> list[str]:
        """``n`` names drawn from the model (names mode), each ``prefix`` + what follows
        it until the end marker, cut at ``max_len`` characters.  ``temperature`` < 1 makes
        them safer, > 1 wilder; the same ``seed`` gives the same names.  Text models use
        :meth:`generate`."""
        if self.mode != "names":
            raise ValueError("this model was fitted on text: use generate(length) to write text")
        n, max_len = _positive(n, "n"), _positive(max_len, "max_len")
        temperature = _temperature(temperature)
        rng = np.random.default_rng(_seed(seed))
        start = [BOS, *self.vocab.encode(prefix)]
        names = []
        for _ in range(n):
            history = list(start)
            while len(history) - 1 < max_len:
                symbol = self._draw(rng, history, temperature)
                if symbol == EOS:
                    break
                history.append(symbol)
            names.append(self.vocab.decode(history))
        return names

    def generate(self, length: int = 1000, prime: str = "", seed: int = 0, temperature: float = 1.0) -> str:
        """``length`` characters of text continuing ``prime`` (not repeated in the result),
        from a text model.  The same ``seed`` gives the same text."""
        if self.mode != "text":
            raise ValueError("this model was fitted on names: use sample(n) to draw names")
        length = _positive(length, "length")
        temperature = _temperature(temperature)
        rng = np.random.default_rng(_seed(seed))
        history = [BOS, *[int(i) for i in encode_text(prime, self.vocab)]] if prime else [BOS]
        out = []
        for _ in range(length):
            symbol = self._draw(rng, history, temperature)
            out.append(symbol)
            history = history[-(self.order - 1) :] + [symbol] if self.order > 1 else []
        return self.vocab.decode(out)

    # -- describing -----------------------------------------------------------------------

    @property
    def discounts(self) -> list[tuple[float, float, float]]:
        """``(D1, D2, D3+)`` of each order, 1 first."""
        return [t.discounts for t in self._orders]

    @property
    def ngram_counts(self) -> list[int]:
        """How many different k-grams the data hold, for k = 1 .. order."""
        return [len(t) for t in self._orders]

    def config(self) -> dict[str, Any]:
        return {"order": self.order, "mode": self.mode, "modified": self.modified}

    def __repr__(self) -> str:
        kind = "modified Kneser-Ney" if self.modified else "Kneser-Ney"
        return f"NGram(order={self.order}, mode={self.mode!r}, {kind}, {len(self.vocab)} ids, {sum(self.ngram_counts):,} n-grams)"

    # -- saving and loading -------------------------------------------------------------------

    def tensors(self) -> dict[str, np.ndarray]:
        """The counts as the tensors of a file (``order{k}.keys``, ``.count``, ``.suffix``,
        ``.bos``): what :meth:`save` writes, and a model file holding a mixture (under
        ``ngram.``)."""
        tensors: dict[str, np.ndarray] = {}
        for k, t in enumerate(self._orders, start=1):
            tensors[f"order{k}.keys"] = t.keys
            tensors[f"order{k}.count"] = t.count
            tensors[f"order{k}.suffix"] = t.suffix
            tensors[f"order{k}.bos"] = t.bos.astype(np.uint8)
        return tensors

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the counts (tensors) and the vocabulary and options (JSON metadata) to a
        safetensors file, atomically, with a SHA-256 over everything."""
        from safetensors.numpy import save as serialize

        from .checkpoint import _digest, atomic_write

        tensors = self.tensors()
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "vocab": self.vocab.to_json(),
            "config": json.dumps(self.config()),
        }
        metadata["sha256"] = _digest(metadata, tensors)
        atomic_write(path, serialize(tensors, metadata))
        logger.info("saved %r to %s", self, path)

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> NGram:
        """Read a model written by :meth:`save`.  Raises
        :class:`~charrnn.errors.CheckpointError` for anything else or a damaged file."""
        from .checkpoint import _read, _verify

        path = os.fspath(path)
        metadata, tensors = _read(path)
        if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: not a charrnn n-gram model (format {metadata.get('format')!r}, "
                f"version {metadata.get('format_version')!r}; expected {FORMAT!r} version {FORMAT_VERSION})"
            )
        _verify(path, metadata, tensors)
        try:
            vocab = Vocab.from_json(metadata["vocab"])
            config = json.loads(metadata["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: bad n-gram metadata ({e})") from None
        return cls.from_tensors(path, vocab, config, tensors)

    @classmethod
    def from_tensors(cls, path: str, vocab: Vocab, config: Any, tensors: dict[str, np.ndarray]) -> NGram:
        """The model of :meth:`tensors` and :meth:`config` (checked; ``path`` names the
        file in a :class:`~charrnn.errors.CheckpointError`)."""
        try:
            order, mode, modified = int(config["order"]), config["mode"], bool(config["modified"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: bad n-gram metadata ({e})") from None
        if order < 1 or mode not in MODES:
            raise CheckpointError(f"{path}: bad n-gram config {config!r}")
        orders: list[_Order] = []
        for k in range(1, order + 1):
            try:
                t = _Order(
                    keys=tensors[f"order{k}.keys"].astype(np.int64),
                    count=tensors[f"order{k}.count"].astype(np.int64),
                    suffix=tensors[f"order{k}.suffix"].astype(np.int64),
                    bos=tensors[f"order{k}.bos"].astype(bool),
                )
            except KeyError as e:
                raise CheckpointError(f"{path}: the tensor {e.args[0]} is missing") from None
            shorter = 1 if k == 1 else len(orders[-1])
            if not (
                t.keys.ndim == 1
                and len(t.count) == len(t.suffix) == len(t.bos) == len(t)
                and np.all(np.diff(t.keys) > 0)
                and np.all(t.count >= 1)
                and np.all((t.keys >= 0) & (t.keys < shorter * len(vocab)))
                and np.all((t.suffix >= 0) & (t.suffix < shorter))
            ):
                raise CheckpointError(f"{path}: the order-{k} counts are inconsistent")
            orders.append(t)
        return cls(vocab, order, mode, modified, orders)

    # -- the tables of the Rust sampler ---------------------------------------------------

    def core_table(self) -> Any:
        """The model as the Rust sampler reads it (:class:`charrnn._core.NGramTable`: per
        order the sorted keys, ``alpha`` and ``gamma``), built once and kept."""
        table = self._core_table
        if table is None:
            from . import _core

            base = np.where(self._outcome, 1.0 / np.count_nonzero(self._outcome), 0.0)
            table = _core.NGramTable(
                self._B,
                np.ascontiguousarray(base, dtype=np.float64),
                [np.ascontiguousarray(t.keys, dtype=np.int64) for t in self._orders],
                [np.ascontiguousarray(t.alpha, dtype=np.float64) for t in self._orders],
                [np.ascontiguousarray(t.gamma, dtype=np.float64) for t in self._orders],
            )
            self._core_table = table
        return table


# -- the baseline beside a network ------------------------------------------------------------------


def baseline(
    train_data: Union[Sequence[str], str],
    val_data: Union[None, Sequence[str], str],
    mode: str = "names",
    order: int = DEFAULT_ORDER,
    vocab: Optional[Vocab] = None,
) -> dict[str, Any]:
    """Fit an n-gram model on ``train_data`` and measure it: ``{"order", "train_nll",
    "val_nll" (None without validation data), "seconds"}`` (seconds of fitting and
    evaluating) — the line ``charrnn train`` can print beside the network's."""
    started = time.perf_counter()
    model = NGram.fit(train_data, order=order, mode=mode, vocab=vocab)
    has_val = val_data is not None and (len(val_data) >= 2 if mode == "text" else len(val_data) > 0)
    return {
        "order": order,
        "train_nll": model.nll(train_data),
        "val_nll": model.nll(val_data) if has_val else None,  # type: ignore[arg-type]
        "seconds": time.perf_counter() - started,
    }


# -- checks --------------------------------------------------------------------------------


def _check_items(data: object, allow_empty: bool = False) -> list[str]:
    if isinstance(data, str):
        raise TypeError("names mode takes a list of names, not one string (for a text, use mode='text')")
    items = list(data)  # type: ignore[call-overload]
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"items must be strings, got {type(item).__name__}")
    if not items and not allow_empty:
        raise DataError("no items to count: the list is empty")
    return items


def _check_text(data: object) -> str:
    if not isinstance(data, str):
        raise TypeError(f"text mode takes one string, got {type(data).__name__}")
    if len(data) < 2:
        raise DataError(f"a text needs at least 2 characters (one to predict), got {len(data)}")
    return data


def _temperature(value: object) -> float:
    if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a positive number, got {value!r}")
    return float(value)


def _seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"seed must be an integer >= 0, got {value!r}")
    return int(value)
