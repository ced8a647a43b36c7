"""Reading name lists, splitting them, and cutting them into padded batches.

A data file holds one item (a name, a word, a line of text) per line, UTF-8.  Lines are
NFC-normalised and stripped; blank lines are skipped.

Each item is an independent sequence: the model reads ``[BOS] + chars`` and learns to
predict ``chars + [EOS]``.  Batches are time-major and padded with the pad id 0; every
batch starts from a zero state (nothing is carried between batches).
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import DataError
from .vocab import BOS, EOS, PAD, Vocab

__all__ = ["load_lines", "parse_lines", "split", "Batch", "NameBatches", "make_batch"]

logger = logging.getLogger(__name__)


def parse_lines(data: bytes, source: str, dedupe: bool = False) -> list[str]:
    """The items in ``data`` (the bytes of a file called ``source`` in messages).

    Decodes UTF-8 (an optional BOM is skipped), NFC-normalises, strips each line and
    skips blank ones; ``dedupe`` keeps only the first occurrence of each item.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{source}: line {line}: not valid UTF-8 at byte offset {e.start} "
            f"(byte 0x{data[e.start]:02x}); save the file as UTF-8"
        ) from None
    items: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        item = unicodedata.normalize("NFC", line).strip()
        if not item:
            continue
        if dedupe:
            if item in seen:
                continue
            seen.add(item)
        items.append(item)
    if not items:
        raise DataError(f"{source}: no items (the file is empty or has only blank lines)")
    return items


def load_lines(path: str | os.PathLike[str], dedupe: bool = False) -> list[str]:
    """The non-blank lines of a UTF-8 text file, NFC-normalised and stripped.

    Raises FileNotFoundError (missing file) or :class:`DataError` (not UTF-8 — the message
    names the file, line and byte offset — or no items at all).
    """
    with open(path, "rb") as f:
        data = f.read()
    items = parse_lines(data, os.fspath(path), dedupe=dedupe)
    logger.debug("read %d items from %s", len(items), path)
    return items


def split(items: Sequence[str], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split ``items`` at random into ``(train, val)``, the same way for the same seed.

    ``val`` gets ``round(len(items) * val_fraction)`` items (at least one when the
    fraction is positive and there are at least two items); both parts keep the items'
    original order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n = len(items)
    if n == 0:
        raise ValueError("cannot split an empty list")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0 and n >= 2:
        n_val = 1
    n_val = min(n_val, n - 1)  # always leave something to train on
    order = np.random.default_rng(seed).permutation(n)
    is_val = np.zeros(n, dtype=bool)
    is_val[order[:n_val]] = True
    train = [item for item, v in zip(items, is_val, strict=True) if not v]
    val = [item for item, v in zip(items, is_val, strict=True) if v]
    return train, val


@dataclass(frozen=True, eq=False)
class Batch:
    """A padded, time-major batch of independent sequences.

    ``ids[t, b]`` is the input at step ``t`` of sequence ``b`` and ``targets[t, b]`` the id
    to predict there; positions ``t >= lengths[b]`` hold the pad id 0.
    """

    ids: np.ndarray  # [T, B] int32
    targets: np.ndarray  # [T, B] int32
    lengths: np.ndarray  # [B] int32
    index: np.ndarray  # [B] positions of the batch's items in the source list

    @property
    def n_chars(self) -> int:
        """Number of real (predicted) positions: the loss is averaged over these."""
        return int(self.lengths.sum())

    @property
    def mask(self) -> np.ndarray:
        """``[T, B]`` bool, True at real positions."""
        return np.arange(self.ids.shape[0])[:, None] < self.lengths[None, :]

    def __len__(self) -> int:
        return int(self.ids.shape[1])


def make_batch(encoded: Sequence[Sequence[int]], index: Optional[np.ndarray] = None) -> Batch:
    """A :class:`Batch` of already-encoded items (character ids, without markers)."""
    lengths = np.array([len(e) + 1 for e in encoded], dtype=np.int32)
    T, B = int(lengths.max()), len(encoded)
    ids = np.full((T, B), PAD, dtype=np.int32)
    targets = np.full((T, B), PAD, dtype=np.int32)
    for b, e in enumerate(encoded):
        n = len(e)
        ids[0, b] = BOS
        ids[1 : n + 1, b] = e
        targets[:n, b] = e
        targets[n, b] = EOS
    if index is None:
        index = np.arange(B)
    return Batch(ids, targets, lengths, np.asarray(index))


class NameBatches:
    """Batches over a list of items, reshuffled every epoch.

    Iterating gives one epoch: every item exactly once, in an order drawn from a numpy
    ``Generator`` seeded with ``seed`` (so epoch ``k`` is the same on every run), in batches
    of ``batch_size`` (the last one may be smaller).  ``shuffle=False`` keeps the list's
    order.  Items are encoded once, up front (an unknown character raises there).
    """

    def __init__(
        self,
        items: Sequence[str],
        vocab: Vocab,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if len(items) == 0:
            raise ValueError("no items to batch")
        self.vocab = vocab
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.encoded = [vocab.encode(item) for item in items]
        self.n_chars = sum(len(e) + 1 for e in self.encoded)  # predicted positions per epoch
        self._rng = np.random.default_rng(seed)
        self.epochs_started = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.encoded) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.encoded)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        self.epochs_started += 1
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield make_batch([self.encoded[i] for i in index], index)
