"""Classification by Bayes' rule with a conditional model."""

from __future__ import annotations

import math

import numpy as np
import pytest

import charrnn
from charrnn.classify import accuracy, category_log_likelihoods, classify, log_prior, predict
from charrnn.labelled import Labelled

NAMES = ["Анна", "Борис", "Вера", "Глеб"]


def model_with(counts=None, categories=("m", "f", "x")) -> charrnn.CharRNN:
    vocab = charrnn.Vocab.from_items(NAMES)
    return charrnn.CharRNN(
        vocab, hidden=10, layers=1, embed=4, categories=list(categories), category_dim=2, category_counts=counts, seed=5
    )


def test_posteriors_are_bayes_rule_on_the_model_likelihoods_and_the_training_prior():
    model = model_with(counts=[6, 3, 1])
    post = classify(model, NAMES)
    for name, probs in zip(NAMES, post, strict=True):
        assert list(probs) == ["m", "f", "x"]
        joint = [math.exp(model.log_prob(name, category=c)) * w for c, w in zip("mfx", [0.6, 0.3, 0.1], strict=True)]
        expected = [j / sum(joint) for j in joint]
        assert [probs[c] for c in "mfx"] == pytest.approx(expected, rel=1e-9)
        assert sum(probs.values()) == pytest.approx(1.0)


def test_the_prior_can_be_uniform_or_given_and_defaults_to_uniform_without_counts():
    model = model_with(counts=[6, 3, 1])
    uniform = classify(model, NAMES, prior="uniform")
    like = category_log_likelihoods(model, NAMES)
    expected = np.exp(like - like.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose([[p[c] for c in "mfx"] for p in uniform], expected, rtol=1e-9)
    np.testing.assert_allclose(log_prior(model, {"m": 1, "f": 1, "x": 2}), np.log([0.25, 0.25, 0.5]))
    assert classify(model_with(), NAMES) == classify(model_with(), NAMES, prior="uniform")
    with pytest.raises(ValueError, match="unknown categories"):
        log_prior(model, {"q": 1})
    with pytest.raises(ValueError):
        log_prior(model, "flat")


def test_a_zero_prior_rules_a_category_out():
    model = model_with()
    post = classify(model, NAMES, prior={"m": 1, "f": 1, "x": 0})
    assert all(p["x"] == 0.0 for p in post)
    assert set(predict(model, NAMES, prior={"m": 0, "f": 1, "x": 0})) == {"f"}


def test_long_names_do_not_underflow():
    model = model_with(counts=[1, 1, 1])
    long = "Анна" * 60
    (probs,) = classify(model, [long])
    assert all(math.isfinite(p) for p in probs.values()) and sum(probs.values()) == pytest.approx(1.0)


def test_accuracy_counts_the_names_whose_best_category_is_their_label():
    model = model_with(counts=[1, 1, 1])
    best = predict(model, NAMES)
    data = Labelled(NAMES, [best[0], best[1], "m" if best[2] != "m" else "f", best[3]], ["m", "f", "x"])
    assert accuracy(model, data) == pytest.approx(0.75)


def test_classification_needs_a_conditional_model_and_a_list():
    plain = charrnn.CharRNN(charrnn.Vocab.from_items(NAMES), hidden=8, layers=1, embed=4)
    with pytest.raises(ValueError, match="conditional"):
        classify(plain, NAMES)
    with pytest.raises(TypeError):
        classify(model_with(), "Анна")
    assert classify(model_with(), []) == []
