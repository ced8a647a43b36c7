"""Training on continuous text and the schedule both loops share: the state is carried
from batch to batch and reset each epoch (checked against a hand-written loop), the
learning-rate schedule's values, early stopping keeps the best weights (names and text),
mid-epoch evaluations, Ctrl-C and divergence."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, EarlyStopping, LRSchedule, TextBatches, _core, train, train_text
from charrnn.errors import TrainingDivergedError, TrainingInterrupted
from charrnn.text import text_pass, text_vocab
from conftest import TINY_NAMES

# A very predictable text: a model learns it quickly.
LINES = ["the cat sat on the mat.", "a dog ran to the cat.", "the mat sat on a dog."]
TEXT = "\n".join(LINES[i % 3] for i in range(60)) + "\n"


def small_model(cell: str = "lstm", seed: int = 0) -> CharRNN:
    return CharRNN(text_vocab(TEXT), cell=cell, hidden=16, layers=2, embed=8, seed=seed)


# -- the learning-rate schedule and early stopping ---------------------------------------------


def test_lr_schedule_char_rnn_style_exponential_decay_after_epoch_10():
    s = LRSchedule(2e-3, decay=0.97, every=1, start=10)
    assert [s.lr_at(e) for e in range(1, 11)] == [2e-3] * 10
    assert s.lr_at(11) == pytest.approx(2e-3 * 0.97)
    assert s.lr_at(12) == pytest.approx(2e-3 * 0.97**2)
    assert s.lr_at(30) == pytest.approx(2e-3 * 0.97**20)


def test_lr_schedule_step_decay_and_constant():
    s = LRSchedule(1.0, decay=0.5, every=5)
    assert [s.lr_at(e) for e in range(1, 17)] == [1.0] * 5 + [0.5] * 5 + [0.25] * 5 + [0.125]
    s = LRSchedule(1.0, decay=0.5, every=5, start=10)  # decays at the ends of epochs 10, 15, ...
    assert [s.decays_before(e) for e in (10, 11, 15, 16, 21)] == [0, 1, 1, 2, 3]
    assert all(LRSchedule(0.1).lr_at(e) == 0.1 for e in range(1, 50))
    for kwargs in ({"decay": 0.0}, {"decay": 1.5}, {"every": 0}, {"start": -1}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            LRSchedule(**{"lr": 1.0, **kwargs})


def test_early_stopping_counts_evaluations_since_the_best():
    stopper = EarlyStopping(patience=2)
    seen = [(stopper.update(v), stopper.should_stop) for v in (3.0, 2.0, 2.5, 2.1, 2.2)]
    assert seen == [(True, False), (True, False), (False, False), (False, True), (False, True)]
    assert stopper.best == 2.0 and stopper.stale == 3 and stopper.should_stop
    replayed = EarlyStopping.replay(2, [3.0, 2.0, 2.5])
    assert (replayed.best, replayed.stale, replayed.should_stop) == (2.0, 1, False)
    assert not EarlyStopping(None).should_stop
    with pytest.raises(ValueError):
        EarlyStopping(0)


def _scripted(values):
    """A stand-in for the validation pass returning ``values`` one after the other."""
    it = iter(values)
    return lambda *args, **kwargs: {"nll": next(it), "ppl": 1.0, "bpc": 1.0, "chars": 1}


def test_names_training_stops_early_and_keeps_the_best_epochs_weights(monkeypatch):
    model = CharRNN(charrnn.Vocab.from_items(TINY_NAMES), hidden=8, layers=1, embed=4)
    monkeypatch.setattr(model, "evaluate", _scripted([3.0, 2.0, 2.5, 2.4, 1.0, 0.5]))
    snapshots = {}
    history = train(
        model,
        TINY_NAMES,
        TINY_NAMES[:5],
        epochs=6,
        batch_size=8,
        patience=2,
        lr_decay=0.5,
        callback=lambda r: snapshots.__setitem__(r.epoch, {k: p.copy() for k, p in model.params.items()}),
    )
    assert [r.epoch for r in history] == [1, 2, 3, 4]  # epochs 3 and 4 brought nothing better
    assert history.stopped_early and history.best_epoch == 2 and history.best_val_nll == 2.0
    assert [r.last for r in history] == [False, False, False, True], "the evaluation that stopped it is the last"
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, snapshots[2][name])
    assert [r.lr for r in history] == [2e-3, 1e-3, 5e-4, 2.5e-4]  # lr_decay every epoch


def test_names_training_without_patience_runs_every_epoch(monkeypatch):
    model = CharRNN(charrnn.Vocab.from_items(TINY_NAMES), hidden=8, layers=1, embed=4)
    monkeypatch.setattr(model, "evaluate", _scripted([3.0, 3.5, 4.0]))
    history = train(model, TINY_NAMES, TINY_NAMES[:5], epochs=3, batch_size=8)
    assert len(history) == 3 and not history.stopped_early and history.best_epoch == 1
    assert [r.last for r in history] == [False, False, True] and "last" not in history[0].to_dict()


# -- the text loop carries the state ----------------------------------------------------------


def manual_text_training(model, text, epochs, batch_size, seq_len, lr, clip, carry=True):
    """What train_text must compute, written out plainly."""
    params = model.params_list()
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    batches = TextBatches(text, model.vocab, batch_size, seq_len)
    t = 0
    for _ in range(epochs):
        state = None  # each epoch starts from zeros
        for batch in batches:
            _, grads, new_state = text_pass(model, batch, state, seed=t)  # dropout 0: the seed is unused
            state = new_state if carry else None
            t += 1
            _core.adam_step(params, grads, m, v, lr, t, grad_scale=1.0 / batch.n_chars, max_norm=clip)


def test_text_training_carries_the_state_and_resets_it_each_epoch():
    _core.set_num_threads(1)
    try:
        trained = small_model()
        history = train_text(trained, TEXT, epochs=2, batch_size=4, seq_len=7, lr=1e-2, clip=1.0)
        assert len(history) == 2 and history[-1].step == 2 * len(TextBatches(TEXT, trained.vocab, 4, 7))
        by_hand, without_state = small_model(), small_model()
        manual_text_training(by_hand, TEXT, 2, 4, 7, 1e-2, 1.0, carry=True)
        manual_text_training(without_state, TEXT, 2, 4, 7, 1e-2, 1.0, carry=False)
        for name in trained.params:
            np.testing.assert_array_equal(trained.params[name], by_hand.params[name])
        assert max(np.abs(trained.params[n] - without_state.params[n]).max() for n in trained.params) > 1e-4
    finally:
        _core.set_num_threads(0)


def test_text_training_learns_and_reports_every_evaluation(tmp_path):
    train_part, val_part, test_part = charrnn.split_text(TEXT, 0.1, 0.1)
    model = small_model("gru")
    records = []
    history = train_text(
        model,
        train_part,
        val_part,
        test_part,
        epochs=6,
        batch_size=4,
        seq_len=10,
        lr=1e-2,
        eval_every=10,
        callback=records.append,
        log=tmp_path / "log.jsonl",
    )
    assert list(history) == records
    steps = len(TextBatches(train_part, model.vocab, 4, 10))
    ends = history.epochs
    assert [r.epoch for r in ends] == list(range(1, 7)) and all(r.progress == r.epoch for r in ends)
    mids = [r for r in history if not r.end_of_epoch]
    assert mids and all(r.step % 10 == 0 and r.epoch - 1 < r.progress < r.epoch for r in mids)
    for r in history:
        assert r.test_nll is not None and r.test_bpc == pytest.approx(r.test_nll / math.log(2))
        assert {"test_nll", "test_ppl", "test_bpc", "lr", "progress"} <= set(r.to_dict())
    assert ends[-1].step == 6 * steps
    uniform = math.log(len(model.vocab))
    assert history.best_val_nll < 0.5 * uniform
    assert model.mode == "text"
    # The model holds the best evaluation's weights: evaluating again gives its loss.
    best = history.best
    assert best.val_nll == history.best_val_nll == min(r.val_nll for r in history)
    assert model.evaluate_text(val_part, batch_size=4, seq_len=10)["nll"] == pytest.approx(best.val_nll, rel=1e-5)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1 + len(history)  # start + evaluations
    # The mode survives a checkpoint.
    model.save(tmp_path / "m.safetensors")
    assert charrnn.load(tmp_path / "m.safetensors").mode == "text"
    assert "test_nll" not in train_text(small_model(), TEXT, max_steps=2, epochs=None, batch_size=4)[0].to_dict()


def test_text_training_stops_early_on_mid_epoch_evaluations(monkeypatch):
    monkeypatch.setattr(charrnn.sources, "evaluate_text", _scripted([2.0, 1.5, 1.6, 1.7, 1.0]))
    model = small_model()
    snapshots = []
    history = train_text(
        model,
        TEXT,
        "the cat",
        epochs=5,
        batch_size=4,
        seq_len=5,
        eval_every=10,
        patience=2,
        callback=lambda r: snapshots.append({k: p.copy() for k, p in model.params.items()}),
    )
    assert [r.val_nll for r in history] == [2.0, 1.5, 1.6, 1.7]
    assert history.stopped_early and history.best_index == 1 and history.best.step == 20
    assert [r.last for r in history] == [False, False, False, True] and history[-1].to_dict()["last"] is True
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, snapshots[1][name])


def test_text_training_applies_the_lr_schedule_per_epoch():
    history = train_text(
        small_model(), TEXT, epochs=4, batch_size=4, seq_len=25, lr=0.01, lr_decay=0.5, lr_decay_start=2
    )
    assert [r.lr for r in history] == [0.01, 0.01, 0.005, 0.0025]


def test_ctrl_c_stops_after_the_step_with_the_best_weights(sigint_delivered):
    model = small_model()
    records, snapshots = [], []

    def callback(record):
        records.append(record)
        snapshots.append({k: p.copy() for k, p in model.params.items()})
        if len(records) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the deferring handler only sets a flag

    with pytest.raises(TrainingInterrupted) as info:
        train_text(model, TEXT, "the cat sat", epochs=50, batch_size=4, seq_len=5, eval_every=5, callback=callback)
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.step == records[-1].step == 15  # stopped right after that evaluation
    best = min(range(3), key=lambda i: records[i].val_nll)
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, snapshots[best][name])


@pytest.mark.parametrize("what", ["nan-loss", "inf-grad"])
def test_divergence_stops_before_touching_the_weights(monkeypatch, what):
    real = charrnn.sources.text_pass
    calls = [0]

    def poisoned(*args, **kwargs):
        loss, grads, state = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 3:
            if what == "nan-loss":
                loss = float("nan")
            else:
                grads[2][0, 0] = np.inf
        return loss, grads, state

    after_two = small_model()
    train_text(after_two, TEXT, max_steps=2, epochs=None, batch_size=4, seq_len=5)
    monkeypatch.setattr(charrnn.sources, "text_pass", poisoned)
    model = small_model()
    with pytest.raises(TrainingDivergedError, match="diverged at step 3"):
        train_text(model, TEXT, epochs=1, batch_size=4, seq_len=5)
    for name, p in model.params.items():  # steps 1 and 2 applied, step 3 not
        np.testing.assert_array_equal(p, after_two.params[name])


def test_bad_arguments_are_refused():
    model = small_model()
    for kwargs, word in (
        ({"epochs": None}, "epochs"),
        ({"lr_decay": 2.0}, "lr_decay"),
        ({"patience": 0}, "patience"),
        ({"dropout": 1.0}, "dropout"),
        ({"eval_every": 0}, "eval_every"),
        ({"clip": -1.0}, "clip"),
        ({"seq_len": 0}, "seq_len"),
    ):
        with pytest.raises((ValueError, TypeError), match=word):
            train_text(model, TEXT, **kwargs)
    conditional = CharRNN(text_vocab(TEXT), hidden=4, layers=1, embed=4, categories=["a", "b"])
    with pytest.raises(ValueError, match="conditional"):
        train_text(conditional, TEXT, epochs=1)
    with pytest.raises(charrnn.UnknownCharacterError):
        train_text(model, TEXT, "Zebra", epochs=1)


def test_dropout_is_seeded_and_only_active_in_training_steps():
    def trained(dropout, seed):
        model = small_model()
        history = train_text(
            model, TEXT, "the cat sat.", max_steps=3, epochs=None, batch_size=4, dropout=dropout, seed=seed
        )
        return model, history

    _core.set_num_threads(1)  # bit-for-bit reproducible kernels
    try:
        a, ha = trained(0.5, seed=1)
        b, _ = trained(0.5, seed=1)
        c, _ = trained(0.5, seed=2)
        d, _ = trained(0.0, seed=1)
    finally:
        _core.set_num_threads(0)
    assert all(np.array_equal(a.params[n], b.params[n]) for n in a.params)  # same seed, same masks
    assert not np.array_equal(a.params["fc.weight"], c.params["fc.weight"])  # other masks
    assert not np.array_equal(a.params["fc.weight"], d.params["fc.weight"])  # dropout changed the steps
    # The validation figure is a plain pass with the trained weights: no dropout there.
    assert ha[-1].val_nll == pytest.approx(a.evaluate_text("the cat sat.", batch_size=4)["nll"], rel=1e-6)


def test_only_the_runs_final_evaluation_is_marked_last_and_a_longer_resume_moves_the_mark(tmp_path):
    # Text evaluations inside the last epoch come before its end: not the last.
    history = train_text(small_model(), TEXT, "the cat", epochs=2, batch_size=4, seq_len=5, eval_every=10)
    assert len(history) > 3 and [r.last for r in history] == [False] * (len(history) - 1) + [True]
    # A names run of one epoch, resumed for two: the mark moves to the second epoch.
    ckpt = tmp_path / "run.ckpt.safetensors"
    model = CharRNN(charrnn.Vocab.from_items(TINY_NAMES), hidden=8, layers=1, embed=4)
    first = train(model, TINY_NAMES, TINY_NAMES[:5], epochs=1, batch_size=8, checkpoint=ckpt)
    assert [r.last for r in first] == [True]
    _, resumed = charrnn.resume(ckpt, TINY_NAMES, TINY_NAMES[:5], epochs=2)
    assert [(r.epoch, r.last) for r in resumed] == [(1, False), (2, True)]
    # max_steps inside an epoch: the cut epoch's evaluation is the last.
    cut = train(
        CharRNN(model.vocab, hidden=8, layers=1, embed=4), TINY_NAMES, TINY_NAMES[:5], max_steps=2, batch_size=4
    )
    assert [(r.step, r.last) for r in cut] == [(2, True)]
