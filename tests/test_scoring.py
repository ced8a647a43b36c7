"""Scores: per-character log-probabilities that add up to the name's log-probability."""

from __future__ import annotations

import numpy as np
import pytest

import charrnn
from charrnn import reference
from charrnn.scoring import next_char_log_probs, score
from conftest import TINY_NAMES, make_model


def reference_log_softmax(model: charrnn.CharRNN, text: str, category=None) -> np.ndarray:
    """``[len + 1, V]`` log-probabilities of the next id after BOS + ``text[:t]``, computed
    by the plain numpy reference layers (an independent oracle)."""
    p = {name: value.astype(np.float64) for name, value in model.params.items()}
    ids = [model.vocab.bos_id] + model.vocab.encode(text)
    x = p["embedding.weight"][ids][:, None, :]  # [T, 1, E]
    if model.categories is not None:
        c = p["category.weight"][category]
        x = np.concatenate([x, np.broadcast_to(c, (len(ids), 1, c.size))], axis=2)
    lengths = np.array([len(ids)], np.int32)
    h0 = np.zeros((1, model.hidden))
    for k in range(model.layers):
        w = [p[f"rnn.{kind}_l{k}"] for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        x, _, _, _ = reference.layer_forward(
            model.cell, x, lengths, *w, h0, h0 if model.cell == "lstm" else None, dtype=np.float64
        )
    logits = x[:, 0, :] @ p["fc.weight"].T + p["fc.bias"]
    return (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )


def test_per_character_log_probs_add_up_to_the_log_prob_of_the_name(cell):
    model = make_model(cell, seed=4)
    scores = score(model, ["Анна", "Ёжик", "Max"])
    for s in scores:
        assert s.chars[-1] == "</s>" and len(s.log_probs) == len(s.name) + 1
        assert sum(s.log_probs) == pytest.approx(s.total, abs=1e-9)
        assert s.total == pytest.approx(model.log_prob(s.name), rel=1e-6)
        assert all(p <= 0 for p in s.log_probs)
        assert s.mean == pytest.approx(s.total / (len(s.name) + 1))


def test_per_character_log_probs_are_the_model_distribution_at_each_step(cell):
    model = make_model(cell, seed=6)
    (s,) = score(model, ["Фёдор"])
    table = next_char_log_probs(model, "Фёдор")
    np.testing.assert_allclose(np.exp(table).sum(axis=1), 1.0, rtol=1e-5)
    next_ids = model.vocab.encode("Фёдор") + [model.vocab.eos_id]
    np.testing.assert_allclose(table[np.arange(len(next_ids)), next_ids], s.log_probs, atol=1e-5)
    np.testing.assert_allclose(table, reference_log_softmax(model, "Фёдор"), atol=1e-4)


def test_conditional_scores_depend_on_the_category():
    vocab = charrnn.Vocab.from_items(TINY_NAMES)
    model = charrnn.CharRNN(vocab, hidden=8, layers=1, embed=4, categories=["a", "b"], category_dim=2, seed=1)
    a, b = score(model, ["Анна"], category="a")[0], score(model, ["Анна"], category="b")[0]
    assert a.category == "a" and a.total != b.total
    assert a.total == pytest.approx(model.log_prob("Анна", category="a"), rel=1e-6)
    np.testing.assert_allclose(next_char_log_probs(model, "Ян", "b"), reference_log_softmax(model, "Ян", 1), atol=1e-4)
    with pytest.raises(ValueError, match="conditional"):
        score(model, ["Анна"])


def test_score_to_dict_is_json_friendly():
    (s,) = score(make_model(), ["Яна"])
    d = s.to_dict()
    assert d["name"] == "Яна" and [c["char"] for c in d["chars"]] == ["Я", "н", "а", "</s>"]
    assert d["log_prob"] == s.total and d["mean_log_prob"] == s.mean


def test_unknown_characters_are_an_error_naming_them():
    with pytest.raises(charrnn.UnknownCharacterError, match="'Щ'"):
        score(make_model(), ["Щука"])
