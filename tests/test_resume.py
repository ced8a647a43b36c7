"""Resumable training: a run continued from any of its checkpoints ends with bit-for-bit
the weights of the run that was never stopped; checkpoints are whole or absent; resuming
with other data or other options is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open

import charrnn
from charrnn import CharRNN, CheckpointError, ResumeError, Vocab, train
from charrnn.training.state import default_checkpoint_path, load_training_checkpoint
from faults import fault
from test_train import ITEMS

KW = dict(epochs=3, batch_size=16, lr=1e-2, seed=4, dropout=0.2)


# Bit-for-bit equality needs one kernel thread (sums in a fixed order).
pytestmark = pytest.mark.usefixtures("one_kernel_thread")


@pytest.fixture(scope="module")
def data():
    train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
    return train_items, val_items, Vocab.from_items(ITEMS)


def fresh(vocab, cell="lstm"):
    return CharRNN(vocab, cell=cell, hidden=16, layers=2, embed=8, seed=0)


def assert_same_weights(a: CharRNN, b: CharRNN) -> None:
    assert list(a.params) == list(b.params)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name


def uninterrupted(data, cell="lstm"):
    train_items, val_items, vocab = data
    model = fresh(vocab, cell)
    history = train(model, train_items, val_items, **KW)
    return model, history


def crash_at(monkeypatch, model, step):
    """Make the model's loss call number ``step`` fail like a power cut would."""
    real = model.loss_and_grads
    calls = [0]

    def loss_and_grads(*args, **kwargs):
        calls[0] += 1
        if calls[0] == step:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "loss_and_grads", loss_and_grads)


@fault(
    "training crashes (or is killed) part-way through",
    "`--resume CKPT` / `charrnn.resume()` continue from the last checkpoint and end with bit-for-bit "
    "the weights of the run that never stopped (one kernel thread)",
)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(
    "every,crash", [(4, 11), (7, 8), (100, 20)], ids=["mid-epoch", "checkpoint-then-crash", "epoch-end"]
)
def test_resumed_run_ends_with_bit_for_bit_the_uninterrupted_weights(tmp_path, monkeypatch, data, cell, every, crash):
    train_items, val_items, vocab = data
    reference, ref_history = uninterrupted(data, cell)
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab, cell)
    crash_at(monkeypatch, model, crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train(model, train_items, val_items, checkpoint=path, checkpoint_every=every, **KW)
    saved_step = load_training_checkpoint(path)[1].step
    assert 0 < saved_step < crash

    resumed, history = charrnn.resume(path, train_items, val_items)
    assert_same_weights(resumed, reference)
    assert [r.epoch for r in history] == [1, 2, 3]
    assert [r.val_nll for r in history] == [r.val_nll for r in ref_history]
    assert [r.train_nll for r in history] == [r.train_nll for r in ref_history]
    assert (history.best_epoch, history.best_val_nll) == (ref_history.best_epoch, ref_history.best_val_nll)


def test_every_checkpoint_of_a_run_resumes_to_the_same_end(tmp_path, data):
    train_items, val_items, vocab = data
    reference, _ = uninterrupted(data)
    path = tmp_path / "run.ckpt.safetensors"
    snapshots = []
    for max_steps in (1, 6, 14, 20):  # a run cut by max_steps at each of these points
        model = fresh(vocab)
        train(model, train_items, val_items, checkpoint=path, **{**KW, "max_steps": max_steps})
        snapshots.append(path.read_bytes())
    for i, blob in enumerate(snapshots):
        p = tmp_path / f"snap{i}.safetensors"
        p.write_bytes(blob)
        resumed, history = charrnn.resume(p, train_items, val_items, max_steps=None)
        assert_same_weights(resumed, reference)
        assert [r.epoch for r in history] == [1, 2, 3]


REGULARISED = dict(weight_decay=0.05, ema=0.9)


def all_tensors(path) -> dict[str, np.ndarray]:
    with safe_open(str(path), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.parametrize("every,crash", [(4, 11), (100, 20)], ids=["mid-epoch", "epoch-end"])
def test_a_run_with_weight_decay_and_ema_resumes_bit_for_bit(tmp_path, monkeypatch, data, every, crash):
    train_items, val_items, vocab = data
    reference, ref_ckpt = fresh(vocab), tmp_path / "ref.ckpt.safetensors"
    ref_history = train(reference, train_items, val_items, checkpoint=ref_ckpt, **KW, **REGULARISED)
    plain, _ = uninterrupted(data)
    assert not np.array_equal(reference.params["fc.weight"], plain.params["fc.weight"])  # the options act
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    crash_at(monkeypatch, model, crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train(model, train_items, val_items, checkpoint=path, checkpoint_every=every, **KW, **REGULARISED)
    state = load_training_checkpoint(path)[1]
    assert 0 < state.step < crash and state.ema is not None

    resumed, history = charrnn.resume(path, train_items, val_items)
    assert_same_weights(resumed, reference)  # the best average
    assert [r.val_nll for r in history] == [r.val_nll for r in ref_history]
    want, got = all_tensors(ref_ckpt), all_tensors(path)  # raw weights, moments, best, average
    assert want.keys() == got.keys() and any(k.startswith("ema.") for k in want)
    for name in want:
        assert np.array_equal(want[name], got[name]), name


def test_checkpoint_holds_moments_best_weights_position_and_data_identity(tmp_path, data):
    train_items, val_items, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    history = train(model, train_items, val_items, checkpoint=path, **KW)
    with safe_open(str(path), framework="numpy") as f:
        names = set(f.keys())
        meta = f.metadata()
    for name in model.params:
        assert {name, f"optimizer.m.{name}", f"optimizer.v.{name}", f"best.{name}"} <= names
    state = json.loads(meta["training_state"])
    assert state["step"] == history[-1].step and state["epoch"] == 3 and state["batch"] == 0
    assert state["finished"] is True
    assert state["optimizer"]["t"] == state["step"] and state["optimizer"]["lr"] == KW["lr"]
    assert state["order_state"]["bit_generator"] == "PCG64"
    assert state["data"]["train"]["items"] == len(train_items) and len(state["data"]["train"]["sha256"]) == 64
    assert state["options"]["batch_size"] == 16 and state["options"]["seed"] == 4
    assert state["best_epoch"] == history.best_epoch and len(state["history"]) == 3
    loaded, st = load_training_checkpoint(path)
    np.testing.assert_array_equal(st.best_params["fc.weight"], model.params["fc.weight"])  # best kept in model


def test_training_checkpoint_loads_as_a_model_with_its_latest_weights(tmp_path, data, caplog):
    train_items, _, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    train(model, train_items, None, checkpoint=path, epochs=1, batch_size=16)
    with caplog.at_level("WARNING"):
        loaded = charrnn.load(path)
    assert not caplog.records, "the training tensors are expected, not 'unexpected'"
    assert_same_weights(loaded, model)
    assert loaded.sample(n=3, seed=1) == model.sample(n=3, seed=1)


@fault(
    "resuming with other training or validation data",
    "`ResumeError`: 'the training data differs from the data this checkpoint was trained on (N items … then, M now)'",
)
def test_resume_with_other_data_is_refused(tmp_path, data):
    train_items, val_items, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    train(
        fresh(vocab),
        train_items,
        val_items,
        checkpoint=path,
        max_steps=3,
        **{k: v for k, v in KW.items() if k != "epochs"},
        epochs=None,
    )
    with pytest.raises(ResumeError, match="training data differs"):
        charrnn.resume(path, train_items[:-1], val_items)
    with pytest.raises(ResumeError, match="validation data differs"):
        charrnn.resume(path, train_items, val_items[::-1])


@fault(
    "resuming with a different learning rate, batch size, seed, …",
    "`ResumeError` naming the option and both values (the CLI: one error line); "
    "only how long it runs, where it writes and what it prints may change",
)
def test_resume_with_other_options_is_refused(tmp_path, data):
    train_items, val_items, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    train(fresh(vocab), train_items, val_items, checkpoint=path, **{**KW, "epochs": 1})
    with pytest.raises(ResumeError, match=r"lr=0\.5 differs .* lr=0\.01"):
        charrnn.resume(path, train_items, val_items, lr=0.5)
    model, state = load_training_checkpoint(path)
    with pytest.raises(ResumeError, match="batch_size"):
        train(model, train_items, val_items, resume=state, **{**KW, "batch_size": 8})
    with pytest.raises(ResumeError, match="model"):
        train(fresh(vocab, "gru"), train_items, val_items, resume=state, **KW)
    _, history = charrnn.resume(path, train_items, val_items, epochs=2)  # running longer is fine
    assert [r.epoch for r in history] == [1, 2]


@fault(
    "`--resume` given a final model file (no training state)",
    "`ResumeError`: 'a model without training state, so it cannot be resumed (resume from the .ckpt.safetensors file …)'",
)
def test_resuming_a_plain_model_file_is_refused(tmp_path, data):
    train_items, _, vocab = data
    path = tmp_path / "m.safetensors"
    fresh(vocab).save(path)
    with pytest.raises(ResumeError, match="without training state"):
        charrnn.resume(path, train_items)


@fault(
    "a training checkpoint whose optimizer tensors or state JSON are missing or wrong",
    "`CheckpointError` naming the tensor or the entry",
)
def test_damaged_training_state_raises_checkpoint_error(tmp_path, data):
    from test_checkpoint import rewrite

    train_items, _, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    train(fresh(vocab), train_items, None, checkpoint=path, epochs=1, batch_size=16)
    blob = path.read_bytes()
    rewrite(path, tensors=lambda t: {k: v for k, v in t.items() if k != "optimizer.v.fc.bias"})
    with pytest.raises(CheckpointError, match="optimizer.v.fc.bias"):
        load_training_checkpoint(path)
    path.write_bytes(blob)
    rewrite(path, tensors=lambda t: {**t, "optimizer.m.fc.bias": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match="optimizer.m.fc.bias"):
        load_training_checkpoint(path)
    for bad in ("{", "[]", json.dumps({"version": 99}), json.dumps({"version": 1, "step": "ten"})):
        path.write_bytes(blob)
        rewrite(path, training_state=bad)
        with pytest.raises(CheckpointError, match="training.state|training_state"):
            load_training_checkpoint(path)


@fault(
    "the disk fails or the process is stopped while a checkpoint is being written",
    "the previous checkpoint is untouched (temporary file + fsync + rename) and no temporary file is left; "
    "the error itself propagates",
)
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["disk-full", "interrupted"])
def test_failed_checkpoint_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, data, error):
    train_items, val_items, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    epochs_seen = []

    def break_the_disk_after_epoch_1(record):
        epochs_seen.append(record.epoch)
        if record.epoch == 1:
            before.append(path.read_bytes())

            def fail(fd):
                raise error

            monkeypatch.setattr(os, "fsync", fail)

    before: list[bytes] = []
    with pytest.raises(type(error)):
        train(model, train_items, val_items, checkpoint=path, callback=break_the_disk_after_epoch_1, **KW)
    monkeypatch.undo()
    assert epochs_seen == [1]
    assert path.read_bytes() == before[0]
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt.safetensors"], "no temporary file left behind"
    assert load_training_checkpoint(path)[1].epoch == 1
    resumed, _ = charrnn.resume(path, train_items, val_items)
    assert_same_weights(resumed, uninterrupted(data)[0])


def test_bad_checkpoint_every_is_a_value_error(data):
    train_items, _, vocab = data
    with pytest.raises(ValueError, match="checkpoint_every"):
        train(fresh(vocab), train_items, checkpoint_every=0, epochs=1)


def test_default_checkpoint_path_sits_next_to_the_model():
    assert default_checkpoint_path("out/m.safetensors") == "out/m.ckpt.safetensors"
    assert default_checkpoint_path("model") == "model.ckpt.safetensors"


# -- the command line ---------------------------------------------------------------------


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "charrnn", "--threads", "1", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


TRAIN = [
    "train",
    "names.txt",
    "--hidden",
    "16",
    "--embed",
    "8",
    "--batch",
    "8",
    "--epochs",
    "3",
    "--samples",
    "0",
    "--json",
]


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    from conftest import TINY_NAMES

    d = tmp_path_factory.mktemp("resume-cli")
    (d / "names.txt").write_text("\n".join(TINY_NAMES * 3) + "\n", encoding="utf-8")
    ref = cli(*TRAIN, "--out", "ref.safetensors", cwd=d)
    assert ref.returncode == 0, ref.stderr
    return d


def tensors(path):
    with safe_open(str(path), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys() if not k.startswith(("optimizer.", "best."))}


def test_cli_resume_continues_to_the_same_model_as_an_uninterrupted_run(cli_dir):
    cut = cli(*TRAIN, "--out", "cut.safetensors", "--max-steps", "11", "--checkpoint-every", "4", cwd=cli_dir)
    assert cut.returncode == 0, cut.stderr
    assert (cli_dir / "cut.ckpt.safetensors").exists()
    # Data, model and options come from the checkpoint; a new budget (--epochs 3) replaces
    # the old one (--epochs 3 --max-steps 11) as a whole.
    resumed = cli(
        "train", "--resume", "cut.ckpt.safetensors", "--epochs", "3", "--out", "resumed.safetensors", cwd=cli_dir
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from cut.ckpt.safetensors at step 11" in resumed.stderr
    records = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert [r["epoch"] for r in records] == [2, 3]
    ref, got = tensors(cli_dir / "ref.safetensors"), tensors(cli_dir / "resumed.safetensors")
    assert ref.keys() == got.keys()
    for name in ref:
        assert np.array_equal(ref[name], got[name]), name
    ref_ckpt, got_ckpt = tensors(cli_dir / "ref.ckpt.safetensors"), tensors(cli_dir / "cut.ckpt.safetensors")
    for name in ref_ckpt:
        assert np.array_equal(ref_ckpt[name], got_ckpt[name]), name


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("charrnn: error: "), result.stderr
    return lines[0]


def test_cli_resume_refuses_changed_options_and_model_files(cli_dir):
    line = one_error_line(cli("train", "--resume", "ref.ckpt.safetensors", "--lr", "0.5", cwd=cli_dir))
    assert "--lr 0.5 differs" in line
    line = one_error_line(cli("train", "--resume", "ref.ckpt.safetensors", "--cell", "gru", cwd=cli_dir))
    assert "--cell gru differs" in line
    line = one_error_line(cli("train", "--resume", "ref.safetensors", cwd=cli_dir))
    assert "without training state" in line
    line = one_error_line(cli("train", "--resume", "missing.ckpt.safetensors", cwd=cli_dir))
    assert "missing.ckpt.safetensors" in line
