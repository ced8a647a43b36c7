"""The best model so far is at ``out`` as soon as there is one, in both modes — written
atomically, left there by Ctrl-C — from Python and from ``charrnn train``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, TrainingInterrupted, Vocab, train, train_text
from charrnn.checkpoint import read_metadata
from charrnn.text import text_vocab
from charrnn.training.state import load_state
from faults import fault
from test_train import ITEMS

TEXT = (
    "\n".join(["the cat sat on the mat.", "a dog ran to the cat.", "the mat sat on a dog."][i % 3] for i in range(60))
    + "\n"
)
VAL_TEXT = "the cat sat on a mat."
TEXT_RUN = {"epochs": 50, "batch_size": 4, "seq_len": 8, "eval_every": 3}  # an evaluation every 3 steps


def snapshots_of(model, into):
    return lambda record: into.append((record, {k: p.copy() for k, p in model.params.items()}))


def assert_weights(model, params):
    for name, value in params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)


def test_names_training_writes_the_best_model_at_each_better_epoch_and_ctrl_c_leaves_it(tmp_path):
    train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
    model = CharRNN(Vocab.from_items(ITEMS), hidden=16, layers=1, embed=8, seed=0)
    out = tmp_path / "best.safetensors"
    seen = []
    record_then = snapshots_of(model, seen)

    def callback(record):
        record_then(record)
        assert out.exists()  # already written when the record is reported
        if len(seen) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the deferring handler only sets a flag

    with pytest.raises(TrainingInterrupted):
        train(model, train_items, val_items, epochs=20, batch_size=16, lr=1e-2, callback=callback, out=out)
    best = min(range(len(seen)), key=lambda i: seen[i][0].val_nll)
    saved = charrnn.load(out)
    assert_weights(saved, seen[best][1])
    assert_weights(model, seen[best][1])  # and the model holds them too
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")], "no temporary file is left"


def test_text_training_writes_the_best_model_and_ctrl_c_leaves_it(tmp_path):
    model = CharRNN(text_vocab(TEXT), hidden=16, layers=1, embed=8, seed=0)
    out = tmp_path / "best.safetensors"
    seen = []
    record_then = snapshots_of(model, seen)

    def callback(record):
        record_then(record)
        if len(seen) == 4:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train_text(model, TEXT, VAL_TEXT, **TEXT_RUN, callback=callback, out=out)
    best = min(range(len(seen)), key=lambda i: seen[i][0].val_nll)
    saved = charrnn.load(out)
    assert saved.mode == "text"
    assert_weights(saved, seen[best][1])


@fault(
    "the loss becomes NaN after a best model exists (either mode)",
    "`TrainingDivergedError`; the best model at `out` is left as it was (the best evaluation's weights), "
    "and so is the last checkpoint",
)
@pytest.mark.parametrize("mode", ["names", "text"])
def test_divergence_leaves_the_best_model_and_the_checkpoint_as_they_were(tmp_path, monkeypatch, mode):
    out, ckpt = tmp_path / "best.safetensors", tmp_path / "run.ckpt.safetensors"
    if mode == "names":
        train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
        model = CharRNN(Vocab.from_items(ITEMS), hidden=16, layers=1, embed=8, seed=0)
        poisoned_step = 2 * -(-len(train_items) // 16) + 1  # the first step of epoch 3
        run = lambda callback: train(  # noqa: E731
            model, train_items, val_items, epochs=5, batch_size=16, callback=callback, out=out, checkpoint=ckpt
        )
    else:
        model = CharRNN(text_vocab(TEXT), hidden=16, layers=1, embed=8, seed=0)
        poisoned_step = 7  # after the evaluations of steps 3 and 6
        run = lambda callback: train_text(  # noqa: E731
            model, TEXT, VAL_TEXT, **TEXT_RUN, callback=callback, out=out, checkpoint=ckpt
        )
    real, calls = model.forward_backward, [0]

    def poisoned(*args, **kwargs):
        result = real(*args, **kwargs)
        if kwargs.get("compute_grad", True) and result.grads is not None:
            calls[0] += 1
            if calls[0] == poisoned_step:
                return result._replace(loss_sum=float("nan"))
        return result

    monkeypatch.setattr(model, "forward_backward", poisoned)
    seen = []
    with pytest.raises(charrnn.TrainingDivergedError):
        run(snapshots_of(model, seen))
    assert len(seen) == 2, "two evaluations before the poisoned step"
    best = min(range(len(seen)), key=lambda i: seen[i][0].val_nll)
    assert_weights(charrnn.load(out), seen[best][1])
    _, state = load_state(ckpt)
    assert state.step < poisoned_step and state.best_val_nll == seen[best][0].val_nll


# -- the command line, in a subprocess -------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from conftest import TINY_NAMES

    d = tmp_path_factory.mktemp("best")
    (d / "names.txt").write_text("\n".join(TINY_NAMES * 3) + "\n", encoding="utf-8")
    (d / "input.txt").write_text(TEXT, encoding="utf-8")
    return d


def train_args(mode, out):
    """A small, long `charrnn train` of either mode writing its best model to ``out``."""
    if mode == "names":
        return ["train", "names.txt", "--hidden", "24", "--embed", "8", "--batch", "4", "--epochs", "200", "--out", out]
    return [
        "train",
        "input.txt",
        "--mode",
        "text",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--batch",
        "4",
        "--seq-len",
        "8",
        "--epochs",
        "500",
        "--out",
        out,
    ]


def interrupt_after_first_record(args, cwd):
    proc = subprocess.Popen(
        [sys.executable, "-m", "charrnn", "--threads", "1", *args, "--json"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("{")  # one evaluation is done: there is a best model
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    return err


@fault(
    "Ctrl-C during `charrnn train` (either mode)",
    "the best model so far is at `--out` (written atomically at every better evaluation), "
    "so `charrnn sample OUT` works at once; the resumable state is next to it",
)
@pytest.mark.parametrize("mode", ["names", "text"])
def test_after_ctrl_c_of_charrnn_train_the_best_model_is_at_out_and_samples(workdir, mode):
    out = f"stopped-{mode}.safetensors"
    args = train_args(mode, out)
    err = interrupt_after_first_record(args, workdir)
    assert f"charrnn: {out} holds the best weights so far" in err
    model, state = load_state(workdir / out.replace(".safetensors", ".ckpt.safetensors"))
    saved = charrnn.load(workdir / out)
    assert saved.mode == mode
    assert_weights(saved, state.best_params)  # the best evaluation's weights, not the last step's
    meta = read_metadata(workdir / out)["training"]
    assert meta["best_val_nll"] == state.best_val_nll
    assert meta["history"] == state.history[: len(meta["history"])]
    sampled = subprocess.run(
        [sys.executable, "-m", "charrnn", "sample", out, *([] if mode == "names" else ["--length", "50"])],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.strip()


@fault(
    "`charrnn train` is killed (`kill -9`, a crash, a power cut) in either mode",
    "`--out` holds a whole model — the best as of the last better evaluation — and the checkpoint the last "
    "whole training state: both load (checksums), `charrnn sample OUT` and `charrnn train --resume CKPT` work",
)
@pytest.mark.parametrize("mode", ["names", "text"])
def test_a_killed_run_leaves_a_whole_best_model_and_a_whole_checkpoint(workdir, mode):
    out = f"killed-{mode}.safetensors"
    ckpt = out.replace(".safetensors", ".ckpt.safetensors")
    args = train_args(mode, out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "charrnn", "--threads", "1", *args, "--json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(3):  # three evaluations done, then killed wherever it is
            assert proc.stdout.readline().startswith("{")
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    saved = charrnn.load(workdir / out)  # a whole file: the checksum holds
    meta = read_metadata(workdir / out)["training"]
    assert meta["best_val_nll"] == min(r["val_nll"] for r in meta["history"])
    model, state = load_state(workdir / ckpt)
    assert state.step > 0 and saved.mode == mode
    sampled = subprocess.run(
        [sys.executable, "-m", "charrnn", "sample", out, *([] if mode == "names" else ["--length", "20"])],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sampled.returncode == 0 and sampled.stdout.strip(), sampled.stderr
    limit = ["--max-steps", str(state.step + 2)]
    resumed = subprocess.run(
        [sys.executable, "-m", "charrnn", "--threads", "1", "train", "--resume", ckpt, *limit],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
