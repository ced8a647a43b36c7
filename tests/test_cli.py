"""The `charrnn` command: train (JSON lines), sample, eval, and one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from conftest import TINY_NAMES, default_sigint


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "names.txt").write_text("\n".join(TINY_NAMES * 3) + "\n", encoding="utf-8")
    (d / "held_out.txt").write_text("Анна\nОлег\nЯна\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def trained(workdir):
    result = run(
        "train",
        "names.txt",
        "--max-steps",
        "6",
        "--batch",
        "8",
        "--hidden",
        "16",
        "--embed",
        "8",
        "--json",
        "--out",
        "m.safetensors",
        "--seed",
        "1",
        "--dropout",
        "0.1",
        cwd=workdir,
    )
    return result


def test_train_json_prints_one_object_per_epoch_and_nothing_else(trained, workdir):
    assert trained.returncode == 0, trained.stderr
    lines = trained.stdout.splitlines()
    assert lines
    records = [json.loads(line) for line in lines]
    for r in records:
        assert {
            "epoch",
            "step",
            "train_nll",
            "val_nll",
            "train_ppl",
            "val_ppl",
            "train_bpc",
            "val_bpc",
            "chars_per_sec",
            "seconds",
        } <= set(r)
    assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))
    assert records[-1]["step"] == 6
    assert (workdir / "m.safetensors").exists()


def test_sample_prints_one_name_per_line_reproducibly(trained, workdir):
    a = run("sample", "m.safetensors", "-n", "7", "--seed", "3", "--prefix", "Ан", "--max-len", "9", cwd=workdir)
    assert a.returncode == 0, a.stderr
    names = a.stdout.splitlines()
    assert len(names) == 7 and all(n.startswith("Ан") and len(n) <= 9 for n in names)
    assert (
        run(
            "sample",
            "m.safetensors",
            "-n",
            "7",
            "--seed",
            "3",
            "--prefix",
            "Ан",
            "--max-len",
            "9",
            cwd=workdir,
        ).stdout
        == a.stdout
    )


def test_eval_json_reports_nll_ppl_bpc_chars_items(trained, workdir):
    result = run("eval", "m.safetensors", "held_out.txt", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["items"] == 3 and report["chars"] == len("АннаОлегЯна") + 3
    assert report["ppl"] == pytest.approx(2.718281828 ** report["nll"], rel=1e-6)
    assert report["bpc"] == pytest.approx(report["nll"] / 0.6931471805599453, rel=1e-6)
    human = run("eval", "m.safetensors", "held_out.txt", cwd=workdir)
    assert human.returncode == 0 and "ppl" in human.stdout


def test_train_human_output_has_header_epoch_lines_samples_and_destination(workdir):
    result = run(
        "train",
        "names.txt",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--embed",
        "4",
        "--samples",
        "3",
        "--out",
        "h.safetensors",
        "--cell",
        "gru",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "vocab" in out and "parameters" in out
    assert sum(line.startswith("epoch") for line in out.splitlines()) == 2
    assert "samples" in out and "h.safetensors" in out


def test_help_shows_the_training_defaults(workdir):
    result = run("train", "--help", cwd=workdir)
    assert result.returncode == 0
    assert "--hidden" in result.stdout and "default: 128" in result.stdout


def bad(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("charrnn: error: "), result.stderr
    return lines[0]


def test_missing_training_file_is_one_error_line(workdir):
    assert "missing.txt" in bad(run("train", "missing.txt", cwd=workdir))


def test_non_utf8_training_file_is_one_error_line(workdir):
    (workdir / "cp1251.txt").write_bytes("Анна\n".encode("cp1251"))
    assert "line 1" in bad(run("train", "cp1251.txt", "--json", cwd=workdir))


def test_corrupt_checkpoint_is_one_error_line(workdir):
    (workdir / "bad.safetensors").write_bytes(b"\x00" * 100)
    bad(run("sample", "bad.safetensors", cwd=workdir))
    bad(run("eval", "bad.safetensors", "names.txt", cwd=workdir))


def test_bad_sampling_values_are_one_error_line(trained, workdir):
    assert "temperature" in bad(run("sample", "m.safetensors", "--temperature", "0", cwd=workdir))
    assert "U+0051" in bad(run("sample", "m.safetensors", "--prefix", "Q", cwd=workdir))


def test_eval_with_unknown_characters_is_one_error_line(trained, workdir):
    (workdir / "latin.txt").write_text("Quentin\n", encoding="utf-8")
    assert "Quentin" in bad(run("eval", "m.safetensors", "latin.txt", cwd=workdir))


def test_train_without_file_uses_the_bundled_first_names(tmp_path):
    result = run("train", "--max-steps", "2", "--hidden", "8", "--embed", "4", "--samples", "0", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bundled Russian first names" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["step"] == 2
    assert (tmp_path / "charrnn-model.safetensors").exists()


def test_ctrl_c_exits_130_with_one_line(workdir):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charrnn",
            "train",
            "names.txt",
            "--epochs",
            "100000",
            "--hidden",
            "8",
            "--json",
            "--out",
            "int.safetensors",
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        assert proc.stdout.readline().startswith("{")  # training is under way
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "charrnn: to continue: charrnn train --resume int.ckpt.safetensors"
