"""charrnn.mixture: the network's and the n-gram's probabilities mixed, and charrnn ngram --mix."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import charrnn
from charrnn import mixture
from charrnn.data import training_split
from charrnn.ngram import NGram

_ALL = charrnn.datasets.russian_names("first")
NAMES = [_ALL[i] for i in np.random.default_rng(0).permutation(len(_ALL))[:400]]


@pytest.fixture(scope="module")
def models():
    train, val, _ = training_split(NAMES, None, 0.25, 0)  # moves names with unseen letters to train
    net = charrnn.CharRNN(charrnn.Vocab.from_items(NAMES), hidden=24, embed=8, seed=0)
    charrnn.train(net, train, val, epochs=12, batch_size=16, lr=1e-2)
    return net, NGram.fit(train, order=4), val


def test_the_two_ends_of_the_mixture_are_the_two_models(models):
    net, counts, val = models
    p_net, p_ngram = mixture.network_position_probs(net, val), mixture.ngram_position_probs(counts, val)
    assert p_net.shape == p_ngram.shape == (sum(len(v) + 1 for v in val),)
    assert mixture.mixture_nll(p_net, p_ngram, 1.0) == pytest.approx(net.evaluate(val)["nll"], rel=1e-5)
    assert mixture.mixture_nll(p_net, p_ngram, 0.0) == pytest.approx(counts.nll(val), rel=1e-9)
    # Per name, the network's probabilities multiply to its log_probs.
    per_name = np.split(np.log(p_net), np.cumsum([len(v) + 1 for v in val])[:-1])
    np.testing.assert_allclose([x.sum() for x in per_name], net.log_probs(val), rtol=1e-5)


def test_the_fitted_weight_is_the_best_on_a_grid_and_beats_both_ends(models):
    net, counts, val = models
    p_net, p_ngram = mixture.network_position_probs(net, val), mixture.ngram_position_probs(counts, val)
    w = mixture.fit_weight(p_net, p_ngram)
    grid = np.linspace(0, 1, 201)
    best = grid[np.argmin([mixture.mixture_nll(p_net, p_ngram, g) for g in grid])]
    assert abs(w - best) <= 0.006
    assert mixture.mixture_nll(p_net, p_ngram, w) <= min(mixture.mixture_nll(p_net, p_ngram, e) for e in (0.0, 1.0))


def test_evaluate_cross_fits_and_is_never_worse_than_the_weighted_mean(models):
    net, counts, val = models
    r = mixture.evaluate(net, counts, val)
    assert 0 < r["weight"] < 1 and len(r["weights"]) == 2
    assert r["mixture_nll"] < max(r["network_nll"], r["ngram_nll"])
    assert r["network_nll"] == pytest.approx(net.evaluate(val)["nll"], rel=1e-5)


def test_position_weights_are_each_positions_best_and_evaluate_cross_fits_them(models):
    net, counts, val = models
    p_net, p_ngram = mixture.network_position_probs(net, val), mixture.ngram_position_probs(counts, val)
    where = mixture.positions(val)
    assert where.shape == p_net.shape and where[0] == 0 and where[len(val[0])] == len(val[0])  # the end marker
    weights = mixture.fit_position_weights(p_net, p_ngram, where, buckets=4)
    assert weights.shape == (4,)
    for b, w in enumerate(weights):  # each the best weight of its own positions
        at = np.minimum(where, 3) == b
        assert w == mixture.fit_weight(p_net[at], p_ngram[at])
    # Fitted on these positions, one weight each is at least as good as one for all.
    one = mixture.fit_weight(p_net, p_ngram)
    assert mixture.position_mixture_nll(p_net, p_ngram, where, weights) <= mixture.mixture_nll(p_net, p_ngram, one)
    assert mixture.position_mixture_nll(p_net, p_ngram, where, np.full(4, one)) == pytest.approx(
        mixture.mixture_nll(p_net, p_ngram, one)
    )
    # A position no item reaches gets the weight of all positions.
    assert mixture.fit_position_weights(p_net, p_ngram, where, buckets=60)[-1] == one
    r = mixture.evaluate(net, counts, val)
    assert len(r["position_weights"]) == mixture.POSITIONS
    assert r["position_mixture_nll"] < max(r["network_nll"], r["ngram_nll"])


def test_bad_mixtures_are_value_errors(models):
    net, counts, val = models
    with pytest.raises(ValueError, match="weight"):
        mixture.mixture_nll(np.ones(3), np.ones(3), 1.5)
    with pytest.raises(ValueError, match="same positions"):
        mixture.mixture_nll(np.ones(3), np.ones(4), 0.5)
    with pytest.raises(ValueError, match="at least 2"):
        mixture.evaluate(net, counts, val[:1])
    text = NGram.fit("abc abc abd", order=2, mode="text")
    with pytest.raises(ValueError, match="names-mode"):
        mixture.ngram_position_probs(text, ["abc"])


def test_cli_mix_reports_the_mixture_in_its_json(tmp_path, models):
    net, _, _ = models
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    net.save(tmp_path / "m.safetensors")
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "charrnn", *a], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    r = run("ngram", "names.txt", "--order", "4", "--mix", "m.safetensors", "--json")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert 0 < record["mix_weight"] < 1
    assert record["mix_val_nll"] < max(record["val_nll"], record["network_val_nll"])
    assert len(record["mix_position_weights"]) == mixture.POSITIONS
    assert record["mix_position_val_nll"] < max(record["val_nll"], record["network_val_nll"])
    bad = run("ngram", "names.txt", "--mode", "text", "--mix", "m.safetensors")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    missing = run("ngram", "names.txt", "--mix", "nope.safetensors")
    assert (
        missing.returncode != 0 and "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    )
