"""Thread control: a single-threaded run is bit-for-bit reproducible, and more threads
change results only by floating-point rounding."""

import numpy as np
import pytest

import charrnn
from charrnn import _core


@pytest.fixture
def restore_threads():
    before = charrnn.get_num_threads()
    yield
    charrnn.set_num_threads(0)
    assert charrnn.get_num_threads() >= 1
    del before


def _train(cell: str, threads: int):
    charrnn.set_num_threads(threads)
    items = ["Анна", "Мария", "Елена", "Ольга", "Татьяна", "Наталья", "Ирина", "Светлана", "Юлия", "Ксения"] * 6
    vocab = charrnn.Vocab.from_items(items)
    model = charrnn.CharRNN(vocab, cell=cell, hidden=40, layers=2, embed=8, seed=3)
    charrnn.train(model, items, items[:10], epochs=2, batch_size=16, seed=5)
    return [p.copy() for p in model.params_list()]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_single_threaded_training_is_bit_for_bit_reproducible(cell, restore_threads):
    a = _train(cell, 1)
    b = _train(cell, 1)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_more_threads_give_the_same_training_up_to_rounding(restore_threads):
    one = _train("lstm", 1)
    two = _train("lstm", 2)
    for x, y in zip(one, two):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)


def test_set_num_threads_rejects_negative_counts_and_zero_means_all_cores(restore_threads):
    with pytest.raises(ValueError):
        charrnn.set_num_threads(-1)
    charrnn.set_num_threads(0)
    assert charrnn.get_num_threads() >= 1
    charrnn.set_num_threads(3)
    assert _core.get_num_threads() == 3
