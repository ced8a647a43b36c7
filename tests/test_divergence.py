"""A loss or gradient that becomes NaN or infinite stops training with a clear error,
before it reaches the weights; the last good checkpoint stays as it was."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, CharRNNError, TrainingDivergedError, Vocab, train
from charrnn.training import Adam
from charrnn.training.state import load_training_checkpoint
from faults import fault
from test_train import ITEMS


@pytest.fixture(scope="module")
def data():
    train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
    return train_items, val_items, Vocab.from_items(ITEMS)


def fresh(vocab, cell="lstm"):
    return CharRNN(vocab, cell=cell, hidden=16, layers=1, embed=8, seed=0)


def poison(monkeypatch, model, step, what):
    """Make step ``step``'s loss (or one gradient) NaN or infinite."""
    real = model.loss_and_grads
    calls = [0]

    def loss_and_grads(*args, **kwargs):
        loss, grads = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == step:
            if what == "nan-loss":
                loss = float("nan")
            elif what == "inf-loss":
                loss = float("inf")
            else:
                grads["rnn.weight_hh_l0"][0, 0] = np.inf if what == "inf-grad" else np.nan
        return loss, grads

    monkeypatch.setattr(model, "loss_and_grads", loss_and_grads)


@fault(
    "the loss or a gradient becomes NaN or infinite",
    "`TrainingDivergedError` ('training diverged at step N (epoch E): the loss is nan …; try a smaller "
    "learning rate'); that step is not applied and the last checkpoint is left as it was",
)
@pytest.mark.parametrize("what", ["nan-loss", "inf-loss", "nan-grad", "inf-grad"])
def test_non_finite_loss_or_gradient_stops_before_touching_weights_or_checkpoint(tmp_path, monkeypatch, data, what):
    train_items, _, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    poison(monkeypatch, model, 7, what)
    with pytest.raises(TrainingDivergedError) as info:
        train(model, train_items, None, epochs=3, batch_size=16, checkpoint=path, checkpoint_every=2)
    e = info.value
    assert (e.step, e.epoch, e.checkpoint) == (7, 1, str(path))
    assert "training diverged at step 7 (epoch 1)" in str(e) and "smaller learning rate" in str(e)
    assert f"the last checkpoint, {path} (step 6), was left as it was" in str(e)
    assert isinstance(e, FloatingPointError) and isinstance(e, CharRNNError)
    saved, state = load_training_checkpoint(path)  # the last good checkpoint: step 6, whole
    assert state.step == 6
    for name, p in model.params.items():  # step 7 was not applied: the model is still at step 6
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, saved.params[name])


def test_an_absurd_learning_rate_diverges_with_a_clear_error(data):
    train_items, _, vocab = data
    with pytest.raises(TrainingDivergedError, match=r"training diverged at step \d+"):
        train(fresh(vocab, "gru"), train_items, None, epochs=3, batch_size=16, lr=1e38, clip=None)


def test_weights_that_overflow_are_reported_as_divergence(monkeypatch, data):
    train_items, _, vocab = data
    real = Adam.step

    def overflowing(self, grads, **kwargs):
        real(self, grads, **kwargs)
        if self.t == 3:
            self.params[0][0, 0] = np.inf

    monkeypatch.setattr(Adam, "step", overflowing)
    with pytest.raises(TrainingDivergedError, match="step 3 .*overflowed"):
        train(fresh(vocab), train_items, None, epochs=1, batch_size=16)


def test_divergence_on_the_command_line_is_one_error_line_and_keeps_the_checkpoint(tmp_path):
    from conftest import TINY_NAMES

    (tmp_path / "names.txt").write_text("\n".join(TINY_NAMES * 3) + "\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn",
            "train",
            "names.txt",
            "--cell",
            "gru",
            "--hidden",
            "16",
            "--lr",
            "1e38",
            "--epochs",
            "5",
            "--checkpoint-every",
            "1",
            "--out",
            "m.safetensors",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("charrnn: error: training diverged at step ")
    step = int(line.split("at step ")[1].split()[0])
    ckpt = tmp_path / "m.ckpt.safetensors"
    if ckpt.exists():  # whatever was written is a good checkpoint from before the divergence
        assert "m.ckpt.safetensors (step" in line
        assert load_training_checkpoint(ckpt)[1].step < step
    else:
        assert "no checkpoint had been written yet" in line
    assert not (tmp_path / "m.safetensors").exists()
