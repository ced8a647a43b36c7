"""The vocabulary: characters <-> integer ids.

Ids 0, 1 and 2 are markers: padding, start of a name (BOS) and end of a name (EOS).
The characters seen in the training data get ids 3, 4, ... in sorted (code point) order,
so the same data always gives the same vocabulary.  Text is NFC-normalised on the way in,
so "ё" typed as one code point or as "е" + combining diaeresis is the same character.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence

from .errors import UnknownCharacterError

__all__ = ["Vocab", "PAD", "BOS", "EOS"]

PAD = 0
BOS = 1
EOS = 2
MARKERS = ("<pad>", "<s>", "</s>")  # display names of ids 0, 1, 2 (used in JSON and repr)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class Vocab:
    """Characters <-> ids, with the markers ``pad`` (0), ``bos`` (1) and ``eos`` (2)."""

    pad_id = PAD
    bos_id = BOS
    eos_id = EOS
    n_markers = len(MARKERS)

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted({_nfc(c) for c in chars})
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {c!r}")
        self._chars: tuple[str, ...] = tuple(chars)
        self._ids: dict[str, int] = {c: i + len(MARKERS) for i, c in enumerate(self._chars)}

    @classmethod
    def from_items(cls, items: Iterable[str]) -> Vocab:
        """The vocabulary of every character in ``items`` (after NFC normalisation)."""
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"items must be strings, got {type(item).__name__}")
            seen.update(_nfc(item))
        if not seen:
            raise ValueError("cannot build a vocabulary from no characters")
        return cls(seen)

    @property
    def chars(self) -> tuple[str, ...]:
        """The characters, in id order (the first has id 3)."""
        return self._chars

    def __len__(self) -> int:
        """Number of ids, markers included (the model's input and output size)."""
        return len(self._chars) + len(MARKERS)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and char in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._chars == other._chars

    def __hash__(self) -> int:
        return hash(self._chars)

    def __repr__(self) -> str:
        shown = "".join(self._chars)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"Vocab({len(self)} ids: {len(MARKERS)} markers + {shown!r})"

    def encode(self, text: str) -> list[int]:
        """The ids of the characters of ``text`` (NFC first), without any marker.

        Raises :class:`UnknownCharacterError` naming the character and ``text``.
        """
        text = _nfc(text)
        ids = []
        for c in text:
            i = self._ids.get(c)
            if i is None:
                raise UnknownCharacterError(c, text)
            ids.append(i)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; markers (pad, bos, eos) are skipped."""
        out = []
        n = len(self)
        for i in ids:
            i = int(i)
            if i < 0 or i >= n:
                raise ValueError(f"id {i} is outside the vocabulary (0..{n - 1})")
            if i >= len(MARKERS):
                out.append(self._chars[i - len(MARKERS)])
        return "".join(out)

    def to_json(self) -> str:
        """A JSON string that :meth:`from_json` turns back into an equal vocabulary."""
        return json.dumps({"markers": list(MARKERS), "chars": list(self._chars)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        """Inverse of :meth:`to_json`; raises ValueError on anything else."""
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"vocabulary is not valid JSON: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("chars"), list):
            raise ValueError("vocabulary JSON must be an object with a 'chars' list")
        markers = data.get("markers", list(MARKERS))
        if list(markers) != list(MARKERS):
            raise ValueError(f"vocabulary markers {markers!r} differ from {list(MARKERS)!r}")
        chars: Sequence[object] = data["chars"]
        if not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError("vocabulary 'chars' must be single characters")
        if len(set(chars)) != len(chars) or list(chars) != sorted(chars):  # type: ignore[type-var]
            raise ValueError("vocabulary 'chars' must be unique and sorted")
        return cls(chars)  # type: ignore[arg-type]
