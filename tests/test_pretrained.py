"""The pretrained models shipped in the package: every command and charrnn.load take their
names, charrnn models lists them with figures that are true of the files, the generators
write names of their kind and gender, the classifiers beat the а/я rule on held-out names
with calibrated probabilities, and charrnn person can draw from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn.classify import ending_rule, evaluate_classifier, reliability
from charrnn.counted import counted_split
from charrnn.pretrained import resolve_model, shipped_models

GENERATORS = [
    "ru-first-male",
    "ru-first-female",
    "ru-patronymic-male",
    "ru-patronymic-female",
    "ru-surname-male",
    "ru-surname-female",
]
CLASSIFIERS = ["ru-first-by-gender", "ru-names-by-kind"]


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "charrnn", "--threads", "1", *args], cwd=cwd, capture_output=True, text=True
    )


def test_every_model_is_shipped_with_its_file_and_figures():
    models = shipped_models()
    assert set(models) == set(GENERATORS + CLASSIFIERS)
    for name, m in models.items():
        assert os.path.getsize(m["path"]) == m["bytes"]
        model = charrnn.pretrained(name)
        assert model.num_params == m["params"] and (model.cell, model.hidden, model.layers) == ("lstm", 128, 1)
        assert (model.categories is not None) == (name in CLASSIFIERS)
        assert m["bytes"] < 400_000  # small enough for the wheel


@pytest.mark.parametrize("name", ["ru-first-female", "ru-patronymic-male"])
def test_the_recorded_validation_nll_is_the_models_own(name):
    """models.json's figures are re-measured from the model and the same split."""
    m = shipped_models()[name]
    data = charrnn.datasets.russiannames(m["kind"], m["gender"], min_count=int(m["data"].rsplit(">= ", 1)[1]))
    _, val = counted_split(data, 0.1, 0)
    model = charrnn.pretrained(name)
    assert model.evaluate(val.items)["nll"] == pytest.approx(m["val_nll"], abs=1e-4)
    lp = model.log_probs(val.items)
    chars = np.array([len(x) + 1 for x in val.items])
    w = np.array(val.counts, dtype=np.float64)
    assert -(w @ lp) / (w @ chars) == pytest.approx(m["val_nll_weighted"], abs=1e-4)


def test_generators_write_names_of_their_kind_and_gender():
    female = charrnn.load("ru-first-female").sample(300, seed=1)
    assert np.mean([ending_rule(n) == "female" for n in female]) > 0.85
    male = charrnn.load("ru-first-male").sample(300, seed=1)
    assert np.mean([ending_rule(n) == "male" for n in male]) > 0.85
    assert (
        np.mean(
            [
                n.endswith("вна") or n.endswith("чна") or n.endswith("ична")
                for n in charrnn.pretrained("ru-patronymic-female").sample(300, seed=1)
            ]
        )
        > 0.85
    )
    assert (
        np.mean([n.endswith(("ич", "ыч")) for n in charrnn.pretrained("ru-patronymic-male").sample(300, seed=1)]) > 0.85
    )
    surnames = charrnn.pretrained("ru-surname-female").sample(300, seed=1)
    assert np.mean([n.endswith(("а", "я", "о", "ко", "их", "ых")) or n[-1] not in "вн" for n in surnames]) > 0.85


def test_a_file_wins_over_a_shipped_name_and_unknown_names_are_refused(tmp_path):
    assert resolve_model("ru-first-female") == shipped_models()["ru-first-female"]["path"]
    own = tmp_path / "ru-first-female"
    charrnn.pretrained("ru-first-male").save(own)
    os.chdir(tmp_path)
    try:
        assert resolve_model("ru-first-female") == "ru-first-female"
        assert charrnn.load("ru-first-female").vocab == charrnn.pretrained("ru-first-male").vocab
    finally:
        os.chdir("/")
    with pytest.raises(FileNotFoundError, match="not a model shipped with charrnn.*ru-first-female"):
        charrnn.load("ru-frist-female")
    with pytest.raises(FileNotFoundError, match="not a model shipped"):
        charrnn.pretrained(str(own))  # pretrained() takes names only
    with pytest.raises(FileNotFoundError):
        charrnn.load(tmp_path / "missing.safetensors")


def test_every_command_takes_a_shipped_name(tmp_path):
    r = cli("sample", "ru-first-female", "-n", "5", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == charrnn.load("ru-first-female").sample(5, seed=3)
    r = cli("classify", "ru-first-by-gender", "Гульназ", "Никита", "Анна", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["name"] for x in rows] == ["Гульназ", "Никита", "Анна"]
    assert all(abs(sum(x["probs"].values()) - 1) < 1e-9 for x in rows)
    (tmp_path / "names.txt").write_text("Анна\nМария\n", "utf-8")
    for args in (
        ["eval", "ru-first-female", str(tmp_path / "names.txt")],
        ["score", "ru-first-female", "Анна"],
        ["export", "ru-first-female", "--out", str(tmp_path / "e.pt")],
    ):
        r = cli(*args)
        assert "not a model shipped" not in r.stderr and "No such file" not in r.stderr, (args, r.stderr)
    r = cli("sample", "ru-frist-female")
    assert r.returncode != 0 and "not a model shipped" in r.stderr and "Traceback" not in r.stderr


def test_charrnn_models_lists_them_with_sizes_and_nll():
    r = cli("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert set(rows) == set(GENERATORS + CLASSIFIERS)
    for name, row in rows.items():
        assert row["bytes"] == shipped_models()[name]["bytes"] and row["val_nll"] > 0
        assert ("val_nll_weighted" in row) == (name in GENERATORS)
    r = cli("models")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == len(rows) and "ru-first-by-gender" in r.stdout


def test_reliability_bins_and_ece_by_hand():
    table = reliability(np.array([0.95, 0.95, 0.55, 0.65]), np.array([1, 0, 1, 1]), bins=10)
    assert [b["n"] for b in table["bins"]] == [1, 1, 2]
    # bins: 0.5-0.6 (conf .55, acc 1), 0.6-0.7 (.65, 1), 0.9-1.0 (.95, .5)
    assert table["ece"] == pytest.approx((0.45 + 0.35 + 2 * 0.45) / 4)
    assert reliability(np.array([1.0]), np.array([True]))["bins"][0]["high"] == 1.0
    with pytest.raises(ValueError):
        reliability(np.array([]), np.array([]))


def test_the_ending_rule():
    assert [ending_rule(n) for n in ["Анна", "Мария", "Иван", "Никита", "Гульназ", "Любовь"]] == [
        "female",
        "female",
        "male",
        "female",
        "male",
        "male",
    ]


def test_the_gender_classifier_beats_the_ending_rule_on_held_out_names():
    test = charrnn.datasets.preset_split("ru-first-by-gender")[2]
    train, val, _ = charrnn.datasets.preset_split("ru-first-by-gender")
    assert not set(test) & (set(train) | set(val))  # unseen names
    report = evaluate_classifier(charrnn.pretrained("ru-first-by-gender"), test)
    assert report["items"] == len(test) == 696
    assert report["accuracy"] > report["ending_rule_accuracy"] + 0.02
    assert report["ece"] < 0.06
    assert sum(b["n"] for b in report["reliability"]) == len(test)


def test_the_kind_classifier_on_held_out_names():
    test = charrnn.datasets.preset_split("ru-names-by-kind")[2]
    report = evaluate_classifier(charrnn.pretrained("ru-names-by-kind"), test)
    assert report["accuracy"] > 0.85 and report["ece"] < 0.08
    assert set(report["per_category"]) == {"first", "patronymic", "surname"}
    assert "ending_rule_accuracy" not in report


def test_classify_evaluate_on_a_preset_and_a_file(tmp_path):
    r = cli("classify", "ru-first-by-gender", "--evaluate", "ru-first-by-gender", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report == json.loads(
        json.dumps(
            evaluate_classifier(
                charrnn.pretrained("ru-first-by-gender"), charrnn.datasets.preset_split("ru-first-by-gender")[2]
            )
        )
    )
    r = cli("classify", "ru-first-by-gender", "--evaluate", "ru-first-by-gender")
    assert "the а/я rule" in r.stdout and "expected calibration error" in r.stdout
    (tmp_path / "l.tsv").write_text("Гульназ\tfemale\nНикита\tmale\nАнна\tfemale\n", "utf-8")
    r = cli("classify", "ru-first-by-gender", "--evaluate", str(tmp_path / "l.tsv"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["items"] == 3
    (tmp_path / "bad.tsv").write_text("Гульназ\n", "utf-8")
    r = cli("classify", "ru-first-by-gender", "--evaluate", str(tmp_path / "bad.tsv"))
    assert r.returncode != 0 and "name<TAB>category" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "other.tsv").write_text("Гульназ\tsurname\n", "utf-8")
    r = cli("classify", "ru-first-by-gender", "--evaluate", str(tmp_path / "other.tsv"))
    assert r.returncode != 0 and "not categories of the model" in r.stderr


def test_person_from_the_models_agrees_in_gender():
    from charrnn.names.person import ModelSource, people

    source = ModelSource()
    crowd = list(people(40, gender="female", seed=5, source=source))
    assert [p.as_dict() for p in crowd] == [
        p.as_dict() for p in people(40, gender="female", seed=5, source=ModelSource())
    ]
    assert all(p.patronymic.endswith("на") for p in crowd)
    assert np.mean([ending_rule(p.first) == "female" for p in crowd]) > 0.8
    r = cli("person", "-n", "3", "--source", "model", "--gender", "male", "--json")
    assert r.returncode == 0, r.stderr
    assert all(json.loads(x)["gender"] == "male" for x in r.stdout.splitlines())
    r = cli("person", "-n", "3", "--source", "table", "--json")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
