"""Russian names: the bundled tables with counts, patronymics, surnames by gender.

    from charrnn import names

    names.patronymic("Илья")                 # Patronymic(male='Ильич', female='Ильинична', ...)
    names.surname_for("Толстой", "female")   # 'Толстая'
    names.first_names("female")[:3]          # rows (name, count, gender) of the bundled table
    p = names.person(gender="female", seed=1)
    p.full(), p.latin("icao"), p.declined("datv").full()   # declined: pip install 'charrnn[declension]'

See ``docs/names.md`` for the rules and how well they agree with the tables.
"""

from __future__ import annotations

from .declension import CASES, decline
from .patronymic import Patronymic, patronymic
from .person import NameSource, Person, TableSource, people, person
from .surname import SurnameForm, female_surname, surname_for
from .tables import (
    FirstName,
    Surname,
    first_names,
    patronymic_pairs,
    patronymics,
    surname_pairs,
    surnames,
)
from .translit import SYSTEMS, transliterate

__all__ = [
    "CASES",
    "NameSource",
    "Person",
    "SYSTEMS",
    "TableSource",
    "decline",
    "people",
    "person",
    "transliterate",
    "FirstName",
    "Patronymic",
    "Surname",
    "SurnameForm",
    "female_surname",
    "first_names",
    "patronymic",
    "patronymic_pairs",
    "patronymics",
    "surname_for",
    "surname_pairs",
    "surnames",
]
