"""`charrnn train --mode text`, `charrnn sample` streaming text, `charrnn eval` of a text
model, and the errors for options that belong to the other mode."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

import charrnn
from charrnn.cli import main
from faults import fault

LINES = ["the cat sat on the mat.", "a dog ran to the cat.", "the mat sat on a dog."]
TEXT = "\n".join(LINES[i % 3] for i in range(80)) + "\n"


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("textcli")
    (d / "input.txt").write_text(TEXT, encoding="utf-8")
    (d / "names.txt").write_text("Анна\nБорис\nВера\nГлеб\nДарья\n" * 3, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def trained(work):
    return run(
        "train", "input.txt", "--mode", "text", "--epochs", "3", "--hidden", "24", "--batch", "4", "--seq-len", "16",
        "--lr", "0.01", "--eval-every", "20", "--json", "--out", "t.safetensors", cwd=work,
    )  # fmt: skip


def test_text_train_json_prints_one_object_per_evaluation_with_test_figures(trained, work):
    assert trained.returncode == 0, trained.stderr
    records = [json.loads(line) for line in trained.stdout.splitlines()]
    keys = {"epoch", "step", "train_nll", "val_nll", "train_ppl", "val_ppl", "chars_per_sec", "seconds"}
    for r in records:
        assert keys | {"test_nll", "test_ppl", "test_bpc", "lr", "progress", "end_of_epoch"} <= set(r)
    assert [r["epoch"] for r in records if r["end_of_epoch"]] == [1, 2, 3]
    assert any(not r["end_of_epoch"] for r in records)  # --eval-every 20 inside the epochs
    assert records[-1]["val_nll"] < records[0]["val_nll"]
    assert "state carried" in trained.stderr and "sample:" in trained.stderr
    model = charrnn.load(work / "t.safetensors")
    assert model.mode == "text" and model.config["mode"] == "text"
    assert (model.cell, model.layers, model.embed) == ("lstm", 2, 32)  # text-mode defaults where not typed
    meta = charrnn.checkpoint.read_metadata(work / "t.safetensors")["training"]
    assert (
        meta["mode"] == "text" and meta["seq_len"] == 16 and meta["lr_decay"] == 0.97 and meta["lr_decay_start"] == 10
    )
    assert meta["best_val_nll"] == min(r["val_nll"] for r in records)


def test_sample_streams_the_prime_and_its_continuation(trained, work):
    a = run("sample", "t.safetensors", "--prime", "the cat", "--length", "300", "--seed", "3", cwd=work)
    assert a.returncode == 0, a.stderr
    assert a.stdout.startswith("the cat")
    body = a.stdout[len("the cat") :]
    assert len(body.rstrip("\n")) <= 300 <= len(body)  # 300 characters, then a newline if they lack one
    assert (
        a.stdout
        == run("sample", "t.safetensors", "--prime", "the cat", "--length", "300", "--seed", "3", cwd=work).stdout
    )
    model = charrnn.load(work / "t.safetensors")
    assert body[:300] == "".join(model.generate_text("the cat", 300, seed=3))
    # --prefix works as the prime for a text model; the default is 1000 characters.
    b = run("sample", "t.safetensors", "--prefix", "a dog", "--seed", "3", cwd=work)
    assert b.stdout.startswith("a dog") and len(b.stdout) >= 1005


def test_sample_writes_and_flushes_chunk_by_chunk(trained, work, monkeypatch):
    writes = []

    class Recorder(io.StringIO):
        def write(self, s):
            writes.append(("write", s))
            return super().write(s)

        def flush(self):
            writes.append(("flush", None))

    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["sample", str(work / "t.safetensors"), "--prime", "the", "--length", "100", "--seed", "1"]) == 0
    texts = [s for kind, s in writes if kind == "write"]
    assert texts[0] == "the" and len(texts) >= 100 // 16
    assert all(writes[2 * i + 1][0] == "flush" for i in range(len(texts) - 1))  # each write is flushed
    assert "".join(texts).startswith("the") and len("".join(texts).rstrip("\n")) == 103


def test_sample_output_arrives_before_generation_ends(trained, work):
    proc = subprocess.Popen(
        [sys.executable, "-m", "charrnn", "sample", "t.safetensors", "--prime", "the", "--length", "50000000"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = proc.stdout.read(40)
        assert first.startswith(b"the") and len(first) == 40
        assert proc.poll() is None  # 50M characters are far from done: the first ones were streamed
    finally:
        proc.kill()
        proc.wait()


def test_eval_reads_a_text_models_file_as_one_stream(trained, work):
    r = run("eval", "t.safetensors", "input.txt", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["mode"] == "text" and result["chars"] == len(TEXT) - 1
    assert result["nll"] == pytest.approx(charrnn.load(work / "t.safetensors").evaluate_text(TEXT)["nll"], rel=1e-6)


@fault(
    "an option of the other mode is given (`--seq-len` for names, `--dedupe` or `-n` for text), or `--prime` "
    "holds a character the model does not know",
    "CLI: one line naming the option (or the character and its code point), before anything is written",
)
def test_options_of_the_other_mode_are_one_line_errors(trained, work):
    assert "--mode text" in one_error_line(run("train", "names.txt", "--seq-len", "10", cwd=work))
    assert "--mode text" in one_error_line(run("train", "names.txt", "--test", "input.txt", cwd=work))
    assert "--dedupe" in one_error_line(run("train", "input.txt", "--mode", "text", "--dedupe", cwd=work))
    assert "-n" in one_error_line(run("sample", "t.safetensors", "-n", "3", cwd=work))
    assert "--beam" in one_error_line(run("sample", "t.safetensors", "--beam", "3", cwd=work))
    assert "U+0051" in one_error_line(run("sample", "t.safetensors", "--prime", "Q", cwd=work))
    bad = run("sample", "t.safetensors", "--prime", "the", "--temperature", "-1", cwd=work)
    assert "temperature" in one_error_line(bad) and bad.stdout == ""  # refused before anything is written
    assert "--seq-len" in one_error_line(run("train", "input.txt", "--mode", "text", "--seq-len", "0", cwd=work))
    assert "--lr-decay" in one_error_line(run("train", "input.txt", "--mode", "text", "--lr-decay", "1.5", cwd=work))
    assert "--patience" in one_error_line(run("train", "input.txt", "--mode", "text", "--patience", "0", cwd=work))


def test_names_models_refuse_text_sampling_and_take_the_schedule(work):
    r = run(
        "train", "names.txt", "--max-steps", "4", "--batch", "4", "--hidden", "8", "--embed", "4", "--json",
        "--lr-decay", "0.5", "--patience", "3", "--out", "n.safetensors", "--samples", "0", cwd=work,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert all(json.loads(line)["lr"] == 0.003 for line in r.stdout.splitlines())
    assert charrnn.load(work / "n.safetensors").mode == "names"
    assert "names model" in one_error_line(run("sample", "n.safetensors", "--prime", "Ан", cwd=work))
    names = run("sample", "n.safetensors", "-n", "3", "--seed", "1", cwd=work)
    assert names.returncode == 0 and len(names.stdout.splitlines()) == 3


@fault(
    "a `--mode text` file is missing, not UTF-8, or a held-out text has a character the training text never shows",
    "`FileNotFoundError` / `DataError`; CLI: one line naming the file (and the character, its count and first line)",
)
def test_text_mode_errors_for_bad_files(work):
    (work / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    assert "not valid UTF-8" in one_error_line(run("train", "latin1.txt", "--mode", "text", cwd=work))
    assert "No such file" in one_error_line(run("train", "missing.txt", "--mode", "text", cwd=work))
    (work / "odd.txt").write_text("the cat Q\n", encoding="utf-8")
    line = one_error_line(run("train", "input.txt", "--mode", "text", "--val", "odd.txt", cwd=work))
    assert "'Q' (U+0051) 1 time, first on line 1" in line


@fault(
    "a text is too short for its split, or for `--batch` streams",
    "`ValueError`/`DataError` saying how short it is and the largest batch that fits; nothing is written",
)
def test_text_too_short_for_the_split_or_the_streams(work):
    (work / "empty.txt").write_text("", encoding="utf-8")
    assert "empty" in one_error_line(run("train", "empty.txt", "--mode", "text", cwd=work))
    (work / "two.txt").write_text("ab", encoding="utf-8")
    assert "too short" in one_error_line(run("train", "two.txt", "--mode", "text", cwd=work))
    (work / "ten.txt").write_text("abcdefghij", encoding="utf-8")
    line = one_error_line(run("train", "ten.txt", "--mode", "text", "--out", "ten.safetensors", cwd=work))
    assert "cannot be cut into 50 streams; use a batch size of at most" in line
    assert not (work / "ten.safetensors").exists() and not (work / "ten.ckpt.safetensors").exists()
