"""Latin spellings of Russian names, with the maintained ``iuliia`` package.

    >>> transliterate("Щукина Юлия Игоревна")            # as in Russian passports
    'Shchukina Iuliia Igorevna'
    >>> transliterate("Воробьёв Семён", "bgn")
    'Vorob’yëv Semën'

Systems (``SYSTEMS``; the name on the left is what ``--translit`` takes):

* ``icao`` — ICAO Doc 9303, the system of Russian international passports since 2013
  (iuliia's ``icao_doc_9303``); the default;
* ``gost`` — GOST 7.79-2000 system A, the same as ISO 9:1995, one Latin letter (with
  diacritics) per Cyrillic letter (``gost_779``); ``gost-b`` — its system B, Latin letters
  only (``gost_779_alt``);
* ``bgn`` — BGN/PCGN 1947 (``bgn_pcgn``);
* ``scholarly`` — the scientific (scholarly) transliteration of linguists (``scientific``).

iuliia 0.13 leaves ``ё`` untransliterated in ``gost_779``, ``bgn_pcgn`` and ``scientific``:
their tables (and their own test samples, e.g. ``Yёdva`` for Ёдва) map it to the Cyrillic
``ё`` — most likely a Cyrillic ``е`` with a combining diaeresis where the Latin ``e`` was
meant.  Those three systems write it ``ë``, so any ``ё`` left in their output is made
``ë`` here.  Any other Cyrillic letter left over is an error.
"""

from __future__ import annotations

import re
import unicodedata

import iuliia

__all__ = ["SYSTEMS", "DEFAULT_SYSTEM", "transliterate"]

SYSTEMS = {
    "icao": iuliia.ICAO_DOC_9303,
    "gost": iuliia.GOST_779,
    "gost-b": iuliia.GOST_779_ALT,
    "bgn": iuliia.BGN_PCGN,
    "scholarly": iuliia.SCIENTIFIC,
}
DEFAULT_SYSTEM = "icao"
_YO = str.maketrans({"ё": "\u00eb", "Ё": "\u00cb"})
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def transliterate(text: str, system: str = DEFAULT_SYSTEM) -> str:
    """``text`` in Latin letters by ``system`` (one of :data:`SYSTEMS`), NFC-normalised."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown transliteration system {system!r}; choose one of {', '.join(SYSTEMS)}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    latin = unicodedata.normalize("NFC", SYSTEMS[system].translate(unicodedata.normalize("NFC", text)))
    latin = latin.translate(_YO)
    left = _CYRILLIC.search(latin)
    if left:
        raise ValueError(f"{system} transliteration of {text!r} left the Cyrillic letter {left.group()!r}")
    return latin
