"""Bundled datasets: the Russian name lists ship inside the package and read cleanly."""

from __future__ import annotations

import unicodedata

import pytest

from charrnn import datasets

CYRILLIC = {chr(c) for c in range(0x0410, 0x0450)} | {"ё", "Ё"}


@pytest.mark.parametrize("kind", datasets.KINDS)
@pytest.mark.parametrize("gender", datasets.GENDERS)
def test_each_bundled_list_is_nonempty_clean_cyrillic(kind, gender):
    names = datasets.russian_names(kind, gender)
    assert len(names) > 20
    for name in names:
        assert name and name == name.strip() and "\n" not in name
        assert unicodedata.is_normalized("NFC", name)
    letters = [c for name in names for c in name if c.isalpha()]
    assert sum(c in CYRILLIC for c in letters) / len(letters) > 0.99


@pytest.mark.parametrize("kind", datasets.KINDS)
def test_no_gender_means_male_then_female_without_duplicates(kind):
    both = datasets.russian_names(kind)
    male, female = datasets.russian_names(kind, "male"), datasets.russian_names(kind, "female")
    assert len(both) == len(set(both))
    assert set(both) == set(male) | set(female)
    assert both[: len(set(male))] == list(dict.fromkeys(male))
    assert both == datasets.russian_names(kind), "deterministic order"


def test_the_bundled_lists_keep_the_letter_yo():
    assert any("ё" in n or "Ё" in n for kind in datasets.KINDS for n in datasets.russian_names(kind))


def test_returned_list_is_a_fresh_copy():
    names = datasets.russian_names("first", "male")
    names.clear()
    assert datasets.russian_names("first", "male")


@pytest.mark.parametrize(
    "kwargs,valid",
    [({"kind": "middle"}, "'first', 'surnames', 'patronymics'"), ({"gender": "other"}, "'male', 'female'")],
)
def test_bad_kind_or_gender_lists_the_valid_values(kwargs, valid):
    with pytest.raises(ValueError) as info:
        datasets.russian_names(**kwargs)
    assert valid in str(info.value)
