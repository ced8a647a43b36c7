"""A model mixed with an n-gram (charrnn.mixture.Mixture): the Rust n-gram is the Python
one, scores are the mixture's, the sampler draws from the mixture (and is the network's
own where the weights are 1), the mixture travels in the model file, and `charrnn train
--mix` makes one that `charrnn eval`/`score`/`sample` use."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from safetensors.numpy import save as serialize

import charrnn
from charrnn import _core, mixture
from charrnn.checkpoint import _digest, _read
from charrnn.data import training_split
from charrnn.errors import CheckpointError
from charrnn.ngram import NGram
from charrnn.scoring import next_char_log_probs, score
from charrnn.vocab import BOS, EOS
from test_cli import bad, run

_ALL = charrnn.datasets.russian_names("first")
NAMES = [_ALL[i] for i in np.random.default_rng(1).permutation(len(_ALL))[:400]]


@pytest.fixture(scope="module")
def parts():
    train, val, _ = training_split(NAMES, None, 0.25, 0)
    net = charrnn.CharRNN(charrnn.Vocab.from_items(train), hidden=24, embed=8, seed=0)
    charrnn.train(net, train, val, epochs=6, batch_size=16, lr=1e-2)
    return net, NGram.fit(train, order=4, vocab=net.vocab), train, val


def mixed(net, ngram, weights):
    """A copy of ``net`` mixed with ``ngram`` at ``weights``."""
    other = charrnn.CharRNN(net.vocab, hidden=net.hidden, layers=net.layers, embed=net.embed, seed=net.seed)
    other.set_params(net.params)
    other.mix_with(ngram, weights)
    return other


# -- the n-gram in Rust --------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 2, 4, 6])
def test_the_rust_ngram_distribution_is_the_python_one_bit_for_bit(parts, order):
    _, _, train, val = parts
    big = charrnn.Vocab.from_items([*train, "QZ"])  # a vocabulary larger than the data: unseen ids
    for vocab in (None, big):
        ngram = NGram.fit(train, order=order, vocab=vocab)
        table = ngram.core_table()
        assert table.vocab == len(ngram.vocab) and table.order == order
        rng = np.random.default_rng(order)
        histories = [[BOS]]
        for name in [*val[:40], "ЯЯЯЯЯЯ", "Ааааааааааааа"]:  # seen and never-seen contexts
            ids = [BOS, *ngram.vocab.encode(name)]
            histories += [ids[:k] for k in range(1, len(ids) + 1)]
        histories += [[BOS, *rng.integers(3, len(ngram.vocab), size=int(n))] for n in rng.integers(0, 12, 60)]
        for history in histories:
            history = [int(i) for i in history]
            got = table.next_probs(history)
            assert got.dtype == np.float64 and got.shape == (len(ngram.vocab),)
            assert np.array_equal(got, ngram._next_probs(history)), history
        assert np.array_equal(table.next_probs([BOS, *ngram.vocab.encode("Ан")]), ngram.next_probs("Ан"))


def test_bad_tables_and_mixtures_are_typed_errors_not_panics(parts):
    net, ngram, _, _ = parts
    f64, i64 = (lambda *x: np.array(x, dtype=np.float64)), (lambda *x: np.array(x, dtype=np.int64))
    base = f64(0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="sorted"):
        _core.NGramTable(3, base, [i64(2, 1)], [f64(0.5, 0.5)], [f64(0.1)])
    with pytest.raises(ValueError, match="gamma"):
        _core.NGramTable(3, base, [i64(1)], [f64(0.5)], [f64(0.1, 0.2)])
    with pytest.raises(ValueError, match="one array per order"):
        _core.NGramTable(3, base, [i64(1)], [], [f64(0.1)])
    with pytest.raises(TypeError, match="int64"):
        _core.NGramTable(3, base, [np.array([1], dtype=np.int32)], [f64(0.5)], [f64(0.1)])
    with pytest.raises(ValueError, match="outside"):
        ngram.core_table().next_probs([BOS, len(ngram.vocab)])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _core.Mixture(ngram.core_table(), [0.5, 1.5])
    with pytest.raises(ValueError, match="at least one weight"):
        _core.Mixture(ngram.core_table(), [])
    other = NGram.fit(["аб", "ба"], order=2)  # another vocabulary
    wrong = _core.Mixture(other.core_table(), [0.5])
    params, _ = net._core_params()
    with pytest.raises(ValueError, match="ids but the network"):
        _core.sample(net.cell, params, 2, BOS, EOS, 10, mixture=wrong)
    with pytest.raises(ValueError, match="ids but the network"):
        _core.beam_search(net.cell, params, BOS, EOS, [], 2, 10, mixture=wrong)
    with pytest.raises(ValueError, match="vocabulary"):
        net.mix_with(other, [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net.mix_with(ngram, [0.2, float("nan")])
    with pytest.raises(ValueError, match="either weights or fit_on"):
        net.mix_with(ngram)
    with pytest.raises(ValueError, match="names-mode"):
        net.mix_with(NGram.fit("абвабв", order=2, mode="text", vocab=net.vocab), [0.5])
    with pytest.raises(TypeError):
        net.mixture = "a mixture"
    assert net.mixture is None


def test_a_conditional_model_takes_no_mixture(tiny_names, tiny_vocab):
    model = charrnn.CharRNN(tiny_vocab, hidden=8, embed=4, categories=["a", "b"])
    with pytest.raises(ValueError, match="without categories"):
        model.mix_with(NGram.fit(tiny_names, order=2, vocab=tiny_vocab), [0.5])


# -- scores ---------------------------------------------------------------------------------


def test_scores_are_the_position_mixture_nll(parts):
    net, ngram, _, val = parts
    weights = [0.1, 0.3, 0.5, 0.7, 0.9, 0.6]
    model = mixed(net, ngram, weights)
    p_net, p_ngram = mixture.network_position_probs(net, val), mixture.ngram_position_probs(ngram, val)
    want = mixture.position_mixture_nll(p_net, p_ngram, mixture.positions(val), np.array(weights))
    assert model.evaluate(val)["nll"] == pytest.approx(want, rel=1e-12)
    assert model.perplexity(val) == pytest.approx(np.exp(want), rel=1e-12)
    logp = model.log_probs(val)
    assert model.log_prob(val[3]) == pytest.approx(logp[3], rel=1e-12)
    # charrnn score: per character log(w p_net + (1 - w) p_ngram), summing to log_probs.
    for s, total in zip(score(model, val[:10]), logp[:10], strict=True):
        assert s.total == pytest.approx(total, rel=1e-9)
        assert sum(s.log_probs) == pytest.approx(total, rel=1e-9)
    s = score(model, [val[0]])[0]
    table = next_char_log_probs(model, val[0])
    ids = model.vocab.encode(val[0]) + [EOS]
    np.testing.assert_allclose([table[t, i] for t, i in enumerate(ids)], s.log_probs, rtol=1e-6)
    np.testing.assert_allclose(np.exp(table).sum(axis=1), 1.0, rtol=1e-5)
    # The network alone again once the mixture is dropped.
    assert model.drop_mixture() is not None and model.mixture is None
    assert model.evaluate(val)["nll"] == net.evaluate(val)["nll"]


def test_mix_with_fit_on_fits_the_position_weights_on_those_names(parts):
    net, ngram, _, val = parts
    model = mixed(net, ngram, [1.0])
    found = model.mix_with(ngram, fit_on=val)
    p_net, p_ngram = mixture.network_position_probs(net, val), mixture.ngram_position_probs(ngram, val)
    np.testing.assert_array_equal(found.weights, mixture.fit_position_weights(p_net, p_ngram, mixture.positions(val)))
    assert model.mixture is found and len(found.weights) == mixture.POSITIONS
    # evaluate fits the same weights from the probabilities of its two halves (what training attaches)
    np.testing.assert_allclose(mixture.evaluate(net, ngram, val)["fitted_weights"], found.weights, atol=2e-4)


def test_names_not_in_nfc_are_fitted_as_the_vocabulary_encodes_them(parts):
    net, ngram, _, val = parts
    decomposed = [unicodedata.normalize("NFD", name) for name in val]
    assert decomposed != list(val)  # some name has a character that decomposes (й, ё): the test can fail
    np.testing.assert_array_equal(mixture.positions(decomposed), mixture.positions(val))
    model = mixed(net, ngram, [1.0])
    np.testing.assert_array_equal(
        model.mix_with(ngram, fit_on=decomposed).weights, mixed(net, ngram, [1.0]).mix_with(ngram, fit_on=val).weights
    )


def test_training_drops_a_mixture_the_network_no_longer_fits(parts):
    net, ngram, train, val = parts
    model = mixed(net, ngram, [0.5])
    charrnn.train(model, train[:50], None, epochs=1, batch_size=16)
    assert model.mixture is None
    found = charrnn.train(model, train, val, epochs=1, batch_size=16, mix=True)
    assert found is not None and model.mixture is not None  # a 1-epoch network: the mixture helps


# -- sampling ----------------------------------------------------------------------------------


def test_weights_of_one_sample_exactly_what_the_network_samples(parts):
    net, ngram, _, _ = parts
    model = mixed(net, ngram, [1.0] * 5)
    for options in ({}, {"temperature": 0.7, "top_k": 5}, {"top_p": 0.8, "prefix": "Ма"}, {"ends_with": "а"}):
        for seed in (0, 7):
            assert model.sample(50, seed=seed, **options) == net.sample(50, seed=seed, **options), options
    assert model.beam_search("Ан", beam=4) == net.beam_search("Ан", beam=4)


def chi_square(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic over the ids expected at least 5 times (the rest pooled)."""
    n = counts.sum()
    expected = n * probs
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    return float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()), int(keep.sum() - 1)


@pytest.mark.parametrize("prefix", ["", "Ма"])
def test_weights_of_zero_draw_the_first_character_from_the_ngram(parts, prefix):
    _, ngram, _, _ = parts
    untrained = charrnn.CharRNN(ngram.vocab, hidden=24, embed=8, seed=5)  # far from the counts
    model = mixed(untrained, ngram, [1.0] * len(prefix) + [0.0])  # the n-gram at the first drawn position
    n = 20000
    drawn = model.sample(n, seed=11, prefix=prefix)
    counts = np.bincount(
        [model.vocab.encode(name[len(prefix)])[0] if len(name) > len(prefix) else EOS for name in drawn],
        minlength=len(model.vocab),
    )
    statistic, df = chi_square(counts, ngram.next_probs(prefix))
    assert statistic < df + 5 * np.sqrt(2 * df), (statistic, df)
    # The same counts are far from the network's own first step: the check can fail.
    network = np.exp(next_char_log_probs(untrained, prefix)[len(prefix)])
    network[[model.vocab.pad_id, model.vocab.bos_id]] = 0.0  # never drawn
    far, df_far = chi_square(counts, network / network.sum())
    assert far > df_far + 20 * np.sqrt(2 * df_far)


def test_temperature_and_top_k_act_on_the_mixture(parts):
    net, ngram, _, _ = parts
    model = mixed(net, ngram, [0.0])  # the n-gram alone, through the network's sampler
    for start in ("", "Ал", "Ка"):
        history, ended = [BOS, *model.vocab.encode(start)], False
        while len(history) < 30 and not ended:  # greedy: the n-gram's most likely id, each step
            nxt = int(np.argmax(ngram._next_probs(history)))
            ended = nxt == EOS
            history += [] if ended else [nxt]
        greedy = start + model.vocab.decode(history[1 + len(model.vocab.encode(start)) :])
        assert model.sample(3, seed=0, top_k=1, prefix=start, max_len=29) == [greedy] * 3
        if ended:
            assert model.beam_search(start, beam=1, max_len=29)[0][0] == greedy
    # Temperature 0.5 on the mixture (here the n-gram alone): the first character is drawn from
    # p**2 renormalised, and the counts are far from p itself (the check can fail).
    n = 20000
    drawn = model.sample(n, seed=2, temperature=0.5)
    counts = np.bincount(
        [model.vocab.encode(name[0])[0] if name else EOS for name in drawn], minlength=len(model.vocab)
    )
    p = ngram.next_probs("")
    statistic, df = chi_square(counts, p**2 / (p**2).sum())
    assert statistic < df + 5 * np.sqrt(2 * df), (statistic, df)
    far, df_far = chi_square(counts, p)
    assert far > df_far + 20 * np.sqrt(2 * df_far)


def test_beam_search_scores_with_the_mixture(parts):
    net, ngram, _, _ = parts
    model = mixed(net, ngram, [0.2, 0.4, 0.6])
    found = model.beam_search("", beam=5)
    assert len(found) == 5 and found != net.beam_search("", beam=5)
    for name, logp in found:
        assert logp == pytest.approx(model.log_prob(name), abs=2e-4)
    assert [lp for _, lp in found] == sorted((lp for _, lp in found), reverse=True)


def test_constraints_hold_on_a_mixed_model(parts):
    net, ngram, _, _ = parts
    model = mixed(net, ngram, [0.0, 0.3, 0.6, 0.9])
    names = model.sample(100, seed=4, starts_with="А", ends_with="на", min_len=5, max_len=9)
    assert len(names) == 100
    assert all(n.startswith("А") and n.endswith("на") and 5 <= len(n) <= 9 for n in names)
    regex = model.sample(50, seed=5, regex="[^аеиоуя]+[аеиоуя].*", resample=1)
    assert all(n[0] not in "аеиоуя" for n in regex)
    with pytest.raises(ValueError):
        model.sample(3, seed=0, regex="ЩЩЩЩЩЩЩЩЩЩ+", max_len=5)


# -- the model file -------------------------------------------------------------------------------


def test_a_mixture_survives_save_and_load(parts, tmp_path):
    net, ngram, _, val = parts
    model = mixed(net, ngram, [0.1, 0.5, 0.9])
    model.save(tmp_path / "m.safetensors")
    back = charrnn.load(tmp_path / "m.safetensors")
    assert back.mixture is not None and np.array_equal(back.mixture.weights, model.mixture.weights)
    assert back.mixture.ngram.order == 4 and back.mixture.ngram.vocab == model.vocab
    assert np.array_equal(back.log_probs(val), model.log_probs(val))
    assert back.sample(30, seed=3) == model.sample(30, seed=3)
    assert back.beam_search("Е", beam=3) == model.beam_search("Е", beam=3)
    assert "mixed with a 4-gram" in repr(back)
    # Without the mixture the file is a plain model file again.
    back.drop_mixture()
    back.save(tmp_path / "plain.safetensors")
    header, tensors = _read(str(tmp_path / "plain.safetensors"))
    assert "mixture" not in header and not any(name.startswith("ngram.") for name in tensors)
    assert charrnn.load(tmp_path / "plain.safetensors").mixture is None


def _rewrite(src, dst, change):
    """``src`` with ``change(metadata, tensors)`` applied, its checksum made anew."""
    metadata, tensors = _read(str(src))
    change(metadata, tensors)
    metadata.pop("sha256")
    metadata["sha256"] = _digest(metadata, tensors)
    dst.write_bytes(serialize(tensors, metadata))
    return dst


def test_a_damaged_or_mismatched_mixture_is_a_checkpoint_error(parts, tmp_path):
    net, ngram, _, _ = parts
    path = tmp_path / "m.safetensors"
    mixed(net, ngram, [0.3]).save(path)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # a bit of the last tensor
    (tmp_path / "flipped.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="damaged"):
        charrnn.load(tmp_path / "flipped.safetensors")

    def entry(change):
        def apply(metadata, tensors):
            e = json.loads(metadata["mixture"])
            change(e)
            metadata["mixture"] = json.dumps(e)

        return apply

    other = charrnn.Vocab.from_items(["xyz"]).to_json()
    cases = {
        "vocabulary": entry(lambda e: e.update(ngram_vocab=other)),
        "weights": entry(lambda e: e.update(weights=[0.5, 1.5])),
        "names-mode": entry(lambda e: e["ngram_config"].update(mode="text")),
        "bad 'mixture' entry": entry(lambda e: e.pop("weights")),
        "no 'mixture' entry": lambda m, t: m.pop("mixture"),
        "missing": lambda m, t: t.pop("ngram.order2.keys"),
        "inconsistent": lambda m, t: t.__setitem__("ngram.order3.keys", t["ngram.order3.keys"][::-1].copy()),
    }
    for k, (message, change) in enumerate(cases.items()):
        with pytest.raises(CheckpointError, match=message):
            charrnn.load(_rewrite(path, tmp_path / f"bad{k}.safetensors", change))


# -- the command line -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed-cli")
    train, val, _ = training_split(NAMES, None, 0.25, 0)
    (d / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (d / "val.txt").write_text("\n".join(val) + "\n", encoding="utf-8")
    return d


SMALL = ["--hidden", "16", "--embed", "8", "--epochs", "1", "--samples", "0"]


def test_train_mix_saves_a_mixture_that_eval_score_and_sample_use(cli_dir):
    r = run("train", "train.txt", "--val", "val.txt", "--mix", *SMALL, "--json", "--out", "m.safetensors", cwd=cli_dir)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == 1 and records[-1]["epoch"] == 1, "one record per epoch; the last carries the mixture"
    final = records[-1]
    assert final["mix_saved"] is True and len(final["mix_position_weights"]) == mixture.POSITIONS
    assert final["mix_val_nll"] < final["network_val_nll"] == pytest.approx(final["val_nll"], rel=1e-6)
    assert f"val nll {final['mix_val_nll']:.4f}" in r.stderr and "saved in m.safetensors" in r.stderr
    model = charrnn.load(cli_dir / "m.safetensors")
    assert model.mixture is not None and model.mixture.ngram.order == 6
    val = (cli_dir / "val.txt").read_text(encoding="utf-8").split()
    # charrnn eval and charrnn score give the saved mixture's NLL, the one the run printed.
    e = run("eval", "m.safetensors", "val.txt", "--json", cwd=cli_dir)
    assert e.returncode == 0, e.stderr
    assert json.loads(e.stdout)["nll"] == pytest.approx(final["mix_fitted_val_nll"], rel=1e-12)
    s = run("score", "m.safetensors", "--file", "val.txt", "--json", cwd=cli_dir)
    assert s.returncode == 0, s.stderr
    scored = [json.loads(line) for line in s.stdout.splitlines()]
    chars = sum(len(x["chars"]) for x in scored)
    assert -sum(x["log_prob"] for x in scored) / chars == pytest.approx(final["mix_fitted_val_nll"], rel=1e-9)
    assert len(scored) == len(val)
    g = run("-v", "sample", "m.safetensors", "-n", "5", "--seed", "1", cwd=cli_dir)
    assert g.returncode == 0 and len(g.stdout.split()) == 5, g.stderr
    assert g.stdout.split() == model.sample(5, seed=1)
    assert "a mixture with a 6-gram" in g.stderr


def test_no_mix_and_plain_runs_save_the_network_alone(cli_dir):
    plain = run("train", "train.txt", "--val", "val.txt", *SMALL, "--out", "p.safetensors", cwd=cli_dir)
    off = run("train", "train.txt", "--val", "val.txt", "--no-mix", *SMALL, "--out", "n.safetensors", cwd=cli_dir)
    for r, path in ((plain, "p.safetensors"), (off, "n.safetensors")):
        assert r.returncode == 0, r.stderr
        assert "mixture" not in r.stdout and "counting baseline: 6-gram" in r.stdout
        assert charrnn.load(cli_dir / path).mixture is None
    assert np.array_equal(
        charrnn.load(cli_dir / "p.safetensors").params["fc.weight"],
        charrnn.load(cli_dir / "n.safetensors").params["fc.weight"],
    )


def test_mix_without_validation_names_says_there_is_none(cli_dir):
    r = run("train", "val.txt", "--val-fraction", "0", "--mix", *SMALL, "--out", "v.safetensors", cwd=cli_dir)
    assert r.returncode == 0, r.stderr
    assert "no mixture: there are no validation names" in r.stdout
    assert charrnn.load(cli_dir / "v.safetensors").mixture is None


def test_mix_where_it_does_not_apply_is_one_error_line(cli_dir):
    assert "--mix" in bad(run("train", "train.txt", "--mode", "text", "--mix", *SMALL, cwd=cli_dir))
    assert "without categories" in bad(
        run("train", "--preset", "ru-first-by-gender", "--mix", *SMALL, "--out", "c.safetensors", cwd=cli_dir)
    )
