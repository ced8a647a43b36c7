"""Ctrl-C: training stops after a whole step, saves a resumable checkpoint, says where it
is and how to resume, exits 130 (long Rust calls: test_interrupt_long_calls.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, TrainingInterrupted, Vocab, _core, train
from charrnn.interrupt import deferred_interrupt
from charrnn.training.state import load_training_checkpoint
from conftest import default_sigint
from faults import fault
from test_train import ITEMS


@pytest.fixture(params=["default", "ignored", "custom"])
def sigint_before(request):
    """SIGINT's handler before the run: Python's default, SIG_IGN (a background job or
    nohup) or the program's own; put back after the test."""
    before = signal.getsignal(signal.SIGINT)
    installed = {
        "default": signal.default_int_handler,
        "ignored": signal.SIG_IGN,
        "custom": lambda signum, frame: None,
    }[request.param]
    signal.signal(signal.SIGINT, installed)
    yield installed
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="module")
def data():
    train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
    return train_items, val_items, Vocab.from_items(ITEMS)


def fresh(vocab):
    return CharRNN(vocab, cell="lstm", hidden=16, layers=1, embed=8, seed=0)


def signal_during_step(monkeypatch, model, step, signals=(signal.SIGINT,)):
    """Deliver ``signals`` to this process in the middle of training step ``step`` (between
    the forward/backward pass and the optimizer update)."""
    real = model.loss_and_grads
    calls = [0]

    def loss_and_grads(*args, **kwargs):
        calls[0] += 1
        out = real(*args, **kwargs)
        if calls[0] == step:
            for s in signals:
                os.kill(os.getpid(), s)
        return out

    monkeypatch.setattr(model, "loss_and_grads", loss_and_grads)


@fault(
    "Ctrl-C (SIGINT) during `charrnn.train()`",
    "the current step finishes, the checkpoint is written, `TrainingInterrupted` (a `KeyboardInterrupt`, "
    "not an `Exception`) says the step, epoch and checkpoint",
)
def test_sigint_finishes_the_step_saves_and_raises_training_interrupted(tmp_path, monkeypatch, data, sigint_before):
    train_items, val_items, vocab = data
    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    signal_during_step(monkeypatch, model, 5)
    if sigint_before is signal.SIG_IGN:
        # Ignored on purpose by whoever started the process (nohup, a background job): it
        # stays ignored, the run ends normally, and the handler is still SIG_IGN.
        history = train(model, train_items, val_items, epochs=5, batch_size=16, checkpoint=path)
        assert history[-1].epoch == 5 and history[-1].step > 5, "the SIGINT of step 5 was ignored"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        return
    with pytest.raises(TrainingInterrupted) as info:
        train(model, train_items, val_items, epochs=5, batch_size=16, checkpoint=path)
    e = info.value
    assert isinstance(e, KeyboardInterrupt) and not isinstance(e, Exception)
    assert (e.step, e.epoch, e.checkpoint, e.signum) == (5, 1, str(path), signal.SIGINT)
    _, state = load_training_checkpoint(path)
    assert state.step == 5 and state.optimizer["t"] == 5 and state.batch == 5, "the step finished, then saved"
    assert signal.getsignal(signal.SIGINT) is sigint_before, "the handler of before the run is put back"


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, data, sigint_delivered):
    train_items, val_items, vocab = data
    before = _core.get_num_threads()
    _core.set_num_threads(1)
    try:
        reference = fresh(vocab)
        train(reference, train_items, val_items, epochs=2, batch_size=16, dropout=0.1)
        path = tmp_path / "run.ckpt.safetensors"
        model = fresh(vocab)
        signal_during_step(monkeypatch, model, 17)
        with pytest.raises(TrainingInterrupted):
            train(model, train_items, val_items, epochs=2, batch_size=16, dropout=0.1, checkpoint=path)
        resumed, _ = charrnn.resume(path, train_items, val_items)
    finally:
        _core.set_num_threads(before)
    for name in reference.params:
        assert np.array_equal(resumed.params[name], reference.params[name]), name


def test_sigterm_also_stops_at_a_safe_point(tmp_path, monkeypatch, data, sigint_before):
    # Whatever SIGINT's handler is (even SIG_IGN), SIGTERM stops at a safe point.
    train_items, _, vocab = data
    model = fresh(vocab)
    signal_during_step(monkeypatch, model, 3, signals=(signal.SIGTERM,))
    with pytest.raises(TrainingInterrupted) as info:
        train(model, train_items, None, epochs=3, batch_size=16, checkpoint=tmp_path / "c.safetensors")
    assert info.value.signum == signal.SIGTERM and info.value.step == 3
    assert signal.getsignal(signal.SIGINT) is sigint_before


@fault("a second Ctrl-C while training finishes its step", "a plain `KeyboardInterrupt` at once, nothing saved")
@pytest.mark.parametrize("sigint_before", ["default", "custom"], indirect=True)
def test_a_second_ctrl_c_stops_at_once(tmp_path, monkeypatch, data, sigint_before):
    train_items, _, vocab = data
    model = fresh(vocab)
    signal_during_step(monkeypatch, model, 2, signals=(signal.SIGINT, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt) as info:
        train(model, train_items, None, epochs=3, batch_size=16, checkpoint=tmp_path / "c.safetensors")
    assert not isinstance(info.value, TrainingInterrupted)
    assert not (tmp_path / "c.safetensors").exists(), "stopped before any checkpoint"
    assert signal.getsignal(signal.SIGINT) is sigint_before


@fault(
    "Ctrl-C during `charrnn.train()` without a checkpoint path",
    "`TrainingInterrupted` with `checkpoint=None`; the model holds the weights of the best epoch so far",
)
def test_interrupt_without_a_checkpoint_path_still_stops_cleanly(monkeypatch, data, sigint_delivered):
    train_items, val_items, vocab = data
    model = fresh(vocab)
    signal_during_step(monkeypatch, model, 20)  # in epoch 2: epoch 1's weights are the best so far
    snapshot = {}
    with pytest.raises(TrainingInterrupted) as info:
        train(
            model,
            train_items,
            val_items,
            epochs=3,
            batch_size=16,
            callback=lambda r: snapshot.update({k: v.copy() for k, v in model.params.items()}),
        )
    assert info.value.checkpoint is None and info.value.epoch == 2
    for name, value in snapshot.items():
        np.testing.assert_array_equal(model.params[name], value)


def test_deferred_interrupt_outside_the_main_thread_changes_nothing(sigint_before):
    import threading

    seen = []

    def worker():
        with deferred_interrupt() as stop:
            seen.append(stop.requested)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [False]
    assert signal.getsignal(signal.SIGINT) is sigint_before


# -- the command line, in a subprocess -------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from conftest import TINY_NAMES

    d = tmp_path_factory.mktemp("interrupt")
    (d / "names.txt").write_text("\n".join(TINY_NAMES * 3) + "\n", encoding="utf-8")
    return d


TRAIN = ["--threads", "1", "train", "names.txt", "--hidden", "24", "--embed", "8", "--batch", "4", "--samples", "0"]


def start(args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "charrnn", *args],
        cwd=cwd,
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@fault(
    "Ctrl-C during `charrnn train`",
    "the step finishes, the checkpoint is saved, then on stderr: 'interrupted at step N (epoch E)', "
    "'saved the training state to CKPT', 'to continue: charrnn train --resume CKPT'; exit status 130, no traceback",
)
@fault("`kill` (SIGTERM) during `charrnn train`", "the same, with exit status 143")
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_saves_says_how_to_resume_and_the_resumed_run_ends_like_an_uninterrupted_one(workdir, sig, status):
    out = f"int{status}.safetensors"
    proc = start([*TRAIN, "--epochs", "60", "--json", "--out", out], workdir)
    try:
        assert proc.stdout.readline().startswith("{")  # epoch 1 is done: training is under way
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    ckpt = f"int{status}.ckpt.safetensors"
    lines = err.strip().splitlines()
    assert lines[-3].startswith("charrnn: interrupted at step ")
    assert lines[-2] == f"charrnn: saved the training state to {ckpt}"
    assert lines[-1] == f"charrnn: to continue: charrnn train --resume {ckpt}"
    stopped_at = load_training_checkpoint(workdir / ckpt)[1]
    assert 0 < stopped_at.epoch < 60

    # Resume exactly as told; the result is the uninterrupted run's, bit for bit.
    resumed = subprocess.run(
        [sys.executable, "-m", "charrnn", *lines[-1].split("continue: charrnn ", 1)[1].split()],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    reference = subprocess.run(
        [sys.executable, "-m", "charrnn", *TRAIN, "--epochs", "60", "--json", "--out", f"ref{status}.safetensors"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reference.returncode == 0, reference.stderr
    a, b = charrnn.load(workdir / out), charrnn.load(workdir / f"ref{status}.safetensors")
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
