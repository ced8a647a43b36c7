"""A full name in any of the six cases, with the ``pytrovich`` package (an optional extra).

    >>> decline("Иванова", "Анна", "Сергеевна", "female", "datv")
    ('Ивановой', 'Анне', 'Сергеевне')                     # "выдан Ивановой Анне Сергеевне"

``pytrovich`` (PyPI, MIT; the Python port of the Petrovich rules kept by the petrovich
project itself, github.com/petrovich/pytrovich) is installed with ``pip install
'charrnn[declension]'``; without it, :func:`decline` raises
:class:`~charrnn.errors.MissingDependencyError` saying so.  The cases are named as in
OpenCorpora / pymorphy: ``nomn`` (именительный), ``gent`` (родительный), ``datv``
(дательный), ``accs`` (винительный), ``ablt`` (творительный), ``loct`` (предложный).
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import MissingDependencyError
from ._text import clean_name

__all__ = ["CASES", "decline", "available"]

CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")
INSTALL = "pip install 'charrnn[declension]'"


@functools.lru_cache(maxsize=1)
def _pytrovich() -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    try:
        from pytrovich.enums import Case, Gender, NamePart
        from pytrovich.maker import PetrovichDeclinationMaker
    except ImportError:
        raise MissingDependencyError(
            f"declension needs the 'pytrovich' package, which is not installed: {INSTALL}"
        ) from None
    cases = {
        "gent": Case.GENITIVE,
        "datv": Case.DATIVE,
        "accs": Case.ACCUSATIVE,
        "ablt": Case.INSTRUMENTAL,
        "loct": Case.PREPOSITIONAL,
    }
    return PetrovichDeclinationMaker(), NamePart, cases, {"male": Gender.MALE, "female": Gender.FEMALE}


def available() -> bool:
    """Whether declension works here (``pytrovich`` is installed)."""
    try:
        _pytrovich()
    except MissingDependencyError:
        return False
    return True


def check_case(case: str) -> str:
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; choose one of {', '.join(CASES)}")
    return case


def decline(surname: str, first: str, patronymic: str, gender: str, case: str) -> tuple[str, str, str]:
    """``(surname, first, patronymic)`` of a person of ``gender`` put in ``case`` (one of
    :data:`CASES`).  ``nomn`` gives them back as they are (pytrovich is not needed)."""
    check_case(case)
    if gender not in ("male", "female"):
        raise ValueError(f"gender must be 'male' or 'female', got {gender!r}")
    parts = (clean_name(surname, "surname"), clean_name(first, "first name"), clean_name(patronymic, "patronymic"))
    if case == "nomn":
        return parts
    maker, part, cases, genders = _pytrovich()
    c, g = cases[case], genders[gender]
    s, f, p = parts
    return (
        maker.make(part.LASTNAME, g, c, s),
        maker.make(part.FIRSTNAME, g, c, f),
        maker.make(part.MIDDLENAME, g, c, p),
    )
