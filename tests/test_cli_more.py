"""The command line of conditional models, filtered sampling, beam search, classify, score,
export/import and plot — run as a user would, in a subprocess."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

import charrnn
from charrnn.checkpoint import read_metadata
from charrnn.labelled import Labelled

A_NAMES = ["Анна", "Алла", "Арина", "Ася", "Ада", "Алина", "Аня", "Ария", "Агата", "Алиса"]
B_NAMES = ["Белла", "Бина", "Бэла", "Берта", "Бася", "Бона", "Бьянка", "Бриана", "Белинда", "Бетти"]


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


SMALL = ["--hidden", "24", "--embed", "8", "--layers", "1", "--batch", "10", "--lr", "0.02", "--dropout", "0"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_more")
    (d / "a.txt").write_text("\n".join(A_NAMES) + "\n", encoding="utf-8")
    (d / "b.txt").write_text("\n".join(B_NAMES) + "\n", encoding="utf-8")
    (d / "plain.txt").write_text("\n".join(A_NAMES + B_NAMES) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def conditional(workdir):
    result = run(
        "train", "--category", "a=a.txt", "--category", "b=b.txt", "--epochs", "40", *SMALL,
        "--val-fraction", "0.1", "--json", "--log", "run.jsonl", "--out", "cond.safetensors", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def plain(workdir):
    result = run(
        "train", "plain.txt", "--epochs", "20", *SMALL, "--out", "plain.safetensors", "--samples", "0", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    return result


# -- train ---------------------------------------------------------------------------------


def test_train_with_categories_prints_only_json_and_stores_categories_counts_and_seen_names(conditional, workdir):
    records = [json.loads(line) for line in conditional.stdout.splitlines()]
    assert len(records) == 40 and all("val_ppl" in r for r in records)
    assert "batch/s" not in conditional.stderr  # no progress bar: --json, and stderr is not a terminal
    meta = read_metadata(workdir / "cond.safetensors")
    assert meta["config"]["categories"] == ["a", "b"]
    train, val = charrnn.split(Labelled.from_lists({"a": A_NAMES, "b": B_NAMES}), val_fraction=0.1, seed=0)
    train, val, _ = charrnn.data.move_unseen_to_train(train, val)
    assert meta["config"]["category_counts"] == list(train.counts().values())  # the prior: training counts
    assert "seen_items" in meta
    model = charrnn.load(workdir / "cond.safetensors")
    assert model.categories == ("a", "b") and model.category_dim == 8


def test_train_log_holds_every_evaluation(conditional, workdir):
    lines = [json.loads(line) for line in (workdir / "run.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["event"] == "start"
    assert [e["epoch"] for e in lines[1:]] == list(range(1, 41))


def test_train_human_output_shows_categories_and_samples_per_category(workdir):
    result = run(
        "train", "--category", "a=a.txt", "--category", "b=b.txt", "--epochs", "1", *SMALL,
        "--samples", "2", "--out", "h.safetensors", "--no-progress", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "categories (train/val items): a 9/1, b 10/0" in result.stdout  # Бетти's "т" is moved to train
    assert sum(line.strip().startswith("[a]") for line in result.stdout.splitlines()) == 2
    assert sum(line.strip().startswith("[b]") for line in result.stdout.splitlines()) == 2


def test_train_with_a_preset_uses_the_bundled_lists(workdir):
    result = run(
        "train", "--preset", "ru-first-by-gender", "--max-steps", "2", *SMALL, "--samples", "0",
        "--out", "preset.safetensors", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the ru-first-by-gender preset (696 test names held out" in result.stdout
    # 90% of each category is left after the test names, 10% of that validates (2 moved back: unseen characters)
    assert "male 3,911/433, female 1,725/192" in result.stdout, result.stdout
    assert charrnn.load(workdir / "preset.safetensors").categories == ("male", "female")


def test_a_conditional_run_resumes_with_its_categories(workdir):
    args = [
        "train",
        "--category",
        "a=a.txt",
        "--category",
        "b=b.txt",
        *SMALL,
        "--out",
        "r.safetensors",
        "--samples",
        "0",
    ]
    first = run(*args, "--max-steps", "2", cwd=workdir)
    assert first.returncode == 0, first.stderr
    resumed = run("train", "--resume", "r.ckpt.safetensors", "--max-steps", "4", "--samples", "0", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert charrnn.load(workdir / "r.safetensors").categories == ("a", "b")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "ru-first-by-gender", "--category", "a=a.txt"], "not both"),
        (["plain.txt", "--category", "a=a.txt"], "not both"),
        (["--category", "a=a.txt", "--val", "b.txt"], "--val-fraction"),
        (["--category", "a=a.txt", "--category", "a=b.txt"], "given twice"),
        (["--category", "a.txt"], "NAME=FILE"),
        (["--category", "a=missing.txt"], "missing.txt"),
        (["--preset", "klingon"], "invalid choice"),
    ],
)
def test_train_refuses_inconsistent_data_options_in_one_line(workdir, args, message):
    result = run("train", *args, "--epochs", "1", "--out", "never.safetensors", cwd=workdir)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) <= 2
    assert not (workdir / "never.safetensors").exists()


# -- sample ----------------------------------------------------------------------------------


def test_sample_by_category(conditional, workdir):
    for category, letter in (("a", "А"), ("b", "Б")):
        result = run(
            "sample", "cond.safetensors", "--category", category, "-n", "20", "--temperature", "0.6", cwd=workdir
        )
        assert result.returncode == 0, result.stderr
        names = result.stdout.splitlines()
        assert len(names) == 20 and sum(n.startswith(letter) for n in names) >= 18


def test_sample_of_a_conditional_model_needs_a_category(conditional, workdir):
    result = run("sample", "cond.safetensors", cwd=workdir)
    assert result.returncode == 2 and "category" in result.stderr and "(a, b)" in result.stderr
    result = run("sample", "cond.safetensors", "--category", "c", cwd=workdir)
    assert result.returncode == 2 and "unknown category 'c'" in result.stderr


def test_sample_novel_gives_only_new_distinct_names_and_counts_the_draws(conditional, workdir):
    result = run(
        "sample", "cond.safetensors", "--category", "a", "--novel", "-n", "8", "--json", "--temperature", "1.0",
        "--seed", "5", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = report["names"]
    assert len(names) == 8 and len(set(names)) == 8
    assert not set(names) & set(A_NAMES + B_NAMES)  # validation names were seen too
    assert report["draws"] == 8 + sum(report["rejected"].values()) and report["complete"] is True
    human = run("sample", "cond.safetensors", "--category", "a", "--novel", "-n", "8", "--seed", "5", cwd=workdir)
    assert human.stdout.splitlines() == names
    assert f"drew {report['draws']} name(s) to find 8" in human.stderr


def test_sample_exclude_and_length_limits(plain, workdir):
    (workdir / "exclude.txt").write_text("Анна\nАлла\n", encoding="utf-8")
    result = run(
        "sample", "plain.safetensors", "-n", "30", "--exclude", "exclude.txt", "--min-len", "4", "--max-len", "5",
        "--seed", "1", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = result.stdout.splitlines()
    assert len(names) == 30 and all(4 <= len(n) <= 5 for n in names) and not {"Анна", "Алла"} & set(names)


def test_sample_that_cannot_find_enough_names_says_so_and_fails(plain, workdir):
    # Near-greedy draws repeat one name: --novel finds at most one new name in 30 draws.
    result = run(
        "sample", "plain.safetensors", "-n", "5", "--novel", "--temperature", "0.01", "--max-draws", "30", cwd=workdir
    )
    assert result.returncode == 1
    assert re.search(r"found only [01] of 5 names in 30 draws", result.stderr), result.stderr
    # A length no name reaches by itself is now met while drawing (a constraint), not given up on.
    long = run("sample", "plain.safetensors", "-n", "5", "--min-len", "40", cwd=workdir)
    assert long.returncode == 0 and all(len(x) >= 40 for x in long.stdout.split())


def test_beam_lists_the_most_likely_completions_with_log_probs(conditional, workdir):
    result = run("sample", "cond.safetensors", "--category", "b", "--prefix", "Бе", "--beam", "4", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == 4 and all(name.startswith("Бе") for name, _ in rows)
    logps = [float(lp) for _, lp in rows]
    assert logps == sorted(logps, reverse=True) and all(lp <= 0 for lp in logps)
    as_json = json.loads(
        run(
            "sample", "cond.safetensors", "--category", "b", "--prefix", "Бе", "--beam", "4", "--json", cwd=workdir
        ).stdout
    )
    assert [c["name"] for c in as_json["completions"]] == [name for name, _ in rows]
    clash = run("sample", "cond.safetensors", "--category", "b", "--beam", "2", "--novel", cwd=workdir)
    assert clash.returncode == 2 and "--novel" in clash.stderr


# -- classify and score ------------------------------------------------------------------------


def test_classify_json_gives_one_object_per_name_in_input_order(conditional, workdir):
    names = ["Бэлла", "Аида", "Бася", "Ариана"]
    result = run("classify", "cond.safetensors", *names, "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["name"] for o in objects] == names
    for o in objects:
        assert set(o["probs"]) == {"a", "b"} and math.isclose(sum(o["probs"].values()), 1.0, rel_tol=1e-9)
    assert [o["category"] for o in objects] == ["b", "a", "b", "a"]
    human = run("classify", "cond.safetensors", "--prior", "uniform", "Аида", cwd=workdir)
    assert human.returncode == 0 and human.stdout.startswith("Аида\ta\t")


def test_classify_needs_a_conditional_model(plain, workdir):
    result = run("classify", "plain.safetensors", "Анна", cwd=workdir)
    assert result.returncode == 2 and "not a conditional model" in result.stderr


def test_score_json_and_sort(plain, workdir):
    result = run("score", "plain.safetensors", "--json", "Алла", "Бнрщ", cwd=workdir)
    assert result.returncode == 2 and "'щ'" in result.stderr  # never seen: an error naming it
    result = run("score", "plain.safetensors", "Аььянн", "--sort", "Алла", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["Алла", "Аььянн"]  # sorted: the typical one first
    for r in rows:
        assert math.isclose(sum(c["log_prob"] for c in r["chars"]), r["log_prob"], abs_tol=1e-9)
        assert r["chars"][-1]["char"] == "</s>"
    model = charrnn.load(workdir / "plain.safetensors")
    assert math.isclose(rows[0]["log_prob"], model.log_prob("Алла"), rel_tol=1e-6)


def test_score_of_a_conditional_model_needs_a_category(conditional, workdir):
    assert run("score", "cond.safetensors", "Ада", cwd=workdir).returncode == 2
    result = run("score", "cond.safetensors", "--category", "a", "Ада", cwd=workdir)
    assert result.returncode == 0 and result.stdout.startswith("Ада\t")


def test_eval_of_a_conditional_model_takes_the_category(conditional, workdir):
    assert run("eval", "cond.safetensors", "a.txt", cwd=workdir).returncode == 2
    a = json.loads(run("eval", "cond.safetensors", "a.txt", "--category", "a", "--json", cwd=workdir).stdout)
    b = json.loads(run("eval", "cond.safetensors", "a.txt", "--category", "b", "--json", cwd=workdir).stdout)
    assert a["items"] == len(A_NAMES) and a["nll"] < b["nll"]  # the a-names are likelier as a-names


# -- export, import, plot ---------------------------------------------------------------------


def test_export_and_import_round_trip(conditional, workdir):
    result = run("export", "cond.safetensors", "--to", "torch", "cond.torch.safetensors", cwd=workdir)
    assert result.returncode == 0, result.stderr
    result = run("import", "cond.torch.safetensors", "--out", "back.safetensors", cwd=workdir)
    assert result.returncode == 0, result.stderr
    a, b = charrnn.load(workdir / "cond.safetensors"), charrnn.load(workdir / "back.safetensors")
    assert a.config == b.config and a.sample(5, category="a", seed=1) == b.sample(5, category="a", seed=1)
    again = run("import", "cond.safetensors", "--out", "x.safetensors", cwd=workdir)
    assert again.returncode == 2 and "already a charrnn model" in again.stderr


def test_import_of_a_plain_state_dict_takes_vocab_and_config_files(conditional, workdir):
    from safetensors.numpy import save_file

    from charrnn.interop import torch_state_dict

    model = charrnn.load(workdir / "cond.safetensors")
    save_file(torch_state_dict(model), str(workdir / "plain_sd.safetensors"))
    (workdir / "vocab.json").write_text(json.dumps(list(model.vocab.chars), ensure_ascii=False), encoding="utf-8")
    (workdir / "config.json").write_text(json.dumps({"categories": ["a", "b"]}), encoding="utf-8")
    missing = run("import", "plain_sd.safetensors", "--out", "y.safetensors", cwd=workdir)
    assert missing.returncode == 2 and "--vocab" in missing.stderr
    result = run(
        "import",
        "plain_sd.safetensors",
        "--vocab",
        "vocab.json",
        "--config",
        "config.json",
        "--out",
        "y.safetensors",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert charrnn.load(workdir / "y.safetensors").sample(3, category="b", seed=2) == model.sample(
        3, category="b", seed=2
    )


def test_plot_writes_a_picture_of_the_log(conditional, workdir):
    pytest.importorskip("matplotlib")
    result = run("plot", "run.jsonl", "--out", "curves.png", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    bad = run("plot", "a.txt", cwd=workdir)
    assert bad.returncode == 2 and "no evaluations" in bad.stderr
