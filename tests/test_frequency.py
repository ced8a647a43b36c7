"""Frequency-aware training: items drawn in proportion to count ** power, the
per-occurrence validation NLL beside the per-type one, exact resume with the drawing
state in the checkpoint, and the command line's --weights / count-column files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn import CharRNN, Counted, NameBatches, ResumeError, Vocab, train
from charrnn.counted import counted_split, has_count_header, tempered
from charrnn.training.state import load_training_checkpoint
from test_resume import assert_same_weights, crash_at

pytestmark = pytest.mark.usefixtures("one_kernel_thread")

# a small alphabet, so that any validation item's characters occur in training items too
ITEMS = ["Анна", "Нина", "Инна", "Аня", "Яна", "Ина", "Нана", "Анина", "Ния", "Янина", "Иана", "Аниа"]
COUNTS = [500, 300, 200, 100, 50, 20, 10, 5, 3, 2, 1, 1]
KW = dict(epochs=4, batch_size=4, lr=1e-2, seed=3, dropout=0.1, log_every=None)


def model_for(items=ITEMS) -> CharRNN:
    return CharRNN(Vocab.from_items(items), cell="lstm", hidden=16, layers=1, embed=8, seed=0)


def test_tempered_counts_follow_the_power():
    assert tempered([4, 1], 1.0) == [0.8, 0.2]
    assert tempered([4, 1], 0.5) == pytest.approx([2 / 3, 1 / 3])
    assert tempered([4, 1, 0], 0.0) == [0.5, 0.5, 0.0]  # a zero count is never drawn
    assert Counted(["a", "b"], [4, 1]).weights(0.5) == tempered([4, 1], 0.5)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="weight power"):
            tempered([1, 2], bad)
    with pytest.raises(ValueError, match="all counts are zero"):
        tempered([0, 0], 1.0)
    with pytest.raises(ValueError, match="counts must be"):
        tempered([1, -2], 1.0)


def test_weighted_epochs_draw_items_in_proportion_to_their_weight():
    vocab = Vocab.from_items(ITEMS)
    p = np.array(tempered(COUNTS, 1.0))
    batches = NameBatches(ITEMS, vocab, batch_size=5, seed=0, probabilities=p)
    drawn = np.zeros(len(ITEMS))
    for _ in range(3000):
        for batch in batches:
            np.add.at(drawn, batch.index, 1)
    total = drawn.sum()
    assert total == 3000 * len(ITEMS)  # an epoch is still len(items) draws
    # binomial standard error of each share, 5 sigma
    assert np.all(np.abs(drawn / total - p) <= 5 * np.sqrt(p * (1 - p) / total) + 1e-12)
    plain = NameBatches(ITEMS, vocab, batch_size=5, seed=0)
    assert sorted(i for b in plain for i in b.index) == list(range(len(ITEMS)))  # without: each once


def test_bad_sampling_weights_are_refused():
    vocab = Vocab.from_items(ITEMS)
    with pytest.raises(ValueError, match="expected 12 sampling weights"):
        NameBatches(ITEMS, vocab, probabilities=[1.0, 2.0])
    with pytest.raises(ValueError, match="counts must be"):
        train(model_for(), ITEMS, weights=[float("nan")] * len(ITEMS), **KW)
    with pytest.raises(ValueError, match="either a Counted list or weights"):
        train(model_for(), Counted(ITEMS, COUNTS), weights=COUNTS, **KW)


def test_the_weighted_validation_nll_counts_each_item_as_often_as_it_occurs():
    train_part, val_part = Counted(ITEMS[:8], COUNTS[:8]), Counted(ITEMS[8:], [40, 1, 1, 1])
    model = model_for()
    history = train(model, train_part, val_part, **{**KW, "epochs": 1})
    record = history[-1]
    lp = model.log_probs(val_part.items)
    chars = np.array([len(x) + 1 for x in val_part.items])
    w = np.array(val_part.counts, dtype=np.float64)
    assert record.val_nll == pytest.approx(-lp.sum() / chars.sum())
    assert record.val_nll_weighted == pytest.approx(-(w @ lp) / (w @ chars))
    assert record.val_nll_weighted != pytest.approx(record.val_nll)  # Ния (40 times) weighs more
    assert "val_nll_weighted" in record.to_dict()
    plain = train(model_for(), ITEMS[:8], ITEMS[8:], **{**KW, "epochs": 1})
    assert plain[-1].val_nll_weighted is None and "val_nll_weighted" not in plain[-1].to_dict()


def test_a_counted_list_is_the_same_as_items_with_weights():
    a, b = model_for(), model_for()
    ha = train(a, Counted(ITEMS, COUNTS), **KW)
    hb = train(b, ITEMS, weights=COUNTS, **KW)
    assert_same_weights(a, b)
    assert [r.train_nll for r in ha] == [r.train_nll for r in hb]
    c = model_for()
    train(c, ITEMS, weights=COUNTS, weight_power=0.0, **KW)  # another power: other draws
    assert not np.array_equal(c.params["fc.weight"], a.params["fc.weight"])


def test_weighted_training_makes_common_items_likelier_than_plain_training():
    """Two items that look alike, one 200 times commoner: drawn by count, the model learns
    which is common; once each, it cannot tell them apart."""
    items = ["Аня", "Ася"] + ITEMS
    counts = [2000, 10] + [10] * len(ITEMS)
    kw = {**KW, "epochs": 30, "lr": 2e-2, "dropout": 0.0}
    weighted, plain = model_for(items), model_for(items)
    train(weighted, items, weights=counts, weight_power=1.0, **kw)
    train(plain, items, **kw)
    gap = lambda m: m.log_prob("Аня") - m.log_prob("Ася")  # noqa: E731
    assert gap(weighted) > gap(plain) + 1.0


def test_a_weighted_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    train_part, val_part = counted_split(Counted(ITEMS, COUNTS), 0.25, 0)
    reference = model_for()
    ref_history = train(reference, train_part, val_part, **KW)
    path = tmp_path / "w.ckpt.safetensors"
    model = model_for()
    crash_at(monkeypatch, model, 7)  # inside epoch 3 (2 batches an epoch + ... )
    with pytest.raises(RuntimeError, match="power cut"):
        train(model, train_part, val_part, checkpoint=path, checkpoint_every=2, **KW)
    assert 0 < load_training_checkpoint(path)[1].step < 7 and len(val_part.items) == 3
    resumed, history = charrnn.resume(
        path, train_part.items, val_part.items, weights=train_part.counts, val_weights=val_part.counts
    )
    assert_same_weights(resumed, reference)
    assert [r.val_nll_weighted for r in history] == [r.val_nll_weighted for r in ref_history]
    with pytest.raises(ResumeError, match="differs"):
        charrnn.resume(path, train_part.items, val_part.items, weights=[1] * len(train_part.items))
    with pytest.raises(ResumeError, match="differs"):
        charrnn.resume(path, train_part.items, val_part.items)  # the counts are part of the data


def test_counted_split_keeps_each_names_count():
    data = Counted(ITEMS, COUNTS)
    train_part, val_part = counted_split(data, 0.25, 0)
    assert sorted(train_part.items + val_part.items) == sorted(ITEMS)
    count = dict(zip(ITEMS, COUNTS))
    assert all(count[i] == c for part in (train_part, val_part) for i, c in zip(*part))
    assert len(val_part.items) == 3
    assert counted_split(data, 0.25, 0) == (train_part, val_part)  # reproducible


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "charrnn", "--threads", "1", *args], cwd=cwd, capture_output=True, text=True
    )


SMALL = ["--hidden", "16", "--embed", "8", "--batch", "4", "--samples", "0"]


def test_cli_trains_on_counts_and_reports_both_nlls(tmp_path):
    (tmp_path / "counts.tsv").write_text(
        "name\tcount\n" + "".join(f"{i}\t{c}\n" for i, c in zip(ITEMS, COUNTS)), "utf-8"
    )
    (tmp_path / "plain.txt").write_text("\n".join(ITEMS) + "\n", "utf-8")
    (tmp_path / "bare.tsv").write_text("".join(f"{i}\t{c}\n" for i, c in zip(ITEMS, COUNTS)), "utf-8")
    assert has_count_header(tmp_path / "counts.tsv") and not has_count_header(tmp_path / "plain.txt")
    runs = {
        "header": ["counts.tsv"],
        "weights": ["plain.txt", "--weights", "bare.tsv"],
        "weights-only": ["--weights", "bare.tsv"],
    }
    outputs = {}
    for name, data in runs.items():
        r = cli("train", *data, *SMALL, "--epochs", "2", "--json", "--out", f"{name}.safetensors", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        records = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(records) == 2 and all(rec["val_nll_weighted"] > 0 and rec["val_nll"] > 0 for rec in records)
        assert "count ** 0.5" in r.stderr
        outputs[name] = [rec["val_nll_weighted"] for rec in records]
    assert outputs["header"] == outputs["weights"] == outputs["weights-only"]
    r = cli("train", "counts.tsv", *SMALL, "--epochs", "1", "--out", "h.safetensors", cwd=tmp_path)
    assert r.returncode == 0 and " weighted " in r.stdout  # the epoch line shows it
    r = cli(
        "train",
        "counts.tsv",
        *SMALL,
        "--epochs",
        "2",
        "--weight-power",
        "1",
        "--json",
        "--out",
        "p.safetensors",
        cwd=tmp_path,
    )
    assert r.returncode == 0 and [json.loads(x)["val_nll_weighted"] for x in r.stdout.splitlines()] != outputs["header"]


def test_cli_refuses_items_without_counts_and_bad_powers(tmp_path):
    (tmp_path / "plain.txt").write_text("\n".join(ITEMS) + "\n", "utf-8")
    (tmp_path / "few.tsv").write_text("Анна\t3\n", "utf-8")
    r = cli("train", "plain.txt", "--weights", "few.tsv", *SMALL, "--epochs", "1", cwd=tmp_path)
    assert r.returncode != 0 and "have no count" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", "plain.txt", "--weights", "few.tsv", "--weight-power", "-1", cwd=tmp_path)
    assert r.returncode != 0 and "--weight-power" in r.stderr
    r = cli("train", "plain.txt", "--weight-power", "1", *SMALL, "--epochs", "1", cwd=tmp_path)
    assert r.returncode != 0 and "--weight-power needs counts" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", "--preset", "ru-first-by-gender", "--weights", "few.tsv", *SMALL, cwd=tmp_path)
    assert r.returncode != 0 and "does not go with" in r.stderr and "Traceback" not in r.stderr


def test_cli_resume_of_a_weighted_run_ends_as_the_uninterrupted_one(tmp_path):
    (tmp_path / "counts.tsv").write_text(
        "name\tcount\n" + "".join(f"{i}\t{c}\n" for i, c in zip(ITEMS, COUNTS)), "utf-8"
    )
    whole = cli("train", "counts.tsv", *SMALL, "--epochs", "3", "--json", "--out", "whole.safetensors", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    first = cli("train", "counts.tsv", *SMALL, "--epochs", "1", "--json", "--out", "part.safetensors", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rest = cli("train", "--resume", "part.ckpt.safetensors", "--epochs", "3", "--json", cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    both = [json.loads(x) for x in (first.stdout + rest.stdout).splitlines()]
    want = [json.loads(x) for x in whole.stdout.splitlines()]
    assert [r["val_nll_weighted"] for r in both] == [r["val_nll_weighted"] for r in want]
    assert [r["train_nll"] for r in both] == [r["train_nll"] for r in want]
    a, b = charrnn.load(tmp_path / "whole.safetensors"), charrnn.load(tmp_path / "part.safetensors")
    assert_same_weights(a, b)
