"""New names only, length limits, and beam search."""

from __future__ import annotations

import itertools

import pytest

import charrnn
from charrnn.sampling import SeenNames, sample_filtered
from charrnn.scoring import score
from conftest import TINY_NAMES, make_model


@pytest.fixture(scope="module")
def trained() -> charrnn.CharRNN:
    model = make_model("lstm", hidden=24, layers=1, embed=8, seed=1)
    charrnn.train(model, TINY_NAMES, epochs=40, batch_size=8, lr=0.01, seed=0, log_every=None)
    return model


def test_novel_names_are_new_and_distinct_and_the_draws_are_counted(trained):
    result = sample_filtered(trained, 15, exclude=TINY_NAMES, unique=True, seed=2, temperature=0.8)
    assert result.complete and len(result.names) == 15
    assert len(set(result.names)) == 15 and not set(result.names) & set(TINY_NAMES)
    # Every draw is either kept or rejected for a stated reason.
    assert result.draws == 15 + sum(result.rejected.values())
    # A model trained this long mostly repeats its training names: the filter had work to do.
    assert result.rejected.get("excluded", 0) > 0
    again = sample_filtered(trained, 15, exclude=SeenNames.from_items(TINY_NAMES), unique=True, seed=2, temperature=0.8)
    assert again.names == result.names and again.draws == result.draws


def never_ending_model() -> charrnn.CharRNN:
    """A model that (almost) never draws the end marker."""
    model = make_model(seed=2)
    model.params["fc.bias"][model.vocab.eos_id] = -60.0
    return model


def test_length_limits_reject_rather_than_cut(trained):
    # min_len is a constraint met while drawing (charrnn.constraints): nothing is too short.
    result = sample_filtered(trained, 20, min_len=5, max_len=6, seed=3, temperature=1.2)
    assert result.complete and all(5 <= len(n) <= 6 for n in result.names)
    assert result.rejected.get("too_short", 0) == 0 and result.draws == 20
    # A model that never ends a name: plain sampling cuts at max_len, the filter keeps none.
    endless = never_ending_model()
    assert all(len(n) == 5 for n in endless.sample(10, max_len=5, seed=0))
    result = sample_filtered(endless, 3, max_len=5, max_draws=40, seed=0)
    assert result.names == [] and result.rejected == {"too_long": 40}


def test_without_exclusions_repeats_are_allowed(trained):
    result = sample_filtered(trained, 30, seed=0, temperature=0.5)
    assert len(set(result.names)) < 30 and result.draws == 30


def test_giving_up_is_reported_not_hidden(trained):
    result = sample_filtered(trained, 5, exclude=TINY_NAMES, unique=True, max_draws=20, seed=0, temperature=0.1)
    # Near-greedy sampling of a model that learnt its list: few or no new names in 20 draws.
    assert not result.complete and result.draws == 20
    assert len(result.names) + sum(result.rejected.values()) == 20


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"min_len": 0}, {"max_len": 0}, {"min_len": 5, "max_len": 4}, {"max_draws": 2, "n": 3}]
)
def test_bad_filter_options_are_refused(kwargs):
    kwargs = {"n": 3, **kwargs}
    with pytest.raises(ValueError):
        sample_filtered(make_model(), **kwargs)


def test_seen_names_round_trip_through_checkpoint_metadata():
    seen = SeenNames.from_items(TINY_NAMES)
    back = SeenNames.from_metadata(seen.to_metadata())
    assert len(back) == len(set(TINY_NAMES))
    assert all(name in back for name in TINY_NAMES)
    assert "Анна" in back and "Аннa" not in back  # a Latin "a"
    assert "Пётр" in back and "Пе\u0308тр" in back  # NFC-normalised
    with pytest.raises(ValueError):
        SeenNames.from_metadata('{"hash": "md5", "count": 0, "data": ""}')


# -- beam search ---------------------------------------------------------------------------

TWO_LETTERS = ["аб", "ба", "а", "бб", "аба", "баб"]


def all_completions(prefix: str, alphabet: str, max_len: int):
    for k in range(0, max_len - len(prefix) + 1):
        for tail in itertools.product(alphabet, repeat=k):
            yield prefix + "".join(tail)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_beam_search_wide_enough_is_the_exact_top_k(cell):
    vocab = charrnn.Vocab.from_items(TWO_LETTERS)
    model = charrnn.CharRNN(vocab, cell=cell, hidden=6, layers=1, embed=3, seed=7)
    prefix, max_len = "а", 4
    # log p(completion | prefix) = log p(name) - log p(prefix's characters)
    candidates = list(all_completions(prefix, "аб", max_len))
    (p,) = score(model, [prefix])
    prefix_logp = sum(p.log_probs[: len(prefix)])
    exact = sorted(((s.name, s.total - prefix_logp) for s in score(model, candidates)), key=lambda x: -x[1])
    found = model.beam_search(prefix, beam=len(candidates), max_len=max_len)
    assert [n for n, _ in found[:5]] == [n for n, _ in exact[:5]]
    for (_n1, l1), (_n2, l2) in zip(found[:5], exact[:5], strict=True):
        assert l1 == pytest.approx(l2, abs=1e-4)
    assert [lp for _, lp in found] == sorted((lp for _, lp in found), reverse=True)


def test_beam_search_respects_max_len_category_and_determinism():
    vocab = charrnn.Vocab.from_items(TINY_NAMES)
    model = charrnn.CharRNN(vocab, hidden=8, layers=1, embed=4, categories=["a", "b"], category_dim=2, seed=3)
    a = model.beam_search("Ан", beam=4, max_len=6, category="a")
    assert len(a) == 4 and all(n.startswith("Ан") and len(n) <= 6 for n, _ in a)
    assert a == model.beam_search("Ан", beam=4, max_len=6, category="a")
    assert a != model.beam_search("Ан", beam=4, max_len=6, category="b")
    with pytest.raises(ValueError, match="conditional"):
        model.beam_search("Ан", beam=2)
    with pytest.raises(ValueError):
        model.beam_search("Анна", beam=2, max_len=3, category="a")
