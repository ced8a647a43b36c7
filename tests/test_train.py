"""Training: a tiny model learns a small synthetic language; the best validation weights
are kept; the history says what happened; Adam and clipping do what they say."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, Vocab, train
from charrnn.training import Adam, EpochRecord, clip_grad_norm

# A tiny "language": two or three syllables out of six, so the next character is very
# predictable (a consonant is always followed by a vowel, names end after a vowel).
SYLLABLES = ["ма", "ша", "ло", "ню", "рё", "ти"]
ITEMS = ["".join(p).capitalize() for n in (2, 3) for p in itertools.product(SYLLABLES, repeat=n)]


@pytest.fixture(scope="module")
def data():
    train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
    return train_items, val_items, Vocab.from_items(ITEMS)


@pytest.fixture(scope="module")
def trained(data):
    train_items, val_items, vocab = data
    model = CharRNN(vocab, cell="lstm", hidden=32, layers=1, embed=8, seed=0)
    records = []
    history = train(model, train_items, val_items, epochs=6, batch_size=16, lr=1e-2, seed=0, callback=records.append)
    return model, history, records


def test_tiny_model_learns_well_below_the_uniform_baseline(data, trained):
    _, val_items, vocab = data
    model, history, _ = trained
    uniform = math.log(len(vocab))
    assert history[0].val_nll < uniform
    assert history.best_val_nll < 0.5 * uniform
    assert history[-1].train_nll < history[0].train_nll
    assert model.evaluate(val_items)["nll"] == pytest.approx(history.best_val_nll, rel=1e-5)


def test_history_records_every_epoch_with_consistent_fields(trained):
    _, history, records = trained
    assert list(history) == records, "the callback saw every record, in order"
    assert [r.epoch for r in history] == list(range(1, 7))
    steps_per_epoch = history[0].step
    assert steps_per_epoch == math.ceil(len(charrnn.split(ITEMS, 0.15, 0)[0]) / 16)
    for r in history:
        assert isinstance(r, EpochRecord)
        assert r.step == r.epoch * steps_per_epoch
        assert r.train_ppl == pytest.approx(math.exp(r.train_nll))
        assert r.val_ppl == pytest.approx(math.exp(r.val_nll))
        assert r.train_bpc == pytest.approx(r.train_nll / math.log(2))
        assert r.val_bpc == pytest.approx(r.val_nll / math.log(2))
        assert r.chars_per_sec > 0 and r.seconds > 0
    assert [r.seconds for r in history] == sorted(r.seconds for r in history)
    best = min(history, key=lambda r: r.val_nll)
    assert (history.best_epoch, history.best_val_nll) == (best.epoch, best.val_nll)
    assert history.best is best
    assert set(history.to_dicts()[0]) >= {"epoch", "step", "train_nll", "val_nll", "chars_per_sec", "seconds"}


def test_best_validation_weights_are_restored_at_the_end(data):
    train_items, val_items, vocab = data
    model = CharRNN(vocab, cell="gru", hidden=16, layers=1, embed=8, seed=1)
    snapshots = {}

    def sabotage(record):
        snapshots[record.epoch] = {k: v.copy() for k, v in model.params.items()}
        if record.epoch == 2:  # wreck the weights: later epochs validate much worse
            for p in model.params.values():
                p *= 40.0

    history = train(model, train_items, val_items, epochs=4, batch_size=16, lr=1e-2, callback=sabotage)
    assert history.best_epoch in (1, 2) and history[-1].val_nll > history.best_val_nll
    for name, value in snapshots[history.best_epoch].items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)


def test_without_validation_the_last_weights_are_kept(data):
    train_items, _, vocab = data
    model = CharRNN(vocab, cell="rnn", hidden=16, layers=1, embed=8)
    last = {}
    history = train(
        model,
        train_items,
        None,
        epochs=2,
        batch_size=32,
        callback=lambda r: last.update({k: v.copy() for k, v in model.params.items()}),
    )
    assert history.best_epoch == 2 and history.best_val_nll is None
    assert all(r.val_nll is None and r.val_ppl is None and r.val_bpc is None for r in history)
    for name, value in last.items():
        np.testing.assert_array_equal(model.params[name], value)


def test_max_steps_stops_mid_epoch_and_records_it(data):
    train_items, val_items, vocab = data
    model = CharRNN(vocab, cell="lstm", hidden=8, layers=1, embed=4)
    history = train(model, train_items, val_items, epochs=None, batch_size=16, max_steps=5)
    assert len(history) == 1 and history[-1].step == 5
    history = train(model, train_items, val_items, epochs=2, batch_size=16, max_steps=1000)
    assert len(history) == 2


def test_same_seed_gives_the_same_training_run(data):
    train_items, val_items, vocab = data
    runs = []
    for _ in range(2):
        model = CharRNN(vocab, cell="gru", hidden=8, layers=1, embed=4, seed=3)
        h = train(model, train_items, val_items, epochs=2, batch_size=16, seed=5)
        runs.append(([r.val_nll for r in h], model.params["fc.weight"].copy()))
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-5)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-4, atol=1e-6)


def test_dropout_changes_training_and_is_reproducible_from_the_seed(data):
    train_items, val_items, vocab = data

    def run(dropout, seed=0):
        model = CharRNN(vocab, cell="lstm", hidden=16, layers=2, embed=8, seed=0)
        train(model, train_items, epochs=1, batch_size=16, seed=seed, dropout=dropout)
        return model.params["fc.weight"].copy()

    with_dropout = run(0.3)
    np.testing.assert_allclose(run(0.3), with_dropout, rtol=1e-5, atol=1e-7)
    assert not np.allclose(run(0.0), with_dropout)
    assert not np.allclose(run(0.3, seed=1), with_dropout)


def test_training_updates_the_models_own_arrays(data):
    train_items, _, vocab = data
    model = CharRNN(vocab, cell="lstm", hidden=8, layers=2, embed=4)
    arrays = {k: v for k, v in model.params.items()}
    before = {k: v.copy() for k, v in arrays.items()}
    train(model, train_items, epochs=1, batch_size=64)
    for k, v in model.params.items():
        assert v is arrays[k] and v.dtype == np.float32 and v.flags.c_contiguous
        assert not np.array_equal(v, before[k]), k


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": None}, "max_steps"),
        ({"lr": 0.0}, "lr"),
        ({"clip": -1.0}, "clip"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_steps": 0}, "max_steps"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_training_arguments_raise_value_error(data, kwargs, word):
    train_items, _, vocab = data
    with pytest.raises(ValueError, match=word):
        train(CharRNN(vocab, hidden=4, layers=1, embed=2), train_items, **kwargs)


def test_adam_matches_the_textbook_update():
    rng = np.random.default_rng(0)
    p = rng.normal(size=5).astype(np.float32)
    expected = p.astype(np.float64)
    m = np.zeros(5)
    v = np.zeros(5)
    opt = Adam([p], lr=0.1)
    for t in range(1, 4):
        g = rng.normal(size=5)
        opt.step([g.astype(np.float32)])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected -= 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(p, expected, rtol=1e-5)


def test_clip_grad_norm_scales_to_the_limit_only_when_above_it():
    grads = [np.array([3.0, 0.0], np.float32), np.array([[4.0]], np.float32)]
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)
    assert grads[0].tolist() == [3.0, 0.0]
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert math.sqrt(sum(float((g**2).sum()) for g in grads)) == pytest.approx(1.0, rel=1e-5)
