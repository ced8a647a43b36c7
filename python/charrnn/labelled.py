"""Labelled items: names that each belong to a category (male/female, first name/surname, ...).

A :class:`Labelled` is a sequence of strings — it goes wherever a plain list of items
goes (``Vocab.from_items``, ``charrnn.train``, ``model.evaluate``) — that also knows each
item's category.  Batches made from it carry one category id per item
(:class:`~charrnn.data.Batch` ``categories``), which a conditional
:class:`~charrnn.model.CharRNN` (``categories=[...]``) feeds to the network::

    data = charrnn.Labelled.from_lists({"male": males, "female": females})
    train_items, val_items = data.split(val_fraction=0.1, seed=0)   # per category
    model = charrnn.CharRNN(charrnn.Vocab.from_items(data), categories=data.categories)
    charrnn.train(model, train_items, val_items, epochs=20)

The bundled data comes in ready-made labelled sets: :data:`charrnn.datasets.PRESETS`
(see :func:`charrnn.datasets.preset`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Optional, Union, overload

import numpy as np

__all__ = ["Labelled", "check_category_names"]


def check_category_names(categories: Iterable[object]) -> tuple[str, ...]:
    """``categories`` as a tuple, checked: non-empty, unique, non-blank strings."""
    if isinstance(categories, str):
        raise TypeError("categories must be a list of names, not one string")
    given = tuple(categories)
    if not given:
        raise ValueError("categories must name at least one category")
    names: list[str] = []
    for name in given:
        if not isinstance(name, str):
            raise TypeError(f"category names must be strings, got {type(name).__name__} {name!r}")
        names.append(name)
        if not name.strip() or name != name.strip():
            raise ValueError(f"category names must be non-blank with no surrounding spaces, got {name!r}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"category names must be unique; repeated: {', '.join(duplicates)}")
    return tuple(names)


class Labelled(Sequence[str]):
    """Items (strings) with a category each.

    ``categories`` are the category names, in id order; ``labels[i]`` is the id of item
    ``i``'s category.  Indexing with an integer gives the item (a ``str``); with a slice,
    a ``Labelled``.  Items are kept as given (encoding NFC-normalises them later).
    """

    def __init__(
        self, items: Sequence[str], labels: Union[Sequence[Union[int, str]], np.ndarray], categories: Sequence[str]
    ) -> None:
        self._categories = check_category_names(categories)
        items = tuple(items)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"items must be strings, got {type(item).__name__}")
        if len(labels) != len(items):
            raise ValueError(f"{len(items)} items but {len(labels)} labels")
        index = {name: i for i, name in enumerate(self._categories)}
        ids = np.empty(len(items), dtype=np.int32)
        for i, label in enumerate(labels):
            if isinstance(label, str):
                if label not in index:
                    raise ValueError(f"label {label!r} is not one of the categories {list(self._categories)}")
                ids[i] = index[label]
            elif isinstance(label, (int, np.integer)) and not isinstance(label, bool):
                if not 0 <= label < len(self._categories):
                    raise ValueError(f"label {label} is outside 0..{len(self._categories) - 1}")
                ids[i] = int(label)
            else:
                raise TypeError(f"labels must be category names or ids, got {label!r}")
        ids.flags.writeable = False
        self._items = items
        self._labels = ids

    # -- building --------------------------------------------------------------------

    @classmethod
    def from_lists(cls, lists: Mapping[str, Sequence[str]]) -> Labelled:
        """One category per entry of ``lists`` (name -> items), in the mapping's order."""
        if not lists:
            raise ValueError("no labelled lists given")
        items: list[str] = []
        labels: list[int] = []
        for k, (name, values) in enumerate(lists.items()):
            if isinstance(values, str):
                raise TypeError(f"the items of category {name!r} must be a list of strings, not one string")
            if len(values) == 0:
                raise ValueError(f"category {name!r} has no items")
            items.extend(values)
            labels.extend([k] * len(values))
        return cls(items, labels, list(lists))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], categories: Optional[Sequence[str]] = None) -> Labelled:
        """From ``(item, category name)`` pairs; ``categories`` fixes the id order (default:
        the order of first appearance)."""
        pairs = list(pairs)
        if categories is None:
            categories = list(dict.fromkeys(category for _, category in pairs))
        return cls([item for item, _ in pairs], [category for _, category in pairs], categories)

    # -- the sequence ----------------------------------------------------------------

    @property
    def items(self) -> tuple[str, ...]:
        return self._items

    @property
    def labels(self) -> np.ndarray:
        """``[N]`` int32 (read-only): the category id of each item."""
        return self._labels

    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> Labelled: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.subset(range(len(self))[i])
        return self._items[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Labelled)
            and self._items == other._items
            and self._categories == other._categories
            and bool(np.array_equal(self._labels, other._labels))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {n}" for name, n in self.counts().items())
        return f"Labelled({len(self)} items; {counts})"

    def category_of(self, i: int) -> str:
        """The category name of item ``i``."""
        return self._categories[int(self._labels[i])]

    def pairs(self) -> list[tuple[str, str]]:
        """``[(item, category name), ...]``."""
        return [(item, self._categories[int(k)]) for item, k in zip(self._items, self._labels, strict=True)]

    def counts(self) -> dict[str, int]:
        """Items per category, in category order (zero for a category with none)."""
        n = np.bincount(self._labels, minlength=len(self._categories))
        return {name: int(c) for name, c in zip(self._categories, n, strict=True)}

    def of(self, category: str) -> list[str]:
        """The items of one category."""
        if category not in self._categories:
            raise ValueError(f"unknown category {category!r}; the categories are {list(self._categories)}")
        k = self._categories.index(category)
        return [item for item, label in zip(self._items, self._labels, strict=True) if label == k]

    def subset(self, indices: Iterable[int]) -> Labelled:
        """The items at ``indices``, in that order, with their labels (same categories)."""
        idx = [int(i) for i in indices]
        return Labelled([self._items[i] for i in idx], self._labels[idx] if idx else [], self._categories)

    def __add__(self, other: object) -> Labelled:
        if not isinstance(other, Labelled):
            return NotImplemented
        if other._categories != self._categories:
            raise ValueError(f"cannot join items of categories {self._categories} and {other._categories}")
        return Labelled(self._items + other._items, np.concatenate([self._labels, other._labels]), self._categories)

    # -- splitting -------------------------------------------------------------------

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[Labelled, Labelled]:
        """``(train, val)``, split *within each category* (stratified): each category puts
        ``round(n * val_fraction)`` of its ``n`` items in ``val`` (at least one when the
        fraction is positive and it has two or more; never all of them).  Both parts keep
        the items' order; the same seed gives the same split.  ``charrnn.split`` of a
        ``Labelled`` does the same."""
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if len(self) == 0:
            raise ValueError("cannot split an empty list")
        rng = np.random.default_rng(seed)
        is_val = np.zeros(len(self), dtype=bool)
        for k in range(len(self._categories)):
            members = np.flatnonzero(self._labels == k)
            n = len(members)
            if n == 0:
                continue
            n_val = int(round(n * val_fraction))
            if val_fraction > 0 and n_val == 0 and n >= 2:
                n_val = 1
            n_val = min(n_val, n - 1)
            is_val[members[rng.permutation(n)[:n_val]]] = True
        return self.subset(np.flatnonzero(~is_val)), self.subset(np.flatnonzero(is_val))

    def move_unseen_to_train(self, val: Labelled) -> tuple[Labelled, Labelled, int]:
        """Like :func:`charrnn.data.move_unseen_to_train`: the items of ``val`` holding a
        character no item of ``self`` has go to the end of the training part, with their labels."""
        known: set[str] = set()
        for item in self._items:
            known.update(unicodedata.normalize("NFC", item))
        move = [i for i, item in enumerate(val) if not set(unicodedata.normalize("NFC", item)) <= known]
        if not move:
            return self, val, 0
        keep = sorted(set(range(len(val))) - set(move))
        return self + val.subset(move), val.subset(keep), len(move)
