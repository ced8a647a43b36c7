"""Shared fixtures: tiny data made on the spot (no network, nothing outside the repo)."""

from __future__ import annotations

import charrnn
import numpy as np
import pytest

# A small name list with Cyrillic, ё and a Latin name: enough for quick models.
TINY_NAMES = [
    "Анна",
    "Алёна",
    "Борис",
    "Вера",
    "Глеб",
    "Дарья",
    "Ёжик",
    "Жанна",
    "Зоя",
    "Игорь",
    "Катя",
    "Лев",
    "Мария",
    "Нина",
    "Олег",
    "Пётр",
    "Роман",
    "Света",
    "Тимур",
    "Ульяна",
    "Фёдор",
    "Юля",
    "Яна",
    "Max",
]


@pytest.fixture
def tiny_names() -> list[str]:
    return list(TINY_NAMES)


@pytest.fixture
def tiny_vocab() -> charrnn.Vocab:
    return charrnn.Vocab.from_items(TINY_NAMES)


@pytest.fixture
def one_kernel_thread():
    """Run the test with one kernel thread (bit-for-bit reproducible sums), then restore."""
    from charrnn import _core

    before = _core.get_num_threads()
    _core.set_num_threads(1)
    yield
    _core.set_num_threads(before)


@pytest.fixture(params=["lstm", "rnn", "gru"])
def cell(request) -> str:
    return request.param


def make_model(
    cell: str = "lstm", hidden: int = 16, layers: int = 2, embed: int = 8, seed: int = 0
) -> charrnn.CharRNN:
    return charrnn.CharRNN(
        charrnn.Vocab.from_items(TINY_NAMES), cell=cell, hidden=hidden, layers=layers, embed=embed, seed=seed
    )


def random_lengths(rng: np.random.Generator, T: int, B: int) -> np.ndarray:
    """Uneven lengths in no particular order, always including 0, 1 and T."""
    lengths = rng.integers(1, T + 1, size=B)
    lengths[: min(B, 3)] = [0, 1, T][: min(B, 3)]
    return rng.permutation(lengths).astype(np.int32)
