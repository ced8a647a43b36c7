"""The bundled tables of Russian first names, patronymics and surnames, with counts.

They come from the ``russiannames`` package, version 2.0.0 (BSD-3-Clause, Ivan Begtin;
see ``data/README.md`` and ``data/LICENSE.russiannames`` in the repository for the
columns, the counts and the cleaning) and live in ``charrnn/data/ru_*.tsv.gz``.  They
are read with the standard library, once per process, on first use.

``gender`` in a row is ``"male"``, ``"female"``, ``"any"`` (the source's "universal or
unidentified": mostly names used by both sexes and surnames that do not change with
gender, such as Шевченко) or None (the source does not say).
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
from importlib import resources
from typing import NamedTuple, Optional

__all__ = [
    "FirstName",
    "Patronymic",
    "Surname",
    "TABLE_GENDERS",
    "first_names",
    "patronymics",
    "surnames",
    "surname_pairs",
    "patronymic_pairs",
]

FILES = {"first": "ru_first_names.tsv.gz", "patronymic": "ru_patronymics.tsv.gz", "surname": "ru_surnames.tsv.gz"}
_GENDER_CODES = {"m": "male", "f": "female", "u": "any", "": None}
TABLE_GENDERS = ("male", "female", "any")
logger = logging.getLogger(__name__)


# ``count`` shadows tuple.count (the method); the rows are read by field, so it is kept
# under the name the tables use.
class FirstName(NamedTuple):
    name: str
    count: int  # type: ignore[assignment]
    gender: Optional[str]


class Patronymic(NamedTuple):
    name: str
    count: int  # type: ignore[assignment]
    gender: Optional[str]
    father: Optional[str]  # the father's first name recorded with it, if any


class Surname(NamedTuple):
    name: str
    count: int  # type: ignore[assignment]
    gender: Optional[str]
    female: Optional[str]  # for a male surname, the female form recorded with it, if any


@functools.lru_cache(maxsize=None)
def _rows(kind: str) -> tuple:
    filename = FILES[kind]
    resource = resources.files("charrnn") / "data" / filename
    try:
        data = gzip.decompress(resource.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"bundled table {filename} is missing from the charrnn installation ({resource})"
        ) from None
    lines = io.StringIO(data.decode("utf-8")).read().splitlines()
    make = {"first": FirstName, "patronymic": Patronymic, "surname": Surname}[kind]
    rows = []
    for line in lines[1:]:  # the first line is the header
        fields = line.split("\t")
        fields[1] = int(fields[1])  # type: ignore[call-overload]
        fields[2] = _GENDER_CODES[fields[2]]  # type: ignore[assignment]
        if len(fields) > 3:
            fields[3] = fields[3] or None  # type: ignore[assignment]
        rows.append(make(*fields))
    logger.debug("read %d rows from charrnn/data/%s", len(rows), filename)
    return tuple(rows)


def _select(kind: str, gender: Optional[str], min_count: int) -> list:
    if gender is not None and gender not in TABLE_GENDERS:
        raise ValueError(f"gender must be one of {', '.join(map(repr, TABLE_GENDERS))} or None; got {gender!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    return [r for r in _rows(kind) if (gender is None or r.gender == gender) and r.count >= min_count]


def first_names(gender: Optional[str] = None, min_count: int = 1) -> list[FirstName]:
    """First names ``(name, count, gender)`` in Russian alphabetical order.

    ``gender`` keeps only the rows of that gender (``"male"``, ``"female"``, ``"any"``;
    None: all 29,996); ``min_count`` drops names seen fewer times.
    """
    return _select("first", gender, min_count)


def patronymics(gender: Optional[str] = None, min_count: int = 1) -> list[Patronymic]:
    """Patronymics ``(name, count, gender, father)``; arguments as for :func:`first_names`."""
    return _select("patronymic", gender, min_count)


def surnames(gender: Optional[str] = None, min_count: int = 1) -> list[Surname]:
    """Surnames ``(name, count, gender, female)``; arguments as for :func:`first_names`."""
    return _select("surname", gender, min_count)


def surname_pairs() -> list[tuple[str, str, int]]:
    """``(male form, female form, count of the male form)`` for every male surname whose
    female form the table records (74,024 pairs)."""
    return [(r.name, r.female, r.count) for r in _rows("surname") if r.gender == "male" and r.female]


def patronymic_pairs() -> list[tuple[str, str, str, int]]:
    """``(father's first name, patronymic, gender of the patronymic, count)`` for every
    patronymic recorded with the father's name (13,726 pairs)."""
    return [
        (r.father, r.name, r.gender, r.count)
        for r in _rows("patronymic")
        if r.father and r.gender in ("male", "female")
    ]
