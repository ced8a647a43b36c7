"""A patronymic (отчество) from the father's first name, by the rules of Russian grammar.

    >>> patronymic("Иван")
    Patronymic(male='Иванович', female='Ивановна', rule='consonant')
    >>> patronymic("Илья").female
    'Ильинична'

The rules (following the standard grammar of Russian names; see ``docs/names.md``):

* a few names have their own forms: Лев → Львович, Павел → Павлович (the vowel drops),
  Пётр/Петр → Петрович, Михаил → Михайлович, Яков → Яковлевич, and the names ending in a
  stressed -а/-я: Илья → Ильич / Ильинична, Фома → Фомич / Фоминична, Кузьма → Кузьмич /
  Кузьминична, Лука → Лукич / Лукинична;
* other Russian names in -а/-я: Никита → Никитич / Никитична, Савва → Саввич / Саввична;
  those whose patronymic is made from a form without -а (Данила, Гаврила, Иона, Зосима)
  take -ович: Данилович;
* a hard consonant: + ович / овна (Иван → Иванович); after ж ш ч щ ц: + евич / евна;
* -ь: ь → евич / евна (Игорь → Игоревич);
* -й after a vowel: й → евич / евна (Николай → Николаевич, Сергей → Сергеевич);
* -ий after one consonant: ий → ьевич / ьевна (Василий → Васильевич, Юрий → Юрьевич);
  after two consonants: ий → иевич / иевна (Дмитрий → Дмитриевич, Георгий → Георгиевич),
  except after -нт- (Леонтий → Леонтьевич, Иннокентий → Иннокентьевич);
* -о: о → ович / овна (Данило → Данилович);
* any other vowel (mostly names from other languages: Али, Муса, Шота): + евич / евна
  (Алиевич, Мусаевич, Шотаевич).

The father's name keeps its spelling (Фёдор → Фёдорович, Федор → Федорович), except Пётр,
whose ё is unstressed in the patronymic.
"""

from __future__ import annotations

from typing import NamedTuple

from ._text import VOWELS, clean_name

__all__ = ["Patronymic", "patronymic", "SPECIAL", "A_NAMES_ICH", "A_NAMES_OVICH"]


class Patronymic(NamedTuple):
    male: str  # the son's patronymic
    female: str  # the daughter's
    rule: str  # which rule made it (see the module's doc): the class an error belongs to

    def for_gender(self, gender: str) -> str:
        if gender not in ("male", "female"):
            raise ValueError(f"gender must be 'male' or 'female', got {gender!r}")
        return self.male if gender == "male" else self.female


# Names whose patronymics are not made by the general rules.
SPECIAL: dict[str, tuple[str, str]] = {
    "Лев": ("Львович", "Львовна"),
    "Павел": ("Павлович", "Павловна"),
    "Пётр": ("Петрович", "Петровна"),
    "Петр": ("Петрович", "Петровна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Яков": ("Яковлевич", "Яковлевна"),
    "Илья": ("Ильич", "Ильинична"),
    "Фома": ("Фомич", "Фоминична"),
    "Кузьма": ("Кузьмич", "Кузьминична"),
    "Лука": ("Лукич", "Лукинична"),
}
# Russian names in an unstressed -а/-я: -а → -ич / -ична.
A_NAMES_ICH = frozenset({"Никита", "Аникита", "Савва", "Мина", "Фока", "Сила"})
# Russian names in -а whose patronymic comes from a form without it: -а → -ович / -овна.
A_NAMES_OVICH = frozenset({"Данила", "Гаврила", "Иона", "Зосима", "Вавила", "Михайла"})
_HUSHING = set("жшчщц")


def patronymic(father: str) -> Patronymic:
    """The son's and the daughter's patronymic from the father's first name.

    Raises :class:`~charrnn.errors.InvalidNameError` when ``father`` is not a name in
    Cyrillic letters; any case is accepted (``иван`` → Иванович).
    """
    name = clean_name(father, "father's name")
    if name in SPECIAL:
        male, female = SPECIAL[name]
        return Patronymic(male, female, "special")
    if name in A_NAMES_ICH:
        stem = name[:-1]
        return Patronymic(stem + "ич", stem + "ична", "-а, -ич")
    if name in A_NAMES_OVICH:
        return _make(name[:-1], "ов", "-а, -ович")
    low = name.lower()
    last = low[-1]
    if last == "й":
        if low.endswith("ий") and len(low) > 2 and low[-3] not in VOWELS:
            two_consonants = len(low) > 3 and low[-4] not in VOWELS and low[-4] != "-"
            if two_consonants and not low.endswith("нтий"):
                return _make(name[:-2] + "и", "ев", "-ий after two consonants")
            return _make(name[:-2] + "ь", "ев", "-ий")
        return _make(name[:-1], "ев", "-й after a vowel")
    if last == "ь":
        return _make(name[:-1], "ев", "-ь")
    if last == "о":
        return _make(name[:-1], "ов", "-о")
    if last in VOWELS:
        return _make(name, "ев", "other vowel")
    if last in _HUSHING:
        return _make(name, "ев", "hushing consonant or ц")
    return _make(name, "ов", "consonant")


def _make(stem: str, suffix: str, rule: str) -> Patronymic:
    return Patronymic(stem + suffix + "ич", stem + suffix + "на", rule)
