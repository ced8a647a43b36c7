"""Shared fixtures: tiny data made on the spot (no network, nothing outside the repo)."""

from __future__ import annotations

import numpy as np
import pytest

import charrnn

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


def make_model(cell: str = "lstm", hidden: int = 16, layers: int = 2, embed: int = 8, seed: int = 0) -> charrnn.CharRNN:
    return charrnn.CharRNN(
        charrnn.Vocab.from_items(TINY_NAMES), cell=cell, hidden=hidden, layers=layers, embed=embed, seed=seed
    )


def random_lengths(rng: np.random.Generator, T: int, B: int) -> np.ndarray:
    """Uneven lengths in no particular order, always including 0, 1 and T."""
    lengths = rng.integers(1, T + 1, size=B)
    lengths[: min(B, 3)] = [0, 1, T][: min(B, 3)]
    return rng.permutation(lengths).astype(np.int32)


# -- signals ---------------------------------------------------------------------------------
# The suite must pass whatever SIGINT's handler is when pytest starts: the default, a custom
# one, or SIG_IGN (pytest run in the background or under nohup, where a child process also
# inherits SIG_IGN).  charrnn keeps an ignored signal ignored, so a test that delivers SIGINT
# on purpose first makes sure it is delivered, and a test that starts a process to interrupt
# starts it with SIGINT's default action, as a shell's foreground job has.


@pytest.fixture
def sigint_delivered():
    """SIGINT raises ``KeyboardInterrupt`` during the test (it may start ignored); the
    handler it had is put back afterwards."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def default_sigint() -> None:
    """``preexec_fn`` for a child process that is to be interrupted: SIGINT's default action
    (a child inherits SIG_IGN from a parent that ignores it)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
