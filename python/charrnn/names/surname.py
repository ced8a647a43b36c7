"""The form of a surname that agrees with the gender of its bearer.

    >>> female_surname("Толстой")
    SurnameForm(form='Толстая', rule='-ой')
    >>> surname_for("Кох", "female")
    'Кох'

A surname is given in its male (dictionary) form.  The rules (standard Russian grammar;
see ``docs/names.md``):

* possessive surnames in -ов, -ев, -ёв, -ин, -ын take -а: Иванов → Иванова, Пушкин →
  Пушкина, Лисицын → Лисицына; except one-syllable foreign ones in -ин (Грин, Флин),
  which do not change;
* adjectival surnames change their ending: -ский / -цкий / -ской / -цкой → -ская / -цкая
  (Достоевский → Достоевская, Трубецкой → Трубецкая), -ой → -ая (Толстой → Толстая), -ый →
  -ая (Белый → Белая), -кий / -гий / -хий → -кая / -гая / -хая (Горький → Горькая), other
  -ий → -яя (Синий → Синяя);
* everything else is the same for both genders: -их / -ых (Седых, Черных), -ко / -енко
  (Шевченко), other vowels (Дюма, Гюго, Джугашвили), and the other consonants (Кох, Грин,
  Петрович, Ковальчук, Мирзоян).
"""

from __future__ import annotations

from typing import NamedTuple

from ._text import VOWELS, clean_name

__all__ = ["SurnameForm", "female_surname", "surname_for"]


class SurnameForm(NamedTuple):
    form: str
    rule: str  # which rule made it (the class an error belongs to)


def female_surname(male: str) -> SurnameForm:
    """The female form of a surname given in its male form, and the rule that made it.

    :class:`~charrnn.errors.InvalidNameError` when ``male`` is not a name in Cyrillic
    letters.  A hyphenated surname has each part changed (Римский-Корсаков →
    Римская-Корсакова).
    """
    name = clean_name(male, "surname")
    if "-" in name:
        parts = [_female_part(p) for p in name.split("-")]
        return SurnameForm("-".join(p.form for p in parts), "hyphenated: " + ", ".join(p.rule for p in parts))
    return _female_part(name)


def _female_part(name: str) -> SurnameForm:
    low = name.lower()
    if low.endswith(("ов", "ев", "ёв")):
        return SurnameForm(name + "а", "-ов/-ев")
    if low.endswith(("ин", "ын")):
        if sum(ch in VOWELS for ch in low) == 1 and len(low) > 3:  # Грин, Флин: one syllable, foreign
            return SurnameForm(name, "one-syllable -ин")
        return SurnameForm(name + "а", "-ин/-ын")
    if low.endswith(("ский", "цкий", "ской", "цкой")):
        return SurnameForm(name[:-2] + "ая", "-ский/-цкий")
    if low.endswith(("ой", "ый")):
        return SurnameForm(name[:-2] + "ая", "-ой/-ый")
    if low.endswith(("кий", "гий", "хий", "жий", "ший", "чий", "щий")):
        return SurnameForm(name[:-2] + "ая", "-кий/-гий/-хий")
    if low.endswith("ий"):
        return SurnameForm(name[:-2] + "яя", "-ий")
    if low.endswith(("их", "ых")):
        return SurnameForm(name, "-их/-ых")
    if low[-1] in VOWELS:
        return SurnameForm(name, "vowel")
    return SurnameForm(name, "consonant")


def surname_for(male: str, gender: str) -> str:
    """``male`` (a surname in its male form) in the form for ``gender`` (``"male"`` or
    ``"female"``); see :func:`female_surname`."""
    if gender == "male":
        return clean_name(male, "surname")
    if gender == "female":
        return female_surname(male).form
    raise ValueError(f"gender must be 'male' or 'female', got {gender!r}")
