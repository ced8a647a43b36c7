"""Constraints applied while drawing: every name meets them, a constraint no name can meet
is refused at once, literals are matched literally, and resampling picks draws in
proportion to their weights."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from charrnn import CharRNN, Vocab, _core, train
from charrnn.constraints import NameConstraint, escape, resample
from conftest import TINY_NAMES


@pytest.fixture(scope="module")
def model():
    m = CharRNN(Vocab.from_items(TINY_NAMES), cell="lstm", hidden=16, layers=1, embed=8, seed=0)
    train(m, TINY_NAMES * 4, None, epochs=3, batch_size=8)
    return m


def draw(model, constraint, n=300, seed=0, max_len=12, log_weights=False):
    compiled = constraint.compile(model.vocab, max_len)
    params, _ = model._core_params()
    return _core.sample(
        model.cell,
        params,
        n,
        model.vocab.bos_id,
        model.vocab.eos_id,
        max_len + 1,
        seed=seed,
        banned=[model.vocab.pad_id, model.vocab.bos_id],
        constraint=compiled,
        log_weights=log_weights,
    )


@pytest.mark.parametrize(
    "constraint,check",
    [
        (NameConstraint(ends_with="на"), lambda s: s.endswith("на")),
        (NameConstraint(starts_with="Ма", min_len=5), lambda s: s.startswith("Ма") and len(s) >= 5),
        (NameConstraint(contains=["р", "о"]), lambda s: "р" in s and "о" in s),
        (
            NameConstraint(regex="[АЕИОУЯ].*[аяь]", max_len=6),
            lambda s: re.fullmatch("[АЕИОУЯ].*[аяь]", s) and len(s) <= 6,
        ),
        (NameConstraint(min_len=9, max_len=9), lambda s: len(s) == 9),
    ],
    ids=["ends", "starts+min", "contains", "regex+max", "exact-length"],
)
def test_every_constrained_draw_meets_its_constraint(model, constraint, check):
    names = [model.vocab.decode(ids) for ids in draw(model, constraint)]
    assert len(names) == 300 and all(check(s) for s in names), [s for s in names if not check(s)][:5]
    assert len(set(names)) > 10, "still a distribution, not one name"


def test_a_constraint_no_name_can_meet_is_a_value_error_naming_it(model):
    with pytest.raises(ValueError, match="end with 'щщ'.*no string of 0 to 12 characters"):
        NameConstraint(ends_with="щщ").compile(model.vocab, 12)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        NameConstraint(regex="(а").compile(model.vocab, 12)
    with pytest.raises(ValueError, match="min_len 5 is more than max_len 3"):
        NameConstraint(min_len=5, max_len=3)
    with pytest.raises(TypeError, match="contains"):
        NameConstraint(contains=[3])


def test_literals_are_matched_literally():
    vocab = Vocab.from_items(["a.b+c*(d)|[e]{f}^$#&~-\\"])
    text = "a.b+c*(d)|[e]{f}^$#&~-\\"
    c = NameConstraint(contains=text).compile(vocab, 40)
    assert c.accepts(vocab.encode(text)) and not c.accepts(vocab.encode(text[1:]))
    assert re.fullmatch(escape("a.b"), "a.b") and not re.fullmatch(escape("a.b"), "axb")


def test_the_log_weights_are_the_log_mass_left_and_zero_without_a_constraint(model):
    ids, log_w = draw(model, NameConstraint(ends_with="а"), n=50, log_weights=True)
    assert all(w < 0 for w in log_w), "a constraint that binds removes mass"
    ids, log_w = draw(model, NameConstraint(max_len=12), n=50, log_weights=True)
    assert all(w <= 0 for w in log_w)


def test_resample_picks_in_proportion_to_the_weights():
    groups = 20000
    drawn = [[0], [1]] * groups
    log_w = [np.log(1.0), np.log(3.0)] * groups
    picked = resample(drawn, log_w, 2, seed=4)
    share = sum(p == [1] for p in picked) / groups
    assert abs(share - 0.75) < 0.015, share
    assert picked == resample(drawn, log_w, 2, seed=4), "the same seed, the same picks"
    with pytest.raises(ValueError, match="groups of k=3"):
        resample(drawn, log_w, 3, seed=0)


# -- the Python API and the command line ------------------------------------------------------


def test_model_sample_meets_constraints_and_without_them_draws_as_before(model):
    plain = model.sample(20, seed=3)
    assert model.sample(20, seed=3, max_len=50) == plain, "no constraint: the same names for the same seed"
    names = model.sample(50, seed=3, ends_with="а", min_len=4, max_len=7)
    assert all(s.endswith("а") and 4 <= len(s) <= 7 for s in names), names
    again = model.sample(50, seed=3, ends_with="а", min_len=4, max_len=7)
    assert again == names, "constrained draws are seeded too"
    with_prefix = model.sample(20, seed=1, prefix="А", ends_with="на")
    assert all(s.startswith("А") and s.endswith("на") for s in with_prefix)


def test_resampling_keeps_the_constraint_and_is_seeded(model):
    names = model.sample(30, seed=5, contains="р", resample=8)
    assert all("р" in s for s in names)
    assert names == model.sample(30, seed=5, contains="р", resample=8)


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("constraints") / "names.safetensors"
    model.save(path)
    return path


def run_cli(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "charrnn", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_sample_command_takes_the_constraint_options(model_file):
    out = run_cli("sample", model_file, "-n", 12, "--ends-with", "на", "--min-len", 5, "--max-len", 8, "--seed", 2)
    assert out.returncode == 0, out.stderr
    names = out.stdout.split()
    assert len(names) == 12 and all(s.endswith("на") and 5 <= len(s) <= 8 for s in names), names
    out = run_cli("sample", model_file, "-n", 3, "--regex", "[АЕИОУЯ].*", "--translit", "icao", "--json")
    record = json.loads(out.stdout)
    assert all(re.fullmatch("[АЕИОУЯ].*", s) for s in record["names"])
    assert len(record["latin"]) == 3 and all(s.isascii() for s in record["latin"]) and record["translit"] == "icao"


def test_an_impossible_constraint_on_the_command_line_is_one_error_line(model_file):
    out = run_cli("sample", model_file, "--ends-with", "щщ")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "charrnn: error: names that end with 'щщ': no string of 0 to 50 characters made of the model's characters "
        "meets the constraint"
    ]
    out = run_cli("sample", model_file, "--beam", 3, "--ends-with", "а")
    assert out.returncode == 2 and "--ends-with" in out.stderr
