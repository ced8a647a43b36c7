"""Reading name lists, splitting them, and cutting them into padded batches.

A data file holds one item (a name, a word, a line of text) per line, UTF-8.  Lines are
NFC-normalised and stripped; blank lines are skipped.

Each item is an independent sequence: the model reads ``[BOS] + chars`` and learns to
predict ``chars + [EOS]``.  Batches are time-major and padded with the pad id 0; every
batch starts from a zero state (nothing is carried between batches).
"""

from __future__ import annotations

import copy
import io
import logging
import os
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import DataError
from .labelled import Labelled
from .reading import DEFAULT_MAX_LINE_CHARS, read_items
from .vocab import BOS, EOS, PAD, Vocab

__all__ = [
    "load_lines",
    "parse_lines",
    "split",
    "Batch",
    "NameBatches",
    "make_batch",
    "unseen_characters",
    "move_unseen_to_train",
    "training_split",
]

logger = logging.getLogger(__name__)


def parse_lines(
    data: bytes, source: str, dedupe: bool = False, max_line_chars: Optional[int] = DEFAULT_MAX_LINE_CHARS
) -> list[str]:
    """The items in ``data`` (the bytes of a file called ``source`` in messages).

    Decodes UTF-8 (an optional BOM is skipped), NFC-normalises, strips each line and
    skips blank ones; ``dedupe`` keeps only the first occurrence of each item; an item
    longer than ``max_line_chars`` characters is a :class:`DataError` (None: no limit).
    """
    return read_items(io.BytesIO(data), source, dedupe=dedupe, max_line_chars=max_line_chars)


def load_lines(
    path: str | os.PathLike[str], dedupe: bool = False, max_line_chars: Optional[int] = DEFAULT_MAX_LINE_CHARS
) -> list[str]:
    """The non-blank lines of a UTF-8 text file, NFC-normalised and stripped.

    The file is read in chunks: memory stays bounded by ``max_line_chars`` (the longest
    item accepted, None: no limit) however long its lines are.  Raises
    FileNotFoundError (missing file), IsADirectoryError (a folder) or :class:`DataError`
    (not UTF-8 — the message names the file, line and byte offset —, a line over the
    limit, or no items at all).
    """
    with open(path, "rb") as f:
        items = read_items(f, os.fspath(path), dedupe=dedupe, max_line_chars=max_line_chars)
    logger.debug("read %d items from %s", len(items), path)
    return items


def split(items: Sequence[str], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split ``items`` at random into ``(train, val)``, the same way for the same seed.

    ``val`` gets ``round(len(items) * val_fraction)`` items (at least one when the
    fraction is positive and there are at least two items); both parts keep the items'
    original order.  A :class:`~charrnn.labelled.Labelled` list is split within each
    category and gives two ``Labelled`` lists (see :meth:`Labelled.split`).
    """
    if isinstance(items, Labelled):
        return items.split(val_fraction, seed)  # type: ignore[return-value]
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
    to predict there; positions ``t >= lengths[b]`` hold the pad id 0.  A batch of
    labelled items (for a conditional model) also has ``categories[b]``, the category id
    of sequence ``b``, ids into ``category_names``.
    """

    ids: np.ndarray  # [T, B] int32
    targets: np.ndarray  # [T, B] int32
    lengths: np.ndarray  # [B] int32
    index: np.ndarray  # [B] positions of the batch's items in the source list
    categories: Optional[np.ndarray] = None  # [B] int32 category ids (labelled items only)
    category_names: Optional[tuple[str, ...]] = None  # what the ids in `categories` stand for

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


def make_batch(
    encoded: Sequence[Sequence[int]],
    index: Optional[np.ndarray] = None,
    categories: Optional[Sequence[int]] = None,
    category_names: Optional[Sequence[str]] = None,
) -> Batch:
    """A :class:`Batch` of already-encoded items (character ids, without markers), with
    one category id per item for labelled items."""
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
    if categories is None:
        return Batch(ids, targets, lengths, np.asarray(index))
    cats = np.ascontiguousarray(categories, dtype=np.int32)
    if cats.shape != (B,):
        raise ValueError(f"{B} items but {cats.shape} categories")
    names = None if category_names is None else tuple(category_names)
    return Batch(ids, targets, lengths, np.asarray(index), cats, names)


class NameBatches:
    """Batches over a list of items, reshuffled every epoch.

    Iterating gives one epoch: every item exactly once, in an order drawn from a numpy
    ``Generator`` seeded with ``seed`` (so epoch ``k`` is the same on every run), in batches
    of ``batch_size`` (the last one may be smaller).  ``shuffle=False`` keeps the list's
    order.  Items are encoded once, up front (an unknown character raises there).
    Batches of a :class:`~charrnn.labelled.Labelled` list carry each item's category.

    With ``probabilities`` (one per item, summing to 1: e.g. tempered counts,
    :meth:`charrnn.Counted.weights`) an epoch is instead ``len(items)`` draws *with
    replacement*, item ``i`` with probability ``probabilities[i]``, from the same generator
    (so its state, :meth:`get_state`, still fixes every later epoch): common items come
    up often, rare ones seldom.
    """

    def __init__(
        self,
        items: Sequence[str],
        vocab: Vocab,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        probabilities: Optional[Sequence[float]] = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if len(items) == 0:
            raise ValueError("no items to batch")
        self.probabilities = None if probabilities is None else check_probabilities(probabilities, len(items))
        self.vocab = vocab
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.encoded = [vocab.encode(item) for item in items]
        labelled = isinstance(items, Labelled)
        self.labels = items.labels if labelled else None
        self.category_names = items.categories if labelled else None
        self.n_chars = sum(len(e) + 1 for e in self.encoded)  # predicted positions per epoch
        self._rng = np.random.default_rng(seed)
        self.epochs_started = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.encoded) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.encoded)
        if self.probabilities is not None:
            order = self._rng.choice(n, size=n, replace=True, p=self.probabilities)
        else:
            order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        self.epochs_started += 1
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            labels = None if self.labels is None else self.labels[index]
            yield make_batch([self.encoded[i] for i in index], index, labels, self.category_names)

    def get_state(self) -> dict:
        """The data-order generator's state, JSON-serialisable: after :meth:`set_state` with
        it, the next epoch has the order it would have had (resuming training uses it)."""
        return copy.deepcopy(self._rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        """Put back a state from :meth:`get_state`."""
        try:
            self._rng.bit_generator.state = copy.deepcopy(state)
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"not a data-order generator state: {e}") from None


def check_probabilities(probabilities: Sequence[float], n: int) -> np.ndarray:
    """``probabilities`` as a float64 array of ``n`` finite values >= 0 summing to 1
    (renormalised), or ValueError naming what is wrong."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"expected {n} sampling weights (one per item), got {p.size}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("sampling weights must be finite numbers >= 0")
    total = p.sum()
    if total <= 0:
        raise ValueError("all sampling weights are zero")
    return p / total


def unseen_characters(train_items: Sequence[str], val_items: Sequence[str]) -> dict[str, tuple[int, str]]:
    """The characters of ``val_items`` that occur in no training item (after NFC), each
    with how many times it occurs in ``val_items`` and the first item holding it."""
    known: set[str] = set()
    for item in train_items:
        known.update(unicodedata.normalize("NFC", item))
    unseen: dict[str, tuple[int, str]] = {}
    for item in val_items:
        for c in unicodedata.normalize("NFC", item):
            if c not in known:
                count, first = unseen.get(c, (0, item))
                unseen[c] = (count + 1, first)
    return unseen


def describe_unseen(unseen: dict[str, tuple[int, str]], limit: int = 5) -> str:
    """``'Q' (U+0051) 3 times, first in 'Quentin'; ...`` for the most frequent few."""
    ranked = sorted(unseen.items(), key=lambda kv: (-kv[1][0], kv[0]))
    parts = [
        f"{c!r} (U+{ord(c):04X}) {n} time{'s' if n != 1 else ''}, first in {first!r}"
        for c, (n, first) in ranked[:limit]
    ]
    if len(ranked) > limit:
        parts.append(f"and {len(ranked) - limit} more")
    return "; ".join(parts)


def move_unseen_to_train(train_items: Sequence[str], val_items: Sequence[str]) -> tuple[list[str], list[str], int]:
    """``(train, val, moved)``: the validation items holding a character that no training item
    has are moved to the end of ``train``, so that every character of the data is trained
    (a random split can put the only item with a rare character in the validation part).
    Two :class:`~charrnn.labelled.Labelled` lists stay labelled."""
    if isinstance(train_items, Labelled) and isinstance(val_items, Labelled):
        return train_items.move_unseen_to_train(val_items)  # type: ignore[return-value]
    train, val = list(train_items), list(val_items)
    unseen = unseen_characters(train, val)
    if not unseen:
        return train, val, 0
    keep, move = [], []
    for item in val:
        (move if any(c in unseen for c in unicodedata.normalize("NFC", item)) else keep).append(item)
    return train + move, keep, len(move)


def training_split(
    items: Sequence[str],
    val_items: Optional[Sequence[str]] = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    val_source: str = "the validation data",
) -> tuple[list[str], list[str], int]:
    """``(train, val, moved)``: the split ``charrnn train`` (names mode) and ``charrnn ngram``
    use.  With ``val_items`` (a ``--val FILE``, called ``val_source`` in messages), ``items``
    are all training and a validation character that no training item has is a
    :class:`DataError` naming it (nothing trained on ``items`` could predict it).  Without,
    a random ``val_fraction`` of ``items`` (:func:`split` with ``seed``), then the
    validation items holding a character found in no training item go back to training
    (:func:`move_unseen_to_train`; ``moved`` says how many)."""
    if val_items is not None:
        unseen = unseen_characters(items, val_items)
        if unseen:
            raise DataError(
                f"{val_source}: {len(unseen)} character(s) never occur in the training data, so no model "
                f"trained on it can predict them: {describe_unseen(unseen)}; remove those lines or add "
                f"examples of them to the training data"
            )
        return items, list(val_items), 0  # type: ignore[return-value]
    train_items, val = split(items, val_fraction=val_fraction, seed=seed)
    return move_unseen_to_train(train_items, val)
