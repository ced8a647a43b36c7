"""Sampling: reproducible from the seed, prefix honoured, greedy top_k=1, length cap,
markers never drawn, and clear errors for bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charrnn import UnknownCharacterError, _core
from charrnn import reference as R
from conftest import make_model


@pytest.fixture(scope="module")
def model():
    return make_model("lstm", hidden=24, layers=2, seed=5)


def test_same_seed_gives_the_same_names(model):
    assert model.sample(n=20, seed=42) == model.sample(n=20, seed=42)


def test_different_seeds_give_different_names(model):
    assert model.sample(n=20, seed=1) != model.sample(n=20, seed=2)


def test_sample_returns_n_strings_of_vocabulary_characters(model):
    names = model.sample(n=13, seed=0)
    assert len(names) == 13
    assert all(isinstance(s, str) and set(s) <= set(model.vocab.chars) for s in names)


def test_seed_none_draws_fresh_seeds_reproducibly_from_the_model_seed():
    a, b = make_model(seed=9), make_model(seed=9)
    first, second = a.sample(n=10), a.sample(n=10)
    assert first != second
    assert [b.sample(n=10), b.sample(n=10)] == [first, second]


def test_prefix_starts_every_name(model):
    names = model.sample(n=15, prefix="Ан", seed=3)
    assert all(name.startswith("Ан") for name in names)
    assert len(set(names)) > 1


def test_prefix_outside_the_vocabulary_raises_unknown_character(model):
    with pytest.raises(UnknownCharacterError, match=r"U\+0051"):
        model.sample(prefix="Q")


def greedy_reference(model, prefix: str, max_len: int) -> str:
    """Argmax decoding with the numpy reference (pad and bos excluded), step by step."""
    p = [np.asarray(a, dtype=np.float64) for a in model.params_list()]
    L = model.layers
    ids = [model.vocab.bos_id] + model.vocab.encode(prefix)
    out = list(ids[1:])
    while len(out) < max_len:
        x = p[0][np.array(ids)][:, None, :]
        for k in range(L):
            h0 = np.zeros((1, model.hidden))
            x, _, _, _ = R.layer_forward(
                model.cell,
                x,
                np.array([len(ids)]),
                *p[1 + 4 * k : 5 + 4 * k],
                h0,
                h0 if model.cell == "lstm" else None,
            )
        logits = x[-1, 0] @ p[-2].T + p[-1]
        logits[[model.vocab.pad_id, model.vocab.bos_id]] = -np.inf
        nxt = int(np.argmax(logits))
        if nxt == model.vocab.eos_id:
            break
        out.append(nxt)
        ids.append(nxt)
    return model.vocab.decode(out)


def test_top_k_1_is_greedy_whatever_the_seed_or_temperature(model):
    greedy = model.sample(n=4, top_k=1, seed=0, prefix="Ма", max_len=12)
    assert len(set(greedy)) == 1
    assert model.sample(n=2, top_k=1, seed=123, temperature=1.7, prefix="Ма", max_len=12) == greedy[:2]
    assert greedy[0] == greedy_reference(model, "Ма", 12)


@pytest.mark.parametrize("max_len", [1, 3, 7])
def test_max_len_caps_the_total_length_prefix_included(max_len):
    model = make_model("rnn", seed=2)  # untrained: ends rarely, so names run to the cap
    names = model.sample(n=30, seed=0, max_len=max_len)
    assert all(len(s) <= max_len for s in names)
    assert max(len(s) for s in names) == max_len
    with_prefix = model.sample(n=30, seed=0, max_len=max_len, prefix="А")
    assert all(len(s) <= max_len and s.startswith("А") for s in with_prefix)


def test_prefix_as_long_as_max_len_is_returned_alone_and_longer_is_an_error(model):
    assert model.sample(n=2, prefix="Анна", max_len=4, seed=0) == ["Анна", "Анна"]
    with pytest.raises(ValueError, match="max_len"):
        model.sample(prefix="Анна", max_len=3)


@pytest.mark.parametrize("temperature", [0, -1.0, math.nan, math.inf])
def test_temperature_must_be_positive(model, temperature):
    with pytest.raises(ValueError, match="temperature"):
        model.sample(temperature=temperature)


@pytest.mark.parametrize(
    "kwargs,word",
    [({"top_k": 0}, "top_k"), ({"n": 0}, "n"), ({"max_len": 0}, "max_len"), ({"seed": -1}, "seed")],
)
def test_other_bad_arguments_raise_value_error(model, kwargs, word):
    with pytest.raises(ValueError, match=word):
        model.sample(**kwargs)


def test_kernel_sampler_never_draws_banned_ids_or_returns_the_end_id(model):
    drawn = _core.sample(model.cell, model.params_list(), 50, 1, 2, 20, seed=4, banned=[0, 1])
    assert len(drawn) == 50
    flat = [i for seq in drawn for i in seq]
    assert flat and not {0, 1, 2} & set(flat)
    assert all(len(seq) <= 20 for seq in drawn)


def test_low_temperature_concentrates_on_likely_names():
    model = make_model("lstm", hidden=24, seed=5)
    model.params["fc.weight"] *= 8  # a peaked distribution, like a trained model's
    hot = model.sample(n=200, temperature=2.0, seed=0, max_len=3)
    cold = model.sample(n=200, temperature=0.2, seed=0, max_len=3)
    assert len(set(cold)) < len(set(hot))
    assert np.mean([model.log_prob(s) / (len(s) + 1) for s in cold]) > np.mean(
        [model.log_prob(s) / (len(s) + 1) for s in hot]
    )


def test_tiny_top_p_keeps_only_the_most_likely_character_so_it_is_greedy(model):
    greedy = model.sample(n=3, top_k=1, seed=0, prefix="Ма", max_len=12)
    assert model.sample(n=3, top_p=1e-6, seed=77, prefix="Ма", max_len=12) == greedy


def test_top_p_of_one_is_plain_sampling(model):
    assert model.sample(n=10, top_p=1.0, seed=4) == model.sample(n=10, seed=4)


@pytest.mark.parametrize("top_p", [0.0, -0.5, 1.5, math.nan])
def test_top_p_must_be_in_0_1(model, top_p):
    with pytest.raises(ValueError, match="top_p"):
        model.sample(top_p=top_p)
