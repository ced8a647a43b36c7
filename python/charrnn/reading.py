"""Reading item files in a streaming way, with a bound on the length of a line.

A data file is read in chunks of :data:`CHUNK_BYTES`; only the line being assembled is
kept whole, and a line is refused as soon as it *must* be longer than ``max_line_chars``
characters (a UTF-8 character is at most 4 bytes), so a 1 GB line costs at most
``4 * max_line_chars`` bytes plus one chunk of memory, not a gigabyte.  Line numbers count
``\\n``; byte offsets are from the start of the file.
"""

from __future__ import annotations

import unicodedata
from typing import BinaryIO, Optional

from .errors import DataError

__all__ = ["DEFAULT_MAX_LINE_CHARS", "CHUNK_BYTES", "read_items", "check_max_line_chars"]

# The longest item (line) accepted by default: far above any name, word or sentence, far
# below what would exhaust memory or make one training batch absurdly long.
DEFAULT_MAX_LINE_CHARS = 10_000
CHUNK_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"


def check_max_line_chars(max_line_chars: Optional[int]) -> Optional[int]:
    """``max_line_chars`` as an int (None: no limit); anything below 1 is a ValueError."""
    if max_line_chars is None:
        return None
    if isinstance(max_line_chars, bool) or not isinstance(max_line_chars, int):
        raise TypeError(f"max_line_chars must be an integer or None, got {max_line_chars!r}")
    if max_line_chars < 1:
        raise ValueError(f"max_line_chars must be at least 1, got {max_line_chars}")
    return max_line_chars


class _Items:
    """Turns complete lines (bytes, without the newline) into items."""

    def __init__(self, source: str, dedupe: bool, max_line_chars: Optional[int]) -> None:
        self.source = source
        self.dedupe = dedupe
        self.max_chars = max_line_chars
        self.items: list[str] = []
        self.seen: set[str] = set()
        self.line = 0  # number of the line being read, from 1
        self.offset = 0  # file offset of its first byte

    def too_long(self, what: str) -> DataError:
        return DataError(
            f"{self.source}: line {self.line}: {what} longer than the limit of {self.max_chars:,} "
            f"characters per item (raise it with max_line_chars / --max-line-length)"
        )

    def add(self, raw: bytes | bytearray) -> None:
        skip = 3 if self.line == 1 and raw.startswith(BOM) else 0
        try:
            text = bytes(raw[skip:]).decode("utf-8")
        except UnicodeDecodeError as e:
            at = self.offset + skip + e.start
            raise DataError(
                f"{self.source}: line {self.line}: not valid UTF-8 at byte offset {at} "
                f"(byte 0x{raw[skip + e.start]:02x}); save the file as UTF-8"
            ) from None
        for part in text.splitlines():  # also splits at \r, \x85, \u2028, ... as str.splitlines does
            item = unicodedata.normalize("NFC", part).strip()
            if not item:
                continue
            if self.max_chars is not None and len(item) > self.max_chars:
                raise self.too_long(f"an item of {len(item):,} characters is")
            if self.dedupe:
                if item in self.seen:
                    continue
                self.seen.add(item)
            self.items.append(item)


def read_items(
    stream: BinaryIO,
    source: str,
    dedupe: bool = False,
    max_line_chars: Optional[int] = DEFAULT_MAX_LINE_CHARS,
) -> list[str]:
    """The items of a binary stream holding a UTF-8 file called ``source`` in messages.

    One item per line: decoded (an optional BOM is skipped), NFC-normalised, stripped;
    blank lines are skipped; ``dedupe`` keeps only the first occurrence of each item.
    Raises :class:`DataError` for bytes that are not UTF-8 (naming the line and the byte
    offset), an item longer than ``max_line_chars`` characters (None: no limit), or no
    items at all.
    """
    max_line_chars = check_max_line_chars(max_line_chars)
    out = _Items(source, dedupe, max_line_chars)
    limit = None if max_line_chars is None else 4 * max_line_chars + 8  # + a BOM, \r, spaces
    pending = bytearray()
    out.line = 1
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:  # each ends a line
            pending += piece
            if limit is not None and len(pending) > limit:
                raise out.too_long("a line is")
            out.add(pending)
            out.offset += len(pending) + 1
            out.line += 1
            pending.clear()
        pending += pieces[-1]
        if limit is not None and len(pending) > limit:
            raise out.too_long("a line is")
    if pending:
        out.add(pending)
    if not out.items:
        raise DataError(f"{source}: no items (the file is empty or has only blank lines)")
    return out.items
