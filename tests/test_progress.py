"""Seeing training: the progress bar, the evaluation log and the learning-curve plot."""

from __future__ import annotations

import json
import sys

import pytest

import charrnn
from charrnn.progress import read_log
from conftest import TINY_NAMES, make_model


def train_small(**kw):
    model = make_model(hidden=8, layers=1, embed=4)
    return charrnn.train(model, TINY_NAMES[:20], TINY_NAMES[20:], epochs=3, batch_size=4, log_every=None, **kw)


def test_the_log_has_a_header_and_one_line_per_evaluation(tmp_path):
    log = tmp_path / "run.jsonl"
    history = train_small(log=log)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["event"] == "start" and lines[0]["config"]["hidden"] == 8
    evals = lines[1:]
    assert [e["event"] for e in evals] == ["eval"] * 3
    assert [e["step"] for e in evals] == [r.step for r in history]
    assert [e["val_ppl"] for e in evals] == [r.val_ppl for r in history]
    assert read_log(log) == evals


def test_a_new_run_replaces_the_log_and_a_resumed_one_appends(tmp_path):
    log, ckpt = tmp_path / "run.jsonl", tmp_path / "run.ckpt.safetensors"
    train_small(log=log)
    model = make_model(hidden=8, layers=1, embed=4)
    charrnn.train(
        model, TINY_NAMES[:20], TINY_NAMES[20:], epochs=2, batch_size=4, log_every=None, log=log, checkpoint=ckpt
    )
    assert len(read_log(log)) == 2
    charrnn.resume(ckpt, TINY_NAMES[:20], TINY_NAMES[20:], epochs=4, log=str(log))
    assert [e["epoch"] for e in read_log(log)] == [1, 2, 3, 4]


def test_read_log_skips_a_half_written_line_and_refuses_an_empty_log(tmp_path):
    log = tmp_path / "run.jsonl"
    train_small(log=log)
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"event": "eval", "step": 9')
    assert len(read_log(log)) == 3
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"event": "start"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="no evaluations"):
        read_log(empty)


def test_the_progress_bar_shows_loss_and_speed_when_asked(capsys, monkeypatch):
    monkeypatch.setattr(charrnn.progress.TrainingMonitor, "MININTERVAL", 0.0)  # redraw at every step
    train_small(progress=True)
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "loss" in err and "chars/s" in err


def test_no_bar_by_default_nor_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    train_small()
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    train_small(progress=None)
    assert capsys.readouterr().err == ""


def test_plot_draws_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from charrnn.plot import plot_log

    log, png = tmp_path / "run.jsonl", tmp_path / "curves.png"
    train_small(log=log)
    assert plot_log(log, png) == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    from charrnn.plot import MissingDependencyError, plot_log

    log = tmp_path / "run.jsonl"
    train_small(log=log)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import` fail
    with pytest.raises(MissingDependencyError, match=r"charrnn\[plot\]"):
        plot_log(log, tmp_path / "x.png")
