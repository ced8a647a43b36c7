"""Checking and normalising a name given by a user (shared by the rules of this package)."""

from __future__ import annotations

import re
import unicodedata

from ..errors import InvalidNameError

__all__ = ["clean_name", "VOWELS", "CONSONANTS"]

VOWELS = set("аеёиоуыэюя")
CONSONANTS = set("бвгджзйклмнпрстфхцчшщ")
# Turkic patronymic particles, written in small letters after a hyphen: Мамед-оглы, Ахмед-кызы.
PARTICLES = frozenset({"оглы", "кызы", "улы", "гызы"})
_NAME = re.compile(r"[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)*")


def clean_name(name: object, what: str = "name") -> str:
    """``name`` NFC-normalised and stripped, each hyphen-separated part capitalised
    (``иван`` -> ``Иван``, ``ИВАН`` -> ``Иван``; a mixed-case part such as ``МакДональд``
    is kept as written, the particles оглы / кызы stay in small letters).

    :class:`InvalidNameError` when it is not a string, is empty, or is not a single word
    of Cyrillic letters (parts of two letters or more, which may be joined by hyphens)."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a string, got {type(name).__name__}")
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise InvalidNameError(f"{what} is empty")
    if not _NAME.fullmatch(text):
        bad = next((ch for ch in text if not ("а" <= ch.lower() <= "я" or ch.lower() == "ё" or ch == "-")), None)
        why = f"character {bad!r} (U+{ord(bad):04X})" if bad is not None else "a hyphen at an end or two in a row"
        raise InvalidNameError(
            f"{what} {text!r} is not a Russian name in Cyrillic letters ({why}; parts may be joined by hyphens)"
        )
    parts = text.split("-")
    if any(len(p) < 2 for p in parts):
        raise InvalidNameError(f"{what} {text!r} is not a name: one letter is an initial")
    return "-".join(
        p.lower()
        if i and p.lower() in PARTICLES
        else p[:1].upper() + p[1:].lower()
        if p.islower() or p.isupper()
        else p
        for i, p in enumerate(parts)
    )
