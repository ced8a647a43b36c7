"""Generating what users ask for: new names only, within a length range, of a given shape.

:func:`sample_filtered` draws names in rounds and keeps those that pass every filter:

* ``exclude``: never one of these names (``charrnn sample --novel`` excludes the names
  the model was trained on, its :class:`SeenNames`, and ``--exclude FILE`` more);
* ``unique``: never a name drawn before in this call;
* ``min_len``/``max_len``: the name's length in characters, prefix included (never
  empty: ``min_len`` is at least 1).  A name that does not end within ``max_len``
  characters is never cut: without other constraints it is rejected (drawn again); with
  ``min_len`` > 1 or a constraint (``starts_with``, ``ends_with``, ``contains``, ``regex``:
  :mod:`charrnn.constraints`) the lengths are met while drawing.

It says how many names it drew to find them (:attr:`Draws.draws`) and why the others
were rejected.  Rounds use seeds derived from ``seed`` and the round number, so the same
seed gives the same names on any machine.

*Seen names* travel with the model: ``charrnn train`` stores a compact set of all the
items it was given (training and validation) in the checkpoint's ``seen_items`` metadata
entry — 64-bit BLAKE2b hashes of the NFC-normalised items, sorted, base64-encoded, so a
list of 200,000 surnames costs 1.6 MB and no name is stored in clear.  (Two different
names share a hash with probability about ``N / 2**64``.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from .model import DEFAULT_MAX_LEN, Category, CharRNN

__all__ = ["SeenNames", "Draws", "sample_filtered", "SEEN_KEY"]

SEEN_KEY = "seen_items"  # the checkpoint metadata entry
_HASH = "blake2b-64"


def _hash(item: str) -> int:
    raw = unicodedata.normalize("NFC", item).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


class SeenNames:
    """A set of names kept as 64-bit hashes (see the module's documentation)."""

    def __init__(self, hashes: Iterable[int] = ()) -> None:
        self._hashes = np.unique(np.fromiter(hashes, dtype=np.uint64))

    @classmethod
    def from_items(cls, items: Iterable[str]) -> SeenNames:
        return cls(_hash(item) for item in items)

    def __len__(self) -> int:
        return int(self._hashes.size)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str) or self._hashes.size == 0:
            return False
        h = np.uint64(_hash(item))
        i = int(np.searchsorted(self._hashes, h))
        return i < self._hashes.size and self._hashes[i] == h

    def __or__(self, other: SeenNames) -> SeenNames:
        return SeenNames(np.concatenate([self._hashes, other._hashes]).tolist())

    def to_metadata(self) -> str:
        """The checkpoint metadata value (a JSON string)."""
        data = base64.b64encode(self._hashes.astype("<u8").tobytes()).decode("ascii")
        return json.dumps({"hash": _HASH, "count": len(self), "data": data})

    @classmethod
    def from_metadata(cls, text: str) -> SeenNames:
        """Inverse of :meth:`to_metadata`; ValueError on anything else."""
        try:
            entry = json.loads(text)
            if entry.get("hash") != _HASH:
                raise ValueError(f"unknown hash {entry.get('hash')!r}")
            raw = base64.b64decode(entry["data"], validate=True)
            if len(raw) % 8 or len(raw) // 8 != entry.get("count"):
                raise ValueError("the hash data does not match its count")
        except (TypeError, KeyError, AttributeError, ValueError) as e:
            raise ValueError(f"bad {SEEN_KEY} entry: {e}") from None
        seen = cls()
        seen._hashes = np.sort(np.frombuffer(raw, dtype="<u8").astype(np.uint64))
        return seen


def read_seen(path: str) -> Optional[SeenNames]:
    """The seen names stored in a checkpoint (None when it has none)."""
    from .checkpoint import read_metadata

    raw = read_metadata(path).get(SEEN_KEY)
    return None if raw is None else SeenNames.from_metadata(raw)


@dataclass
class Draws:
    """What :func:`sample_filtered` found."""

    names: list[str]
    draws: int  # names drawn in all, kept or not
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count
    wanted: int = 0

    @property
    def complete(self) -> bool:
        return len(self.names) >= self.wanted

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "draws": self.draws, "rejected": self.rejected, "complete": self.complete}


def sample_filtered(
    model: CharRNN,
    n: int = 10,
    *,
    exclude: Union[None, SeenNames, Iterable[str]] = None,
    unique: bool = False,
    min_len: int = 1,
    max_len: int = DEFAULT_MAX_LEN,
    max_draws: Optional[int] = None,
    seed: Optional[int] = None,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    prefix: str = "",
    category: Optional[Category] = None,
    **constraints: Any,
) -> Draws:
    """Draw until ``n`` names pass the filters (see the module's documentation) or
    ``max_draws`` names were drawn (default ``1000 + 100 * n``); returns a :class:`Draws`
    (``complete`` False when it gave up).  ``exclude`` is names or a :class:`SeenNames`
    (``read_seen(checkpoint)``: the names the model was trained on); new names only is
    ``exclude=training_items, unique=True``.  The other options are :meth:`CharRNN.sample`'s;
    its constraints (``starts_with``, ``ends_with``, ``contains``, ``regex``, ``resample``)
    and ``min_len`` > 1 are applied while drawing, so only the exclusions are rejections.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(min_len, bool) or not isinstance(min_len, int) or min_len < 1:
        raise ValueError(f"min_len must be a positive integer (a name is never empty), got {min_len!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    if min_len > max_len:
        raise ValueError(f"min_len {min_len} is more than max_len {max_len}")
    if max_draws is None:
        max_draws = 1000 + 100 * n
    elif isinstance(max_draws, bool) or not isinstance(max_draws, int) or max_draws < n:
        raise ValueError(f"max_draws must be an integer of at least n={n}, got {max_draws!r}")
    if seed is None:
        seed = int(model._sample_rng.integers(0, 2**63))  # noqa: SLF001 - same package
    elif seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    seen = exclude if isinstance(exclude, SeenNames) else SeenNames.from_items(exclude or ())
    prefix_len = len(model.vocab.encode(prefix))
    if prefix_len > max_len:
        raise ValueError(f"prefix has {prefix_len} characters, more than max_len={max_len}")

    options = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "prefix": prefix, "category": category}
    shape = {k: v for k, v in constraints.items() if k != "resample"}
    constrained = min_len > 1 or any(v not in (None, "", (), []) for v in shape.values())

    kept: list[str] = []
    kept_set: set[str] = set()
    rejected = {"too_long": 0, "too_short": 0, "excluded": 0, "repeated": 0}
    draws = 0
    round_ = 0
    while len(kept) < n and draws < max_draws:
        missing = n - len(kept)
        size = min(max_draws - draws, max(16, min(4096, 2 * missing + math.ceil(missing * 0.5))))
        round_seed = int(np.random.default_rng([seed, round_]).integers(0, 2**63))
        round_ += 1
        if constrained:
            # Lengths and patterns are met while drawing (charrnn.constraints).
            batch = model.sample(size, seed=round_seed, max_len=max_len, min_len=min_len, **options, **constraints)
        else:
            # One character more than allowed: a name that reaches it did not end in time.
            batch = model.sample(size, seed=round_seed, max_len=max_len + 1, **options)
        for name in batch:
            draws += 1
            if len(name) > max_len:
                rejected["too_long"] += 1
            elif len(name) < min_len:
                rejected["too_short"] += 1
            elif name in seen:
                rejected["excluded"] += 1
            elif unique and name in kept_set:
                rejected["repeated"] += 1
            else:
                kept.append(name)
                kept_set.add(name)
                if len(kept) == n:
                    break
    return Draws(kept, draws, {k: v for k, v in rejected.items() if v}, wanted=n)
