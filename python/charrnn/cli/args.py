"""argparse value types shared by every command-line module: each turns a bad value into
an `ArgumentTypeError`, which argparse reports as one line naming the option."""

from __future__ import annotations

import argparse
import math

__all__ = [
    "duration",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "fraction",
    "decay",
    "clip",
    "category_spec",
]


def duration(text: str) -> float:
    """A time budget such as 90s, 5m, 1h30m (charrnn.budget.parse_duration), in seconds."""
    from ..budget import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _finite_at_least_0(text: str, wanted: str) -> float:
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
    return value


def non_negative_float(text: str) -> float:
    return _finite_at_least_0(text, "a finite number >= 0")


def positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def decay(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def clip(text: str) -> float:
    return _finite_at_least_0(text, "a number >= 0 (0: no clipping)")


def category_spec(text: str) -> str:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {text!r}")
    return text
