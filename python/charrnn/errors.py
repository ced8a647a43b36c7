"""The exceptions charrnn raises on bad input.

Every error is a :class:`CharRNNError`; the ones about bad values are also
``ValueError`` so that code catching ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "CharRNNError",
    "DataError",
    "UnknownCharacterError",
    "CheckpointError",
    "ResumeError",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "InvalidNameError",
    "MissingDependencyError",
]


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


class ResumeError(CharRNNError, ValueError):
    """A training checkpoint cannot be resumed as asked: other data, other options, or
    not a training checkpoint at all."""


class TrainingDivergedError(CharRNNError, FloatingPointError):
    """The loss or the gradients became NaN or infinite; the weights were not updated with
    them and the last checkpoint on disk was left as it was."""

    def __init__(self, message: str, step: int = 0, epoch: int = 0, checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.checkpoint = checkpoint

    def __reduce__(self):
        return (type(self), (str(self), self.step, self.epoch, self.checkpoint))


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C (SIGINT) or SIGTERM at a safe point, after a whole
    optimizer step.  ``checkpoint`` is the resumable checkpoint written there (None when
    training had no checkpoint path); ``signum`` the signal that asked to stop.  It is a
    ``KeyboardInterrupt``, so ``except Exception`` does not swallow it."""

    def __init__(self, step: int, epoch: int, checkpoint: str | None = None, signum: int = 2) -> None:
        where = f"interrupted at step {step} (epoch {epoch})"
        super().__init__(where + (f"; resumable checkpoint: {checkpoint}" if checkpoint else ""))
        self.step = step
        self.epoch = epoch
        self.checkpoint = checkpoint
        self.signum = signum

    def __reduce__(self):
        return (type(self), (self.step, self.epoch, self.checkpoint, self.signum))


class InvalidNameError(CharRNNError, ValueError):
    """A name given to :mod:`charrnn.names` is not a Russian name written in Cyrillic
    letters (empty, Latin script, digits, several words, ...)."""


class MissingDependencyError(CharRNNError, ImportError):
    """An optional feature needs a package that is not installed; the message says which
    and how to install it (e.g. ``pip install 'charrnn[declension]'``)."""
