"""The exceptions charrnn raises on bad input.

Every error is a :class:`CharRNNError`; the ones about bad values are also
``ValueError`` so that code catching ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["CharRNNError", "DataError", "UnknownCharacterError", "CheckpointError"]


class CharRNNError(Exception):
    """Base class of every error charrnn raises on purpose."""


class DataError(CharRNNError, ValueError):
    """A data file cannot be used: not UTF-8, empty, or otherwise malformed."""


class UnknownCharacterError(CharRNNError, ValueError):
    """A character is not in the vocabulary the model was trained with."""

    def __init__(self, char: str, item: str) -> None:
        self.char = char
        self.item = item
        super().__init__(f"character {char!r} (U+{ord(char):04X}) in {item!r} is not in the vocabulary")

    def __reduce__(self):  # keep the exception copyable despite the custom __init__
        return (type(self), (self.char, self.item))


class CheckpointError(CharRNNError, ValueError):
    """A checkpoint file is not a valid charrnn checkpoint (corrupt, truncated, wrong version, ...)."""
