"""Russian names: the bundled tables with counts, patronymics, surnames by gender.

    from charrnn import names

    names.patronymic("Илья")                 # Patronymic(male='Ильич', female='Ильинична', ...)
    names.surname_for("Толстой", "female")   # 'Толстая'
    names.first_names("female")[:3]          # rows (name, count, gender) of the bundled table

See ``docs/names.md`` for the rules and how well they agree with the tables.
"""

from __future__ import annotations

from .patronymic import Patronymic, patronymic
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

__all__ = [
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
