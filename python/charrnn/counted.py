"""Lists of items with counts: ``name<TAB>count`` files, for frequency-aware training.

A counted file is UTF-8 text (optionally gzip'ed), one item a line, its fields separated
by tabs (or, when the first line has no tab, by commas).  Either every line is
``item<TAB>count``, or the first line is a header naming the columns: the count is the
column called ``count`` and the item the column called ``name`` (or ``item``, ``text``;
failing those, the first column that is not ``count``).  Items are NFC-normalised and
stripped; blank lines are skipped; an item that appears again has its counts summed.

    >>> counted = charrnn.load_counts("names.tsv")
    >>> counted.items[:2], counted.counts[:2]
    (['Иван', 'Мария'], [90136, 47828])
"""

from __future__ import annotations

import gzip
import logging
import math
import numbers
import os
import unicodedata
from typing import NamedTuple, Sequence

from .errors import DataError

__all__ = [
    "Counted",
    "load_counts",
    "parse_counts",
    "tempered",
    "counted_split",
    "has_count_header",
    "split_weights",
    "DEFAULT_WEIGHT_POWER",
]

logger = logging.getLogger(__name__)

ITEM_COLUMNS = ("name", "item", "text")
# The exponent of frequency-aware training: items drawn in proportion to count ** power.
# Measured on the russiannames first names (docs/names.md, "Frequency-aware training").
DEFAULT_WEIGHT_POWER = 0.5


def tempered(counts: Sequence[float], power: float = 1.0) -> list[float]:
    """``counts`` tempered by ``power`` (1: as they are, 0: every item alike), summing to 1;
    ValueError for a bad power or count, or when all are zero."""
    if not isinstance(power, numbers.Real) or not math.isfinite(power) or power < 0:
        raise ValueError(f"weight power must be a finite number >= 0, got {power}")
    for c in counts:
        if not isinstance(c, numbers.Real) or not math.isfinite(c) or c < 0:
            raise ValueError(f"counts must be finite numbers >= 0, got {c!r}")
    powered = [float(c) ** power if c > 0 else 0.0 for c in counts]
    total = math.fsum(powered)
    if total <= 0:
        raise ValueError("all counts are zero: no weights")
    return [t / total for t in powered]


class Counted(NamedTuple):
    """Items and their counts, in the same order (``counts[i]`` belongs to ``items[i]``)."""

    items: list[str]
    counts: list[float]

    def total(self) -> float:
        return math.fsum(self.counts)

    def weights(self, power: float = 1.0) -> list[float]:
        """The counts tempered by ``power`` (1: as they are, 0: every item alike), summing to 1."""
        return tempered(self.counts, power)


def _count(field: str, source: str, line: int) -> float:
    try:
        value = float(field)
    except ValueError:
        raise DataError(f"{source}: line {line}: count {field!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{source}: line {line}: count {field!r} must be a finite number >= 0")
    return int(value) if value.is_integer() else value


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def parse_counts(data: bytes, source: str) -> Counted:
    """The items and counts in ``data`` (the bytes of a file called ``source`` in messages)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise DataError(f"{source}: not a valid gzip file ({e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{source}: not UTF-8 (byte offset {e.start})") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DataError(f"{source}: no items")
    sep = "\t" if "\t" in lines[0][1] else ","
    first = [f.strip() for f in lines[0][1].split(sep)]
    if len(first) >= 2 and not _is_number(first[-1]):  # a header
        header = [f.lower() for f in first]
        if "count" not in header:
            raise DataError(f"{source}: line {lines[0][0]}: the header has no 'count' column: {lines[0][1]!r}")
        count_col = header.index("count")
        named = [header.index(c) for c in ITEM_COLUMNS if c in header]
        item_col = named[0] if named else next(i for i in range(len(header)) if i != count_col)
        body: Sequence[tuple[int, str]] = lines[1:]
    else:
        item_col, count_col = 0, 1
        body = lines
    merged: dict[str, float] = {}
    for number, line in body:
        fields = line.split(sep)
        if len(fields) <= max(item_col, count_col):
            raise DataError(
                f"{source}: line {number}: expected {max(item_col, count_col) + 1} fields separated by "
                f"{'tabs' if sep == chr(9) else 'commas'}, got {len(fields)}: {line!r}"
            )
        item = unicodedata.normalize("NFC", fields[item_col]).strip()
        if not item:
            raise DataError(f"{source}: line {number}: empty item")
        merged[item] = merged.get(item, 0) + _count(fields[count_col].strip(), source, number)
    if not merged:
        raise DataError(f"{source}: no items")
    if len(merged) < len(body):
        logger.info("%s: %d repeated items had their counts summed", source, len(body) - len(merged))
    return Counted(list(merged), list(merged.values()))


def has_count_header(path: str | os.PathLike[str]) -> bool:
    """Whether the file's first line is a header naming a ``count`` column (tab- or
    comma-separated), i.e. the file is a counted list rather than one item a line."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            head = f.read(4096)
    except (OSError, EOFError):
        return False  # reading it reports the damage
    line = head.split(b"\n", 1)[0].decode("utf-8-sig", "replace").strip()
    sep = "\t" if "\t" in line else ","
    fields = [f.strip().lower() for f in line.split(sep)]
    return len(fields) >= 2 and "count" in fields


def load_counts(path: str | os.PathLike[str]) -> Counted:
    """Read a counted list (see the module's doc); :class:`DataError` when it is malformed."""
    with open(path, "rb") as f:
        data = f.read()
    counted = parse_counts(data, os.fspath(path))
    logger.debug("read %d counted items from %s", len(counted.items), path)
    return counted


def counted_split(counted: Counted, val_fraction: float = 0.1, seed: int = 0) -> tuple[Counted, Counted]:
    """``(train, val)``: a random ``val_fraction`` of the *names* (types) held out, each
    keeping its count, as :func:`charrnn.data.training_split` splits a plain list (the
    validation items with a character no training item has go back to training)."""
    from .data import training_split

    train, val, _ = training_split(counted.items, None, val_fraction, seed)
    return with_counts(counted, train), with_counts(counted, val)


def with_counts(counted: Counted, items: Sequence[str]) -> Counted:
    """``items`` (each one of ``counted``'s) with their counts from ``counted``."""
    count = dict(zip(counted.items, counted.counts, strict=True))
    return Counted(list(items), [count[item] for item in items])


def split_weights(counted: Counted, train_items: Sequence[str], val_items: Sequence[str], source: str) -> dict:
    """``weights`` (and ``val_weights`` when every validation item has a count) of
    :func:`charrnn.train` for a split of ``counted``'s items; a training item without a count
    is a :class:`DataError` naming ``source``."""
    count = dict(zip(counted.items, counted.counts, strict=True))
    missing = [item for item in train_items if item not in count]
    if missing:
        raise DataError(
            f"{source}: {len(missing)} training item(s) have no count, e.g. {', '.join(map(repr, missing[:3]))}"
        )
    out: dict = {"weights": [count[item] for item in train_items]}
    if val_items and all(item in count for item in val_items):
        out["val_weights"] = [count[item] for item in val_items]
    return out
