"""Thread control: a single-threaded run is bit-for-bit reproducible, and more threads
change results only by floating-point rounding."""

import numpy as np
import pytest

import charrnn
from charrnn import _core
from charrnn.training.config import TrainConfig


@pytest.fixture
def restore_threads():
    before = charrnn.get_num_threads()
    yield
    charrnn.set_num_threads(0)
    assert charrnn.get_num_threads() >= 1
    del before


def _train(cell: str, threads: int, **options):
    """The weights and the history of a short training run on `threads` threads."""
    charrnn.set_num_threads(threads)
    items = ["Анна", "Мария", "Елена", "Ольга", "Татьяна", "Наталья", "Ирина", "Светлана", "Юлия", "Ксения"] * 6
    vocab = charrnn.Vocab.from_items(items)
    model = charrnn.CharRNN(vocab, cell=cell, hidden=40, layers=2, embed=8, seed=3)
    history = charrnn.train(model, items, items[:10], epochs=2, batch_size=16, seed=5, **options)
    return [p.copy() for p in model.params_list()], history


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_single_threaded_training_is_bit_for_bit_reproducible(cell, restore_threads):
    a, _ = _train(cell, 1)
    b, _ = _train(cell, 1)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_more_threads_give_the_same_training_up_to_rounding(restore_threads):
    one, _ = _train("lstm", 1)
    two, _ = _train("lstm", 2)
    for x, y in zip(one, two):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)


def test_two_threads_train_with_the_budget_regularisers_as_one_does(restore_threads):
    """With every dropout on (the budget's regularisers) the batches are split across the
    threads with the masks one thread draws: the losses and weights are one thread's up to
    rounding (with masks drawn per group they would not be)."""
    budget = TrainConfig.for_budget("names")
    names = ("dropout", "variational", "weight_drop", "input_dropout", "embed_dropout")
    regularisers = {k: getattr(budget, k) for k in names}
    assert regularisers["variational"] and all(regularisers[k] > 0 for k in regularisers if k != "variational")
    one, one_history = _train("lstm", 1, **regularisers)
    two, two_history = _train("lstm", 2, **regularisers)
    again, again_history = _train("lstm", 2, **regularisers)
    assert len(one_history) == len(two_history) == 2
    for a, b in zip(one_history, two_history):
        assert b.train_nll == pytest.approx(a.train_nll, rel=1e-5)
        assert b.val_nll == pytest.approx(a.val_nll, rel=1e-5)
    for x, y in zip(one, two):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)
    assert [r.train_nll for r in again_history] == [r.train_nll for r in two_history]
    for x, y in zip(two, again):
        assert np.array_equal(x, y)


def test_set_num_threads_rejects_negative_counts_and_zero_means_all_cores(restore_threads):
    with pytest.raises(ValueError):
        charrnn.set_num_threads(-1)
    charrnn.set_num_threads(0)
    assert charrnn.get_num_threads() >= 1
    charrnn.set_num_threads(3)
    assert _core.get_num_threads() == 3
