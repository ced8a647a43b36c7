"""Datasets shipped inside the package.

The Russian name lists live in ``charrnn/data/*.txt`` (one name per line, UTF-8, NFC);
see the repository's ``data/README`` for their source, licence and counts.
``russiannames(kind, gender)`` gives the richer tables of the ``russiannames`` package
(2.0.0: ~30K first names, ~46K patronymics, ~363K surnames) as names with counts, for
frequency-aware training (see :mod:`charrnn.names.tables` for the rows themselves).
``preset(name)`` gives them as labelled sets for conditional models (``ru-first-by-gender``,
``ru-patronymics-by-gender``, ``ru-names-by-kind``, see :data:`PRESETS`), made of
:class:`~charrnn.labelled.Labelled` lists.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Optional

import numpy as np

from .counted import Counted
from .data import parse_lines
from .labelled import Labelled

__all__ = [
    "russian_names",
    "russiannames",
    "RUSSIANNAMES_KINDS",
    "preset",
    "preset_split",
    "PRESETS",
    "KINDS",
    "GENDERS",
]

KINDS = ("first", "surnames", "patronymics")
GENDERS = ("male", "female")
_FILES = {"first": "first_names_{}.txt", "surnames": "surnames_{}.txt", "patronymics": "patronymics_{}.txt"}


@functools.lru_cache(maxsize=None)
def _read(filename: str) -> tuple[str, ...]:
    resource = resources.files("charrnn") / "data" / filename
    try:
        data = resource.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"bundled dataset {filename} is missing from the charrnn installation ({resource})"
        ) from None
    return tuple(parse_lines(data, f"charrnn/data/{filename}"))


def russian_names(kind: str = "first", gender: Optional[str] = None) -> list[str]:
    """Russian first names, surnames or patronymics, as a new list.

    ``kind`` is ``"first"``, ``"surnames"`` or ``"patronymics"``; ``gender`` is ``"male"``,
    ``"female"`` or None for both (male then female, duplicates dropped, first kept).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    if gender is not None and gender not in GENDERS:
        raise ValueError(f"gender must be one of {', '.join(map(repr, GENDERS))} or None; got {gender!r}")
    genders = GENDERS if gender is None else (gender,)
    names: list[str] = []
    seen: set[str] = set()
    for g in genders:
        for name in _read(_FILES[kind].format(g)):
            if name not in seen:
                seen.add(name)
                names.append(name)
    return names


RUSSIANNAMES_KINDS = ("first", "patronymic", "surname")


def russiannames(kind: str = "first", gender: Optional[str] = None, min_count: int = 1) -> Counted:
    """Names of one ``kind`` (``"first"``, ``"patronymic"``, ``"surname"``) from the bundled
    ``russiannames`` tables, with how often each occurs: ``Counted(items, counts)``.

    ``gender``: ``"male"``, ``"female"``, ``"any"`` (names the source marks as used by both
    or unidentified) or None (every row, those without a gender included); ``min_count``
    drops names seen fewer times.  Most common first (ties in alphabetical order).
    """
    from .names import tables

    if kind not in RUSSIANNAMES_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, RUSSIANNAMES_KINDS))}; got {kind!r}")
    select = getattr(tables, {"first": "first_names", "patronymic": "patronymics", "surname": "surnames"}[kind])
    rows = sorted(select(gender, min_count), key=lambda r: -r.count)  # stable: ties stay alphabetical
    return Counted([r.name for r in rows], [r.count for r in rows])


# -- presets built from the bundled data ---------------------------------------------

# The presets are built from the russiannames tables: names seen at least MIN_COUNT times
# (rarer rows are mostly misspellings), each name once.  The kinds of ru-names-by-kind are
# fixed random samples of KIND_SAMPLE names each, so that the three are of equal size.
MIN_COUNT = {"first": 3, "patronymic": 3, "surname": 10}
KIND_SAMPLE = 6000
# name -> (description, {category: [(kind, gender, sample size or None), ...]})
PRESETS: dict[str, tuple[str, dict[str, list[tuple[str, Optional[str], Optional[int]]]]]] = {
    "ru-first-by-gender": (
        "Russian first names by gender (russiannames, seen >= 3 times): male (4,827), female (2,130)",
        {"male": [("first", "male", None)], "female": [("first", "female", None)]},
    ),
    "ru-patronymics-by-gender": (
        "Russian patronymics by gender (russiannames, seen >= 3 times): male (6,916), female (3,828)",
        {"male": [("patronymic", "male", None)], "female": [("patronymic", "female", None)]},
    ),
    "ru-names-by-kind": (
        f"Russian names by kind (russiannames): first, patronymic, surname ({KIND_SAMPLE:,} of each: a fixed "
        "random sample of the first names and patronymics seen >= 3 times and of the surnames seen >= 10 times)",
        {
            "first": [("first", None, KIND_SAMPLE)],
            "patronymic": [("patronymic", None, KIND_SAMPLE)],
            "surname": [("surname", None, KIND_SAMPLE)],
        },
    ),
}


def preset(name: str) -> Labelled:
    """A labelled set built from the bundled ``russiannames`` tables (see :data:`PRESETS`):

    ``ru-first-by-gender``        first names, categories ``male``, ``female``
    ``ru-patronymics-by-gender``  patronymics, categories ``male``, ``female``
    ``ru-names-by-kind``          categories ``first``, ``patronymic``, ``surname`` (a fixed
                                  sample of the same size of each)

    Names seen fewer than :data:`MIN_COUNT` times are left out; a name in two categories
    stays in the first.  The small lists of earlier versions remain as
    :func:`russian_names`.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
    lists: dict[str, list[str]] = {}
    seen: set[str] = set()
    for category, sources in PRESETS[name][1].items():
        items: list[str] = []
        for kind, gender, sample in sources:
            names = sorted(russiannames(kind, gender, MIN_COUNT[kind]).items)
            if sample is not None and sample < len(names):
                # A fixed sample (the same in every version and on every machine), in alphabetical order.
                rng = np.random.default_rng([20240601, len(names)])
                keep = np.sort(rng.choice(len(names), size=sample, replace=False))
                names = [names[i] for i in keep]
            for n in names:
                if n not in seen:
                    seen.add(n)
                    items.append(n)
        lists[category] = items
    return Labelled.from_lists(lists)


TEST_FRACTION, TEST_SEED = 0.1, 1  # the held-out test names of each preset


def preset_split(name: str, val_fraction: float = 0.1, seed: int = 0) -> tuple[Labelled, Labelled, Labelled]:
    """``(train, val, test)`` of a preset: a fixed 10% of each category held out as the
    test names (never trained on, never used to pick the weights: what
    ``charrnn classify MODEL --evaluate PRESET`` and the shipped classifiers are measured
    on), then ``val_fraction`` of the rest (with ``seed``) for validation; validation
    names with a character no training name has go back to training."""
    rest, test = preset(name).split(TEST_FRACTION, TEST_SEED)
    train, val = rest.split(val_fraction, seed)
    train, val, _ = train.move_unseen_to_train(val)
    return train, val, test
