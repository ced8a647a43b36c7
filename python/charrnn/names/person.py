"""A whole person (Фамилия Имя Отчество) whose parts agree in gender.

    >>> p = person(gender="female", seed=3)
    >>> p.full()                       # e.g. 'Кузнецова Ольга Николаевна'
    >>> p.latin()                      # ICAO Doc 9303, as in a Russian passport
    >>> p.declined("datv").full()      # needs pytrovich: 'Кузнецовой Ольге Николаевне'

Where the names come from is a :class:`NameSource`: anything with ``first_name(gender,
rng)`` and ``surname(gender, rng)``.  The default, :class:`TableSource`, draws from the
bundled ``russiannames`` tables in proportion to the counts (raised to ``power``); a
source built on trained models can take its place without changing anything else.  The
patronymic is always derived from the father's first name by the rules of
:mod:`charrnn.names.patronymic`, and the surname put in the form for the gender by
:mod:`charrnn.names.surname`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from dataclasses import asdict, dataclass, replace
from typing import Iterator, Optional, Protocol, Sequence

from . import tables
from ._text import clean_name
from .patronymic import patronymic as derive_patronymic
from .surname import surname_for

__all__ = ["GENDERS", "NameSource", "Person", "TableSource", "ModelSource", "SOURCES", "person", "people"]

GENDERS = ("male", "female")


class NameSource(Protocol):
    """Where first names and surnames come from."""

    def first_name(self, gender: str, rng: random.Random) -> str:
        """A first name for a person of ``gender`` (``"male"`` or ``"female"``)."""
        ...

    def surname(self, gender: str, rng: random.Random) -> str:
        """A surname already in the form for ``gender``."""
        ...


class _Weighted:
    """Draws from ``items`` in proportion to ``weights`` (one uniform number per draw)."""

    def __init__(self, items: Sequence[str], weights: Sequence[float]) -> None:
        if not items:
            raise ValueError("nothing to draw from")
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        if not self.cumulative[-1] > 0:
            raise ValueError("all weights are zero")

    def draw(self, rng: random.Random) -> str:
        x = rng.random() * self.cumulative[-1]
        return self.items[min(bisect.bisect_right(self.cumulative, x), len(self.items) - 1)]


class TableSource:
    """Names drawn from the bundled tables, each with probability ∝ ``count ** power``.

    ``power`` 1 (the default) draws names as often as people bear them, 0 draws every
    name alike, values between temper the counts.  ``min_count`` leaves out rarer names
    (many rows seen once are typos).  First names are drawn from the rows of the
    person's gender; surnames from the male and gender-invariant rows (the family name),
    a male one put in the female form for a woman.
    """

    def __init__(self, power: float = 1.0, min_count: int = 1) -> None:
        if not (isinstance(power, (int, float)) and math.isfinite(power) and power >= 0):
            raise ValueError(f"power must be a finite number >= 0, got {power!r}")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        self.power = float(power)
        self.min_count = min_count
        self._first: dict[str, _Weighted] = {}
        self._surnames: Optional[_Weighted] = None
        self._invariant: set[str] = set()

    def __repr__(self) -> str:
        return f"TableSource(power={self.power:g}, min_count={self.min_count})"

    def first_name(self, gender: str, rng: random.Random) -> str:
        _check_gender(gender)
        if gender not in self._first:
            rows = tables.first_names(gender, self.min_count)
            if not rows:
                raise ValueError(f"no {gender} first name is seen {self.min_count:,} times or more in the table")
            self._first[gender] = _Weighted([r.name for r in rows], [r.count**self.power for r in rows])
        return self._first[gender].draw(rng)

    def surname(self, gender: str, rng: random.Random) -> str:
        _check_gender(gender)
        if self._surnames is None:
            rows = tables.surnames("male", self.min_count) + tables.surnames("any", self.min_count)
            if not rows:
                raise ValueError(f"no surname is seen {self.min_count:,} times or more in the table")
            self._invariant = {r.name for r in rows if r.gender == "any"}
            self._surnames = _Weighted([r.name for r in rows], [r.count**self.power for r in rows])
        family = self._surnames.draw(rng)
        return family if family in self._invariant else surname_for(family, gender)


class ModelSource:
    """Names written by the pretrained models shipped in the package (``ru-first-male``,
    ``ru-first-female``, ``ru-surname-male``, ``ru-surname-female``, see ``charrnn
    models``): new names as well as real ones, common ones more often (the models were
    trained drawing names in proportion to count ** 0.5).  ``temperature`` < 1 gives
    safer names.  The surname models write the form of each gender themselves.  A drawn
    name that the patronymic rules cannot take (for a father) is drawn again."""

    BATCH = 32  # names written per model call

    def __init__(self, temperature: float = 1.0) -> None:
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = float(temperature)
        self._models: dict[str, object] = {}
        self._queues: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"ModelSource(temperature={self.temperature:g})"

    def _draw(self, name: str, rng: random.Random) -> str:
        queue = self._queues.setdefault(name, [])
        if not queue:
            if name not in self._models:
                from ..model import pretrained

                self._models[name] = pretrained(name)
            model = self._models[name]
            names = model.sample(self.BATCH, temperature=self.temperature, seed=rng.getrandbits(63))  # type: ignore[attr-defined]
            queue.extend(reversed([n for n in names if n.strip()]))
        return queue.pop() if queue else self._draw(name, rng)

    def first_name(self, gender: str, rng: random.Random) -> str:
        _check_gender(gender)
        return self._draw(f"ru-first-{gender}", rng)

    def father(self, rng: random.Random) -> str:
        """A father's first name the patronymic rules can take."""
        for _ in range(100):
            name = self.first_name("male", rng)
            try:
                derive_patronymic(name)
            except ValueError:
                continue
            return name
        raise ValueError("the first-name model wrote 100 names in a row that take no patronymic")

    def surname(self, gender: str, rng: random.Random) -> str:
        _check_gender(gender)
        return self._draw(f"ru-surname-{gender}", rng)


SOURCES = {"table": TableSource, "model": ModelSource}


@dataclass(frozen=True)
class Person:
    """Фамилия Имя Отчество and the gender they agree with; ``father`` is the father's first
    name the patronymic was made from (always in the nominative)."""

    surname: str
    first: str
    patronymic: str
    gender: str
    father: str

    def full(self, order: str = "sfp") -> str:
        """The name as one string: ``"sfp"`` Фамилия Имя Отчество (the default, as on
        forms), ``"fps"`` Имя Отчество Фамилия, ``"fs"`` Имя Фамилия."""
        parts = {"s": self.surname, "f": self.first, "p": self.patronymic}
        if not order or any(ch not in parts for ch in order):
            raise ValueError(f"order must be made of the letters s, f, p, got {order!r}")
        return " ".join(parts[ch] for ch in order)

    def latin(self, system: str = "icao", order: str = "sfp") -> str:
        """:meth:`full` in Latin letters (see :mod:`charrnn.names.translit`)."""
        from .translit import transliterate

        return transliterate(self.full(order), system)

    def declined(self, case: str) -> "Person":
        """The same person with surname, first name and patronymic in ``case`` (``nomn``,
        ``gent``, ``datv``, ``accs``, ``ablt``, ``loct``); needs the ``declension`` extra."""
        from .declension import decline

        s, f, p = decline(self.surname, self.first, self.patronymic, self.gender, case)
        return replace(self, surname=s, first=f, patronymic=p)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _check_gender(gender: str) -> None:
    if gender not in GENDERS:
        raise ValueError(f"gender must be 'male' or 'female', got {gender!r}")


@functools.lru_cache(maxsize=1)
def _known_genders() -> dict[str, str]:
    """First name -> gender, for the names the table gives only one gender."""
    return {r.name: r.gender for r in tables.first_names() if r.gender in GENDERS}


def person(
    gender: Optional[str] = None,
    seed: Optional[int] = 0,
    first: Optional[str] = None,
    surname: Optional[str] = None,
    father: Optional[str] = None,
    source: Optional[NameSource] = None,
    rng: Optional[random.Random] = None,
) -> Person:
    """One person.

    ``gender``: ``"male"``, ``"female"`` or None — then the gender the table gives
    ``first``, if it is given and known, else one of the two with equal chances.
    ``first``, ``surname`` (in its male form: Толстой, put in the female form for a
    woman) and ``father`` (the father's first name) fix those parts; the others come
    from ``source`` (default: a :class:`TableSource`).  The same ``seed`` gives the same
    person; ``rng`` (a :class:`random.Random`) is used instead when given.
    """
    if gender is not None:
        _check_gender(gender)
    if rng is None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        rng = random.Random(seed)
    source = _default_source() if source is None else source
    first = None if first is None else clean_name(first, "first name")
    if gender is None:
        gender = _known_genders().get(first) if first is not None else None
        if gender is None:
            gender = GENDERS[rng.random() < 0.5]
    if father is not None:
        father = clean_name(father, "father's name")
    else:
        father = source.father(rng) if hasattr(source, "father") else source.first_name("male", rng)
    first = first if first is not None else source.first_name(gender, rng)
    family = surname_for(surname, gender) if surname is not None else source.surname(gender, rng)
    return Person(family, first, derive_patronymic(father).for_gender(gender), gender, father)


def people(
    n: int, gender: Optional[str] = None, seed: int = 0, source: Optional[NameSource] = None, **fixed: str
) -> Iterator[Person]:
    """``n`` people from one random stream seeded with ``seed`` (the same seed, the same
    people); ``fixed`` may give ``first``, ``surname`` or ``father`` as in :func:`person`."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    unknown = set(fixed) - {"first", "surname", "father"}
    if unknown:
        raise TypeError(f"unexpected arguments: {', '.join(sorted(unknown))}")
    rng = random.Random(seed)
    source = _default_source() if source is None else source
    for _ in range(n):
        yield person(
            gender,
            rng=rng,
            source=source,
            first=fixed.get("first"),
            surname=fixed.get("surname"),
            father=fixed.get("father"),
        )


@functools.lru_cache(maxsize=1)
def _default_source() -> TableSource:
    return TableSource()
