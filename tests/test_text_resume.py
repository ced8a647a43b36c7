"""Resumable text-mode training: a run continued from any of its checkpoints — mid-epoch,
with the state carried into the next batch — ends with bit-for-bit the weights and the
evaluations of the run that was never stopped; resuming with other text or options, or
from a damaged checkpoint, is refused with a typed error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, CheckpointError, ResumeError, resume_text, train_text
from charrnn.checkpoint import _read
from charrnn.checkpoint import save as save_model
from charrnn.errors import TrainingInterrupted
from charrnn.text import text_pass, text_vocab
from charrnn.training.state import TEXT_STATE_KEY, load_text_checkpoint
from faults import fault

LINES = ["the cat sat on the mat.", "a dog ran to the cat.", "the mat sat on a dog."]
TEXT = "\n".join(LINES[(i * 7) % 3] + " " + LINES[i % 3] for i in range(40)) + "\n"
TRAIN, VAL, TEST = TEXT[:1500], TEXT[1500:1750], TEXT[1750:]
# 4 streams of 374 characters, 25 steps at a time: 15 batches per epoch, 45 steps in all.
KW = dict(epochs=3, batch_size=4, seq_len=25, lr=1e-2, seed=3, dropout=0.1, eval_every=6, lr_decay=0.9)


# Bit-for-bit equality needs one kernel thread (sums in a fixed order).
pytestmark = pytest.mark.usefixtures("one_kernel_thread")


def fresh(cell: str = "lstm") -> CharRNN:
    return CharRNN(text_vocab(TEXT), cell=cell, hidden=16, layers=2, embed=8, seed=0)


def assert_same_weights(a: CharRNN, b: CharRNN) -> None:
    assert list(a.params) == list(b.params)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name


def records(history) -> list[tuple]:
    return [(r.epoch, r.step, r.end_of_epoch, r.train_nll, r.val_nll, r.test_nll, r.lr) for r in history]


_REFERENCE: dict[str, tuple] = {}


def reference(cell: str = "lstm"):
    if cell not in _REFERENCE:
        model = fresh(cell)
        _REFERENCE[cell] = (model, train_text(model, TRAIN, VAL, TEST, **KW))
    return _REFERENCE[cell]


def fail_training_call(monkeypatch, n: int, action=None):
    """Make the ``n``-th training pass (evaluations not counted) fail like a power cut, or
    run ``action`` after it."""
    import charrnn.sources as tt

    calls = [0]

    def wrapped(model, batch, state=None, compute_grad=True, **kw):
        if compute_grad:
            calls[0] += 1
            if calls[0] == n and action is None:
                raise RuntimeError("power cut")
        out = text_pass(model, batch, state, compute_grad, **kw)
        if compute_grad and calls[0] == n and action is not None:
            action()
        return out

    monkeypatch.setattr(tt, "text_pass", wrapped)


@fault(
    "a text-mode run crashes (or is killed) part-way through an epoch",
    "`charrnn train --resume CKPT` / `charrnn.resume_text()` continue from the last checkpoint with "
    "the carried state and end with bit-for-bit the weights and evaluations of the run that never "
    "stopped (one kernel thread)",
)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(
    "every,crash", [(4, 11), (5, 16), (None, 33)], ids=["mid-epoch", "first-batch-of-epoch", "after-an-evaluation"]
)
def test_resumed_text_run_ends_with_bit_for_bit_the_uninterrupted_weights(tmp_path, monkeypatch, cell, every, crash):
    ref_model, ref_history = reference(cell)
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(cell)
    fail_training_call(monkeypatch, crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train_text(model, TRAIN, VAL, TEST, checkpoint=path, checkpoint_every=every, **KW)
    monkeypatch.undo()
    _, state = load_text_checkpoint(path)
    assert 0 < state.step < crash
    assert (state.carried is None) == (state.batch == 0)

    resumed, history = resume_text(path, TRAIN, VAL, TEST)
    assert_same_weights(resumed, ref_model)
    assert records(history) == records(ref_history)
    assert (history.best_index, history.best_val_nll) == (ref_history.best_index, ref_history.best_val_nll)


@pytest.mark.parametrize("every,crash", [(4, 11), (None, 33)], ids=["mid-epoch", "after-an-evaluation"])
def test_a_text_run_with_weight_decay_and_ema_resumes_bit_for_bit(tmp_path, monkeypatch, every, crash):
    regularised = {**KW, "weight_decay": 0.05, "ema": 0.9}
    ref_model, ref_ckpt = fresh(), tmp_path / "ref.ckpt.safetensors"
    ref_history = train_text(ref_model, TRAIN, VAL, TEST, checkpoint=ref_ckpt, **regularised)
    assert not np.array_equal(ref_model.params["fc.weight"], reference()[0].params["fc.weight"])  # the options act
    path = tmp_path / "run.ckpt.safetensors"
    fail_training_call(monkeypatch, crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train_text(fresh(), TRAIN, VAL, TEST, checkpoint=path, checkpoint_every=every, **regularised)
    monkeypatch.undo()
    _, state = load_text_checkpoint(path)
    assert 0 < state.step < crash and state.ema is not None

    resumed, history = resume_text(path, TRAIN, VAL, TEST)
    assert_same_weights(resumed, ref_model)
    assert records(history) == records(ref_history)
    want, got = _read(str(ref_ckpt))[1], _read(str(path))[1]  # raw weights, moments, best, average, state
    assert want.keys() == got.keys() and any(k.startswith("ema.") for k in want)
    for name in want:
        assert np.array_equal(want[name], got[name]), name


def test_every_cut_of_a_run_resumes_to_the_same_weights(tmp_path):
    ref_model, _ = reference()
    for max_steps in (1, 6, 15, 22, 44):  # mid-epoch, at an evaluation, at an epoch end, ...
        path = tmp_path / f"cut{max_steps}.ckpt.safetensors"
        train_text(fresh(), TRAIN, VAL, TEST, checkpoint=path, **{**KW, "max_steps": max_steps})
        resumed, history = resume_text(path, TRAIN, VAL, TEST, max_steps=None)
        assert_same_weights(resumed, ref_model)
        assert [r.epoch for r in history.epochs] == [1, 2, 3]


def test_ctrl_c_writes_the_checkpoint_and_a_skipped_evaluation_is_made_on_resume(
    tmp_path, monkeypatch, sigint_delivered
):
    ref_model, ref_history = reference()
    path = tmp_path / "run.ckpt.safetensors"
    # SIGINT during step 12, which is due an evaluation (eval_every=6): training stops at
    # once, without it; the resumed run makes it first.
    fail_training_call(monkeypatch, 12, action=lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(TrainingInterrupted) as info:
        train_text(fresh(), TRAIN, VAL, TEST, checkpoint=path, **KW)
    monkeypatch.undo()
    assert info.value.step == 12 and info.value.checkpoint == str(path)
    model, state = load_text_checkpoint(path)
    assert (state.step, state.epoch, state.batch) == (12, 0, 12)
    assert [r["step"] for r in state.history] == [6]
    resumed, history = resume_text(path, TRAIN, VAL, TEST)
    assert_same_weights(resumed, ref_model)
    assert records(history) == records(ref_history)


def test_checkpoint_holds_the_carried_state_moments_and_text_identity(tmp_path, monkeypatch):
    import charrnn.sources as tt

    carried = []

    def recording(model, batch, state=None, compute_grad=True, **kw):
        out = text_pass(model, batch, state, compute_grad, **kw)
        if compute_grad:
            carried.append(out[2])
        return out

    monkeypatch.setattr(tt, "text_pass", recording)
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh()
    train_text(model, TRAIN, VAL, TEST, checkpoint=path, **{**KW, "max_steps": 4, "eval_every": None})
    _, state = load_text_checkpoint(path)
    assert state.batch == 4 and state.epoch == 0 and state.step == 4 and state.optimizer["t"] == 4
    # The stored state is the one batch 4 ended in: what batch 5 must start from.
    h, c = state.carried
    assert h.shape == c.shape == (2, 4, 16)
    assert np.array_equal(h, carried[3][0]) and np.array_equal(c, carried[3][1])
    assert state.data["train"]["chars"] == len(TRAIN) and state.data["test"]["chars"] == len(TEST)
    assert set(state.m) == set(model.params) and all(np.any(v != 0) for v in state.v.values())
    # The file also loads as a model (its latest weights).
    loaded = charrnn.load(path)
    assert loaded.mode == "text"
    for name, p in state.params.items():
        assert np.array_equal(loaded.params[name], p)


def test_a_finished_run_resumes_to_itself_and_can_be_extended(tmp_path):
    ref_model, ref_history = reference()
    path = tmp_path / "run.ckpt.safetensors"
    short = fresh()
    train_text(short, TRAIN, VAL, TEST, checkpoint=path, **{**KW, "epochs": 2})
    _, state = load_text_checkpoint(path)
    assert state.finished and state.batch == 0 and state.carried is None
    again, history = resume_text(path, TRAIN, VAL, TEST, epochs=2)  # nothing left to do
    assert_same_weights(again, short)
    extended, history = resume_text(path, TRAIN, VAL, TEST, epochs=3)
    assert_same_weights(extended, ref_model)
    assert records(history) == records(ref_history)


@fault(
    "a text-mode run is resumed with other text, other options or another model",
    "`ResumeError` saying which text (length and SHA-256 then and now) or which option differs; "
    "CLI: one line, e.g. '--seq-len 30 differs from the 25 the checkpoint was trained with'",
)
def test_resume_with_other_text_or_options_is_refused(tmp_path):
    path = tmp_path / "run.ckpt.safetensors"
    train_text(fresh(), TRAIN, VAL, TEST, checkpoint=path, **{**KW, "max_steps": 3})
    with pytest.raises(ResumeError, match="training text differs"):
        resume_text(path, TRAIN[:-1] + "a", VAL, TEST)
    with pytest.raises(ResumeError, match="test text differs"):
        resume_text(path, TRAIN, VAL, None)
    with pytest.raises(ResumeError, match="lr=0.5 differs"):
        resume_text(path, TRAIN, VAL, TEST, lr=0.5)
    model, state = load_text_checkpoint(path)
    with pytest.raises(ResumeError, match="weights are not the checkpoint's"):
        train_text(fresh(), TRAIN, VAL, TEST, resume=state, **KW)
    plain = tmp_path / "plain.safetensors"
    save_model(model, plain)
    with pytest.raises(ResumeError, match="no text training state"):
        resume_text(plain, TRAIN, VAL, TEST)


def _rewrite(path, src, change):
    """Copy checkpoint ``src`` to ``path`` with ``change(metadata, tensors)`` applied and a
    valid checksum (so that only the training state is wrong)."""
    from safetensors.numpy import save as serialize

    from charrnn.checkpoint import _digest, atomic_write

    metadata, tensors = _read(str(src))
    tensors = {k: np.array(v) for k, v in tensors.items()}
    change(metadata, tensors)
    metadata.pop("sha256", None)
    metadata["sha256"] = _digest(metadata, tensors)
    atomic_write(path, serialize(tensors, metadata=metadata))


@fault(
    "a text-mode training checkpoint is damaged (bad JSON, a carried state of the wrong shape, NaN, a missing tensor)",
    "`CheckpointError` naming the file and what is wrong; nothing is trained",
)
@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda m, t: m.__setitem__(TEXT_STATE_KEY, "{not json"), "not valid JSON|bad text training state"),
        (lambda m, t: t.__setitem__("carried.h", np.zeros((2, 3, 16), np.float32)), "carried.h"),
        (lambda m, t: t.pop("carried.c"), "carried.c"),
        (lambda m, t: t.pop("optimizer.v.fc.weight"), "optimizer.v.fc.weight"),
        (lambda m, t: m.__setitem__(TEXT_STATE_KEY, m[TEXT_STATE_KEY].replace('"step": 3', '"step": -3')), "negative"),
        (lambda m, t: t.__setitem__("carried.h", np.full((2, 4, 16), np.nan, np.float32)), "NaN"),
    ],
    ids=["json", "carried-shape", "carried-c-missing", "moment-missing", "negative-step", "nan-state"],
)
def test_damaged_text_training_state_raises_checkpoint_error(tmp_path, damage, match):
    src = tmp_path / "run.ckpt.safetensors"
    train_text(fresh(), TRAIN, VAL, TEST, checkpoint=src, **{**KW, "max_steps": 3})
    bad = tmp_path / "bad.ckpt.safetensors"
    _rewrite(bad, src, damage)
    with pytest.raises(CheckpointError, match=match):
        resume_text(bad, TRAIN, VAL, TEST)


# -- the command line ---------------------------------------------------------------------


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "charrnn", "--threads", "1", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


CLI_TRAIN = [
    "train", "input.txt", "--mode", "text", "--hidden", "16", "--embed", "8", "--batch", "4", "--seq-len", "25",
    "--epochs", "2", "--eval-every", "7", "--dropout", "0.1", "--samples", "0", "--json",
]  # fmt: skip


def tensors(path):
    _, t = _read(str(path))
    return {k: v for k, v in t.items() if not k.startswith(("optimizer.", "best.", "carried."))}


def test_cli_resume_of_a_text_run_matches_the_uninterrupted_run(tmp_path):
    (tmp_path / "input.txt").write_text(TEXT, encoding="utf-8")
    ref = cli(*CLI_TRAIN, "--out", "ref.safetensors", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    cut = cli(*CLI_TRAIN, "--out", "cut.safetensors", "--max-steps", "11", "--checkpoint-every", "4", cwd=tmp_path)
    assert cut.returncode == 0, cut.stderr
    # `--resume` alone: the mode, the file, the model and the options come from the checkpoint.
    resumed = cli(
        "train", "--resume", "cut.ckpt.safetensors", "--epochs", "2", "--out", "resumed.safetensors", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from cut.ckpt.safetensors at step 11" in resumed.stderr
    got = [json.loads(line) for line in resumed.stdout.splitlines()]
    want = [json.loads(line) for line in ref.stdout.splitlines()]
    assert [(r["step"], r["val_nll"]) for r in got] == [(r["step"], r["val_nll"]) for r in want if r["step"] > 11]
    a, b = tensors(tmp_path / "ref.safetensors"), tensors(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # Changing what the run computes is refused in one line.
    bad = cli("train", "--resume", "cut.ckpt.safetensors", "--seq-len", "30", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--seq-len 30 differs" in bad.stderr.strip().splitlines()[-1]
