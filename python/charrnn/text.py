"""Continuous text: one long character stream, stateful batches, evaluation and generation.

Names are independent sequences; a book is one long sequence.  In text mode the whole
file is one stream of characters (UTF-8, NFC-normalised, nothing stripped or dropped),
split into train / validation / test parts by contiguous fractions (default 90/5/5) or
given as separate files.

**Batches** (:class:`TextBatches`).  The training stream of ``N`` characters has
``M = N - 1`` positions to predict (the target of each character is the next one).  They
are cut into ``B`` parallel streams of equal length ``L = M // B`` (the last ``M % B``
positions, fewer than ``B``, are left out); batch ``j`` holds the ``j``-th chunk of
``T = seq_len`` characters of every stream::

              batch 0        batch 1        batch 2             batch n-1
    stream 0  text[0:T]      text[T:2T]     text[2T:3T]    ...  ... text[L-T':L]
    stream 1  text[L:L+T]    text[L+T:..]   ...
      ...
    stream B-1 text[(B-1)L : (B-1)L+T] ...
                 h,c ─────────► h,c ─────────► h,c ──────► ...

Row ``k`` of batch ``j + 1`` continues row ``k`` of batch ``j`` in the text, so the final
state of batch ``j`` is the initial state of batch ``j + 1``: values are carried, the
gradient is cut there (truncated backpropagation through time: ``_core.forward_backward``
never differentiates into ``h0``/``c0``).  The state is reset to zero at each epoch
start.  The last batch is shorter (``T' = L - (n-1) T``) when ``T`` does not divide
``L``.  Batches are time-major ``[T, B]`` int32 :class:`~charrnn.data.Batch` objects
whose ``lengths`` are all ``T`` (all ``T'`` for the last one).

**Evaluation** (:func:`evaluate_text`) goes over *every* predicted position of the
held-out text the same way: ``B`` streams (the first ``M % B`` one position longer,
so nothing is left out; the last batch pads the shorter streams), state carried from
chunk to chunk, no dropout.  It reports the NLL per character (nats), the perplexity
``exp(nll)`` and bits per character ``nll / ln 2``.

**Generation** (:func:`generate_text`) warms the state on a prime, then draws characters
chunk by chunk from the Rust :class:`charrnn._core.Generator`, which carries the state,
the last logits and the random generator between chunks — so the chunks joined are
exactly the text of one long call.

**Vocabulary.** :class:`~charrnn.vocab.Vocab` as for names: ids 0..2 stay reserved for
the pad / start / end markers, which never occur in a text stream (and are never drawn
when generating text).  When the held-out parts are cut from the same file, the
vocabulary is every character of the file (like char-rnn); a separate validation or test
file holding a character the training text lacks is refused, naming it.
"""

from __future__ import annotations

import errno
import logging
import numbers
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from . import _core
from .checks import positive_int, sampling_options
from .data import Batch
from .dropout import Dropout
from .errors import DataError, UnknownCharacterError
from .metrics import summarize
from .vocab import Vocab

if TYPE_CHECKING:
    from .model import CharRNN

__all__ = [
    "load_text",
    "decode_text",
    "split_text",
    "TextSplit",
    "text_vocab",
    "encode_text",
    "unseen_text_characters",
    "check_unseen",
    "training_parts",
    "TextBatches",
    "text_pass",
    "evaluate_text",
    "generate_text",
    "DEFAULT_SEQ_LEN",
    "DEFAULT_TEXT_BATCH",
    "DEFAULT_CHUNK",
]

logger = logging.getLogger(__name__)

DEFAULT_SEQ_LEN = 50  # char-rnn's seq_length
DEFAULT_TEXT_BATCH = 50  # char-rnn's batch_size
DEFAULT_CHUNK = 64  # characters per chunk yielded by generate_text
BOM = b"\xef\xbb\xbf"

# A state carried between chunks: (h [L, B, H], c [L, B, H] or None); None = zeros.
State = Optional[tuple[np.ndarray, Optional[np.ndarray]]]


# -- reading ------------------------------------------------------------------------------


def decode_text(data: bytes, source: str) -> str:
    """The text of ``data`` (the bytes of a file called ``source`` in messages): UTF-8
    (a leading BOM is skipped), NFC-normalised, otherwise unchanged.

    Raises :class:`DataError` for bytes that are not UTF-8 (naming the line and byte
    offset of the first bad byte) or for an empty file."""
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = skip + e.start
        line = data.count(b"\n", 0, at) + 1
        raise DataError(
            f"{source}: line {line}: not valid UTF-8 at byte offset {at} (byte 0x{data[at]:02x}); "
            f"save the file as UTF-8"
        ) from None
    if not text:
        raise DataError(f"{source}: the file is empty (text mode needs at least 2 characters)")
    return unicodedata.normalize("NFC", text)


def load_text(path: Union[str, os.PathLike[str]]) -> str:
    """The whole of a UTF-8 text file as one string, NFC-normalised (a leading BOM is
    skipped; line ends and spaces are kept as they are).

    Raises FileNotFoundError, IsADirectoryError, or :class:`DataError` (not UTF-8 — the
    message names the line and byte offset —, or empty)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    with open(path, "rb") as f:
        data = f.read()
    text = decode_text(data, path)
    logger.debug("read %d characters from %s", len(text), path)
    return text


@dataclass(frozen=True)
class TextSplit:
    """The three contiguous parts of a text; ``val``/``test`` are "" when not held out."""

    train: str
    val: str
    test: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.train, self.val, self.test))


def _check_fraction(value: float, name: str) -> float:
    if not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def split_text(text: str, val_fraction: float = 0.05, test_fraction: float = 0.05) -> TextSplit:
    """Cut ``text`` into contiguous ``(train, val, test)`` parts: the first
    ``1 - val_fraction - test_fraction`` of the characters, then ``val_fraction`` of them,
    then the last ``test_fraction``.  A part with a positive fraction gets at least 2
    characters (one prediction); a fraction of 0 gives an empty part."""
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must leave something to train on, got {val_fraction} + {test_fraction}"
        )
    n = len(text)

    def size(fraction: float) -> int:
        return 0 if fraction == 0 else max(2, int(round(n * fraction)))

    n_val, n_test = size(val_fraction), size(test_fraction)
    n_train = n - n_val - n_test
    if n_train < 2:
        raise DataError(
            f"a text of {n:,} characters is too short to hold out {val_fraction:g} + {test_fraction:g} of it "
            f"and keep at least 2 characters to train on"
        )
    return TextSplit(text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :])


def text_vocab(*texts: str) -> Vocab:
    """The vocabulary of every character of ``texts`` (markers 0..2 reserved, unused)."""
    chars: set[str] = set()
    for t in texts:
        chars.update(unicodedata.normalize("NFC", t))
    if not chars:
        raise ValueError("cannot build a vocabulary from no characters")
    return Vocab(chars)


def encode_text(text: str, vocab: Vocab) -> np.ndarray:
    """The ids of ``text`` as a 1-D array of the smallest unsigned type that holds them
    (uint8 for up to 256 ids: a long text costs a byte per character).

    Raises :class:`~charrnn.errors.UnknownCharacterError` for a character outside
    ``vocab`` (its message shows the text around it, not the whole text)."""
    text = unicodedata.normalize("NFC", text)
    dtype = np.uint8 if len(vocab) <= 256 else np.uint16 if len(vocab) <= 65536 else np.int32
    table = {c: i for i, c in enumerate(vocab.chars, start=Vocab.n_markers)}
    try:
        return np.fromiter((table[c] for c in text), dtype=dtype, count=len(text))
    except KeyError as e:
        c = e.args[0]
        at = text.index(c)
        raise UnknownCharacterError(c, text[max(0, at - 20) : at + 20]) from None


def unseen_text_characters(train: str, held_out: str) -> dict[str, tuple[int, int]]:
    """The characters of ``held_out`` that never occur in ``train``, each with its count
    and the (0-based) position of its first occurrence in ``held_out``."""
    known = set(train)
    out: dict[str, tuple[int, int]] = {}
    for c in set(held_out) - known:
        out[c] = (held_out.count(c), held_out.index(c))
    return out


def check_unseen(train: str, held_out: str, source: str) -> None:
    """Refuse a separate held-out text with characters the training text lacks (a model
    cannot learn to predict them), naming each with its count and where it first is."""
    unseen = unseen_text_characters(train, held_out)
    if not unseen:
        return
    ranked = sorted(unseen.items(), key=lambda kv: (-kv[1][0], kv[0]))
    parts = []
    for c, (count, at) in ranked[:5]:
        line = held_out.count("\n", 0, at) + 1
        parts.append(f"{c!r} (U+{ord(c):04X}) {count} time{'s' if count != 1 else ''}, first on line {line}")
    if len(ranked) > 5:
        parts.append(f"and {len(ranked) - 5} more")
    raise DataError(
        f"{source}: {len(unseen)} character(s) never occur in the training text, so no model trained on it "
        f"can predict them: {'; '.join(parts)}"
    )


def training_parts(
    text: str,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    val_path: Optional[Union[str, os.PathLike[str]]] = None,
    test_path: Optional[Union[str, os.PathLike[str]]] = None,
) -> TextSplit:
    """The parts ``charrnn train --mode text`` and ``charrnn ngram --mode text`` use: the
    contiguous :func:`split_text` of ``text``, except that a validation or test file
    (``val_path``/``test_path``) replaces its fraction; such a file holding a character the
    training part lacks is a :class:`DataError` (:func:`check_unseen`)."""
    parts = split_text(
        text, 0.0 if val_path is not None else val_fraction, 0.0 if test_path is not None else test_fraction
    )
    train, val, test = parts
    if val_path is not None:
        val = load_text(val_path)
        check_unseen(train, val, os.fspath(val_path))
    if test_path is not None:
        test = load_text(test_path)
        check_unseen(train, test, os.fspath(test_path))
    return TextSplit(train, val, test)


# -- batches ------------------------------------------------------------------------------


class TextBatches:
    """Stateful batches over one text (see the module's documentation for the picture).

    ``text`` is a string (encoded with ``vocab``) or an array of ids.  ``batch_size`` is
    the number ``B`` of parallel streams, ``seq_len`` the number ``T`` of steps per batch.
    With ``whole=False`` (training) the streams have the equal length ``L = (N-1) // B``;
    with ``whole=True`` (evaluation) every position is covered: ``B`` becomes at most
    ``N - 1`` and the first ``(N-1) % B`` streams are one position longer.

    ``batches[j]`` (or iteration) gives :class:`~charrnn.data.Batch` ``j``: ``ids``
    and ``targets`` ``[T, B]`` int32, ``lengths`` ``[B]``, ``index`` the stream numbers.
    """

    def __init__(
        self,
        text: Union[str, np.ndarray],
        vocab: Optional[Vocab] = None,
        batch_size: int = DEFAULT_TEXT_BATCH,
        seq_len: int = DEFAULT_SEQ_LEN,
        whole: bool = False,
    ) -> None:
        batch_size = positive_int(batch_size, "batch_size")
        self.seq_len = positive_int(seq_len, "seq_len")
        if isinstance(text, str):
            if vocab is None:
                raise TypeError("a text needs its vocab to be encoded")
            ids = encode_text(text, vocab)
        else:
            ids = np.asarray(text)
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
                raise TypeError(f"ids must be a 1-D integer array, got {ids.dtype}{ids.shape}")
        self.vocab = vocab
        self.whole = bool(whole)
        positions = len(ids) - 1  # every character but the last has a next one to predict
        if positions < 1:
            raise DataError(f"a text of {len(ids)} character(s) has nothing to predict (it needs at least 2)")
        if self.whole:
            B = min(batch_size, positions)
            lengths = np.full(B, positions // B, dtype=np.int64)
            lengths[: positions % B] += 1
        else:
            B = batch_size
            if positions < B:
                raise DataError(
                    f"a training text of {len(ids):,} characters cannot be cut into {B} streams; "
                    f"use a batch size of at most {positions}"
                )
            lengths = np.full(B, positions // B, dtype=np.int64)
        self.batch_size = B
        self.stream_lengths = lengths  # L_k, predicted positions of stream k
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # first position of stream k
        self.stream_len = int(lengths.max())
        self.n_chars = int(lengths.sum())  # predicted positions per pass
        if self.whole and positions % B:
            # Streams of unequal length: pad them into [B, L + 1] rectangles once.
            width = self.stream_len
            self._x = np.zeros((B, width), dtype=np.int32)
            self._y = np.zeros((B, width), dtype=np.int32)
            for k, (off, n) in enumerate(zip(self.offsets, lengths, strict=True)):
                self._x[k, :n] = ids[off : off + n]
                self._y[k, :n] = ids[off + 1 : off + n + 1]
        else:
            L = self.stream_len
            self._x = ids[: B * L].reshape(B, L)  # views: a byte per character
            self._y = ids[1 : B * L + 1].reshape(B, L)

    def __len__(self) -> int:
        """Batches per pass over the text."""
        return -(-self.stream_len // self.seq_len)

    def __getitem__(self, j: int) -> Batch:
        n = len(self)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"batch {j} of {n}")
        lo = j * self.seq_len
        hi = min(lo + self.seq_len, self.stream_len)
        ids = np.ascontiguousarray(self._x[:, lo:hi].T, dtype=np.int32)
        targets = np.ascontiguousarray(self._y[:, lo:hi].T, dtype=np.int32)
        lengths = np.clip(self.stream_lengths - lo, 0, hi - lo).astype(np.int32)
        if self.whole and (lengths < hi - lo).any():
            real = np.arange(hi - lo)[:, None] < lengths[None, :]
            ids[~real] = 0
            targets[~real] = 0
        return Batch(ids, targets, lengths, np.arange(self.batch_size))

    def __iter__(self) -> Iterator[Batch]:
        for j in range(len(self)):
            yield self[j]

    def __repr__(self) -> str:
        return (
            f"TextBatches({self.n_chars:,} positions in {self.batch_size} streams of "
            f"{self.stream_len:,}, {len(self)} batches of seq_len {self.seq_len})"
        )


# -- the stateful pass ----------------------------------------------------------------------


def text_pass(
    model: CharRNN,
    batch: Batch,
    state: State = None,
    compute_grad: bool = True,
    dropout: Union[float, Dropout] = 0.0,
    seed: int = 0,
) -> tuple[float, Optional[list[np.ndarray]], State]:
    """One batch from ``state`` (None: zeros): ``(summed NLL, gradients in parameter order
    or None, final state)``.  The final state is a new pair of arrays to pass as the next
    batch's ``state``; no gradient flows through it (truncated BPTT)."""
    if model.conditional:
        raise ValueError("text mode does not take a conditional model (categories are for names)")
    out = model.forward_backward(batch, state, compute_grad=compute_grad, dropout=dropout, seed=seed)
    return out.loss_sum, out.grads, out.state


def evaluate_text(
    model: CharRNN,
    text: Union[str, TextBatches],
    batch_size: int = DEFAULT_TEXT_BATCH,
    seq_len: int = DEFAULT_SEQ_LEN,
) -> dict[str, float]:
    """``{"nll", "ppl", "bpc", "chars"}`` of ``model`` on the whole of ``text``: every
    character after the first is predicted once, by ``batch_size`` streams read
    ``seq_len`` characters at a time with the state carried (see the module's docs)."""
    batches = text if isinstance(text, TextBatches) else TextBatches(text, model.vocab, batch_size, seq_len, whole=True)
    total, state = 0.0, None
    for batch in batches:
        loss_sum, _, state = text_pass(model, batch, state, compute_grad=False)
        total += loss_sum
    return summarize(total, batches.n_chars)


# -- generation -----------------------------------------------------------------------------


def generate_text(
    model: CharRNN,
    prime: str = "",
    length: int = 1000,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[str]:
    """Yield ``length`` generated characters in chunks of ``chunk`` (the last may be
    shorter), after warming the state on ``prime`` (which is not yielded).

    The options mean what they mean for :meth:`CharRNN.sample`.  The chunks joined are the
    same text for any ``chunk`` (the state, logits and random generator carry over).  An
    empty prime starts after a newline when the vocabulary has one (as at the start of a
    paragraph), else from a character drawn uniformly (seeded), which is yielded as the
    first character.  Markers (pad, start, end) are never drawn.  Bad options and a prime
    with characters outside the vocabulary raise here, before anything is generated.
    """
    length = positive_int(length, "length")
    chunk = positive_int(chunk, "chunk")
    temperature, top_k, top_p = sampling_options(temperature, top_k, top_p)
    if seed is None:
        seed = int(model._sample_rng.integers(0, 2**63))
    elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    vocab = model.vocab
    prime_ids = vocab.encode(prime)  # UnknownCharacterError names a character outside the vocabulary
    first = ""
    if not prime_ids:
        if "\n" in vocab:
            prime_ids = vocab.encode("\n")
        else:
            first = vocab.chars[int(np.random.default_rng([int(seed), 2]).integers(len(vocab.chars)))]
            prime_ids = vocab.encode(first)
    generator = _core.Generator(model.cell, _text_params(model), streams=1, seed=int(seed))
    generator.feed(prime_ids)
    banned = [vocab.pad_id, vocab.bos_id, vocab.eos_id]
    return _chunks(generator, vocab, first, length, chunk, float(temperature), top_k, float(top_p), banned)


def _text_params(model: CharRNN) -> list[np.ndarray]:
    if model.conditional:
        raise ValueError("text mode does not take a conditional model (categories are for names)")
    return model.params_list()


def _chunks(
    generator: _core.Generator,
    vocab: Vocab,
    first: str,
    length: int,
    chunk: int,
    temperature: float,
    top_k: int,
    top_p: float,
    banned: list[int],
) -> Iterator[str]:
    remaining = length
    if first:
        remaining -= 1
        if chunk == 1 or remaining == 0:
            yield first
            first = ""
    while remaining > 0:
        steps = min(chunk - len(first), remaining)
        drawn = generator.generate(steps, temperature=temperature, top_k=top_k, banned=banned, top_p=top_p)
        remaining -= steps
        yield first + vocab.decode(drawn[0])
        first = ""
