"""Argument checks shared by the model, text generation and the training config: each
raises TypeError for a value of the wrong kind and ValueError for one out of range,
naming the argument."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

__all__ = ["positive_int", "positive_or_none", "sampling_options"]


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (numpy integers too; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def positive_or_none(value: Any, name: str) -> Optional[int]:
    """``value`` as an int >= 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer or None, got {value!r}")
    return positive_int(value, name)


def sampling_options(temperature: Any, top_k: Any, top_p: Any) -> tuple[float, int, float]:
    """``(temperature, top_k, top_p)`` as the Rust sampler takes them: a positive finite
    temperature; top_k >= 1 or None (0: no cut); top_p in (0, 1] or None (1.0)."""
    if not isinstance(temperature, numbers.Real) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    k = 0 if top_k is None else positive_int(top_k, "top_k")
    if top_p is None:
        top_p = 1.0
    elif not isinstance(top_p, numbers.Real) or not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    return float(temperature), k, float(top_p)
