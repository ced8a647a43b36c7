"""The n-gram baseline (charrnn.ngram): its Kneser-Ney numbers against a brute-force
implementation of the same formulas, proper distributions, the unigram special case,
accounting identical to the network's, save/load, bad input, and `charrnn ngram`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest

import charrnn
from charrnn.data import training_split
from charrnn.errors import CheckpointError, DataError, UnknownCharacterError
from charrnn.ngram import FALLBACK_DISCOUNTS, NGram, baseline, estimate_discounts
from charrnn.text import training_parts
from conftest import TINY_NAMES

BOS, EOS = "<s>", "</s>"
TINY_TEXT = "the cat sat on the mat.\nthe dog sat on the log.\na cat and a dog.\n" * 2


# -- a brute-force Kneser-Ney: tuples, dicts and the formulas as written ------------------------


def brute_discounts(n: list[int], modified: bool) -> tuple[float, float, float]:
    n1, n2, n3, n4 = n
    if n1 == 0 or n2 == 0 or (modified and n3 == 0):
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    if not modified:
        return (y, y, y)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    return d if all(0 < x <= j for j, x in zip((1, 2, 3), d)) else FALLBACK_DISCOUNTS


class BruteKN:
    """P(w | h) by the recursion of Chen & Goodman, computed from scratch at each call.

    ``seqs`` are lists of symbols (characters and the strings "<s>", "</s>");
    ``outcomes`` what can be predicted."""

    def __init__(self, seqs: list[list[str]], order: int, outcomes: set[str], modified: bool = True) -> None:
        self.order, self.outcomes = order, sorted(outcomes)
        count: Counter = Counter()
        for s in seqs:
            for k in range(1, order + 1):
                for i in range(len(s) - k + 1):
                    count[tuple(s[i : i + k])] += 1
        before: dict[tuple, set] = defaultdict(set)  # the symbols seen just before each n-gram
        for g in count:
            if len(g) >= 2:
                before[g[1:]].add(g[0])
        # The Kneser-Ney count: plain at the top order and for n-grams starting with <s>,
        # else the number of different symbols seen before it.  "<s>" is no outcome.
        self.a = {
            g: (c if len(g) == order or g[0] == BOS else len(before[g]))
            for g, c in count.items()
            if not (len(g) == 1 and g[0] not in outcomes)
        }
        self.D = {}
        for k in range(1, order + 1):
            values = [v for g, v in self.a.items() if len(g) == k]
            self.D[k] = brute_discounts([values.count(j) for j in (1, 2, 3, 4)], modified)
        if all((w,) in self.a for w in outcomes):
            self.D[1] = (0.0, 0.0, 0.0)  # every outcome seen: plain unigram frequencies

    def p(self, w: str, history: list[str]) -> float:
        h = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        return self._p(w, h)

    def _p(self, w: str, h: tuple) -> float:
        lower = self._p(w, h[1:]) if h else 1.0 / len(self.outcomes)
        k = len(h) + 1
        grams = {g: v for g, v in self.a.items() if len(g) == k and g[:-1] == h}
        total = sum(grams.values())
        if total == 0:
            return lower
        discount = lambda v: self.D[k][min(v, 3) - 1]  # noqa: E731
        gamma = sum(discount(v) for v in grams.values()) / total
        v = grams.get(h + (w,), 0)
        return (v - discount(v)) / total + gamma * lower if v else gamma * lower


def symbol(model: NGram, i: int) -> str:
    return EOS if i == 2 else model.vocab.chars[i - 3]


def check_against_brute(model: NGram, brute: BruteKN, histories: list[list[str]], prefix: list[str]) -> None:
    for history in histories:
        p = model.next_probs("".join(history))
        for i in range(len(model.vocab)):
            if i < 2 or (i == 2 and model.mode == "text"):
                assert p[i] == 0.0
                continue
            expected = brute.p(symbol(model, i), prefix + history)
            assert p[i] == pytest.approx(expected, rel=1e-12, abs=1e-15), (history, symbol(model, i))


HISTORIES = ["", "А", "Ан", "Анн", "Анна", "Ма", "Max", "Яна", "ёж", "Жанна", "Ф", "ооо", "Игорь"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("modified", [True, False])
def test_names_probabilities_match_a_brute_force_kneser_ney(order, modified):
    model = NGram.fit(TINY_NAMES, order=order, modified=modified)
    seqs = [[BOS, *name, EOS] for name in TINY_NAMES]
    brute = BruteKN(seqs, order, set("".join(TINY_NAMES)) | {EOS}, modified)
    for k, ds in enumerate(model.discounts, start=1):
        assert ds == pytest.approx(brute.D[k], rel=1e-12)
    check_against_brute(model, brute, [list(h) for h in HISTORIES], [BOS])
    # and the log-probability of whole names, end marker included
    for name in ["Анна", "Мария", "Яна", "Олег", "Ян"]:
        expected = sum(math.log(brute.p(w, [BOS, *name[:t]])) for t, w in enumerate([*name, EOS]))
        assert model.log_prob(name) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_text_probabilities_match_a_brute_force_kneser_ney_with_a_larger_alphabet(order):
    # The alphabet has two characters the text lacks: the unigram is then discounted
    # toward the uniform distribution, so that they keep some probability.
    vocab = charrnn.Vocab(set(TINY_TEXT) | {"z", "!"})
    model = NGram.fit(TINY_TEXT, order=order, mode="text", vocab=vocab)
    brute = BruteKN([[BOS, *TINY_TEXT]], order, set(vocab.chars))
    assert model.discounts[0] != (0.0, 0.0, 0.0)
    histories = [list(h) for h in ["", "t", "th", "the c", "a dog", "zz!", "og.\n", ".\nt", "mat"]]
    check_against_brute(model, brute, histories, [BOS])
    assert model.next_probs("the ")[vocab.chars.index("z") + 3] > 0
    # a text's log-probability counts every character after the first
    text = "the cat and the log"
    expected = sum(math.log(brute.p(w, [BOS, *text[:t]])) for t, w in enumerate(text) if t >= 1)
    assert model.log_prob(text) == pytest.approx(expected, rel=1e-12)


def test_every_next_character_distribution_sums_to_one_seen_and_unseen_contexts():
    names = charrnn.datasets.russian_names("first")
    model = NGram.fit(names, order=5)
    rng = np.random.default_rng(3)
    chars = model.vocab.chars
    histories = ["", "Ан", "Александ", "ёёёё", "ЯЯЯЯЯЯЯЯ", "ьььь", "Ольга"]  # seen, unseen, ended names
    histories += ["".join(rng.choice(chars, size=int(rng.integers(1, 9)))) for _ in range(40)]
    for h in histories:
        p = model.next_probs(h)
        assert p.shape == (len(model.vocab),)
        assert p.sum() == pytest.approx(1.0, abs=1e-12), h
        assert p[0] == p[1] == 0.0  # padding and start marker are never predicted
        assert np.all(p[2:] > 0), h  # every outcome, the end marker included, keeps some mass
    assert model.next_probs("Ольга")[2] > 0.5  # a complete name most likely ends
    text_model = NGram.fit(TINY_TEXT, order=4, mode="text")
    for h in ["", "the", "tttt", "dog.\n", "mat and", "..."]:
        p = text_model.next_probs(h)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert p[:3].tolist() == [0.0, 0.0, 0.0]  # no end marker in text


def test_order_one_is_the_unigram_counts_model():
    train, val = TINY_NAMES[:18], ["Анна", "Глеб", "Олег", "Вера"]
    model = NGram.fit(train, order=1)
    counts = Counter("".join(train)) + Counter({EOS: len(train)})
    total = sum(counts.values())
    p = model.next_probs("")
    for i in range(2, len(model.vocab)):
        assert p[i] == pytest.approx(counts[symbol(model, i)] / total, rel=1e-14)
    for history in ["Ан", "Зоя"]:  # the history changes nothing
        assert np.array_equal(model.next_probs(history), p)
    # so its NLL is the cross-entropy of the counts
    expected = -sum(math.log(counts[w] / total) for name in val for w in [*name, EOS]) / sum(len(n) + 1 for n in val)
    assert model.nll(val) == pytest.approx(expected, rel=1e-12)


def test_discounts_follow_chen_and_goodman_and_fall_back_on_too_little_data():
    n = (1000, 400, 200, 120)
    y = 1000 / (1000 + 800)
    assert estimate_discounts(n) == pytest.approx((1 - 2 * y * 0.4, 2 - 3 * y * 0.5, 3 - 4 * y * 0.6))
    assert estimate_discounts(n, modified=False) == pytest.approx((y, y, y))
    assert estimate_discounts((5, 0, 1, 1)) == FALLBACK_DISCOUNTS  # no n-gram seen twice
    assert estimate_discounts((10, 1, 100, 1)) == FALLBACK_DISCOUNTS  # D2 would be negative


def test_train_nll_drops_as_the_order_grows_and_the_bundled_first_names_val_nll():
    names = charrnn.datasets.russian_names("first")
    train, val = charrnn.split(names, val_fraction=0.1, seed=0)  # charrnn train's default split
    train_nll = [NGram.fit(train, order=n).nll(train) for n in range(1, 9)]
    assert all(a > b for a, b in zip(train_nll, train_nll[1:])), train_nll
    val_nll = {n: NGram.fit(train, order=n).nll(val) for n in (1, 2, 5)}
    assert val_nll[1] > val_nll[2] > val_nll[5]
    # the figure docs/ngram.md reports (5-gram, modified Kneser-Ney, nats per character)
    assert val_nll[5] == pytest.approx(1.8494, abs=5e-5)


def test_the_nll_counts_the_characters_the_network_counts():
    names = TINY_NAMES[:10]
    model = NGram.fit(TINY_NAMES, order=3)
    net = charrnn.CharRNN(model.vocab, cell="gru", hidden=8, layers=1, embed=4, seed=0)
    assert model.evaluate(names)["chars"] == net.evaluate(names)["chars"] == sum(len(n) + 1 for n in names)
    total = -float(model.log_probs(names).sum())
    assert model.nll(names) == pytest.approx(total / sum(len(n) + 1 for n in names), rel=1e-14)
    text_model = NGram.fit(TINY_TEXT, order=3, mode="text")
    text_net = charrnn.CharRNN(text_model.vocab, cell="gru", hidden=8, layers=1, embed=4, seed=0, mode="text")
    held = "the log sat on a cat."
    assert text_model.evaluate(held)["chars"] == text_net.evaluate_text(held, batch_size=3, seq_len=4)["chars"]
    assert text_model.evaluate(held)["chars"] == len(held) - 1


def test_sampling_is_seeded_and_draws_names_of_the_alphabet():
    model = NGram.fit(charrnn.datasets.russian_names("first"), order=4)
    names = model.sample(30, seed=5)
    assert names == model.sample(30, seed=5)
    assert names != model.sample(30, seed=6)
    assert all(len(n) <= 50 and set(n) <= set(model.vocab.chars) for n in names)
    assert all(n.startswith("Ан") and len(n) <= 6 for n in model.sample(20, seed=1, prefix="Ан", max_len=6))
    cold = model.sample(50, seed=2, temperature=0.05)  # almost greedy: few different names
    assert len(set(cold)) < len(set(model.sample(50, seed=2)))
    text_model = NGram.fit(TINY_TEXT, order=5, mode="text")
    written = text_model.generate(200, prime="the ", seed=0)
    assert len(written) == 200 and written == text_model.generate(200, prime="the ", seed=0)
    assert set(written) <= set(TINY_TEXT)


@pytest.mark.parametrize("mode", ["names", "text"])
def test_save_and_load_give_the_same_model_exactly(tmp_path, mode):
    data = charrnn.datasets.russian_names("first") if mode == "names" else TINY_TEXT
    model = NGram.fit(data, order=4, mode=mode, modified=mode == "names")
    path = tmp_path / "m.ngram.safetensors"
    model.save(path)
    back = NGram.load(path)
    assert (back.order, back.mode, back.modified, back.vocab) == (model.order, model.mode, model.modified, model.vocab)
    assert back.discounts == model.discounts
    held = ["Анна", "ёжик", "Ян"] if mode == "names" else "the mat and the dog"
    assert back.nll(held) == model.nll(held)  # bit for bit
    for h in ["", "Ан", "ыыы", "ёж"] if mode == "names" else ["", "th", "dog", "ggg"]:
        assert np.array_equal(back.next_probs(h), model.next_probs(h))
    if mode == "names":
        assert back.sample(10, seed=3) == model.sample(10, seed=3)


def test_load_refuses_damaged_files_and_network_checkpoints(tmp_path):
    model = NGram.fit(TINY_NAMES, order=3)
    path = tmp_path / "m.safetensors"
    model.save(path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # a flipped bit in the tensors
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="damaged"):
        NGram.load(bad)
    net = tmp_path / "net.safetensors"
    charrnn.CharRNN(model.vocab, hidden=8, embed=4).save(net)
    with pytest.raises(CheckpointError, match="not a charrnn n-gram model"):
        NGram.load(net)
    (tmp_path / "junk").write_bytes(b"not a file at all")
    with pytest.raises(CheckpointError):
        NGram.load(tmp_path / "junk")


def test_bad_input_raises_typed_errors():
    with pytest.raises(ValueError, match="order must be at least 1"):
        NGram.fit(TINY_NAMES, order=0)
    with pytest.raises(TypeError, match="order must be an integer"):
        NGram.fit(TINY_NAMES, order=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        NGram.fit(TINY_NAMES, mode="words")
    with pytest.raises(DataError, match="empty"):
        NGram.fit([])
    with pytest.raises(DataError, match="at least 2 characters"):
        NGram.fit("a", mode="text")
    with pytest.raises(TypeError, match="list of names"):
        NGram.fit("Анна", mode="names")
    with pytest.raises(UnknownCharacterError, match="'x'"):
        NGram.fit(["ab", "xa"], vocab=charrnn.Vocab("ab"))
    model = NGram.fit(TINY_NAMES, order=3)
    with pytest.raises(UnknownCharacterError) as caught:
        model.nll(["Анна", "Qwerty"])
    assert (caught.value.char, caught.value.item) == ("Q", "Qwerty")
    with pytest.raises(UnknownCharacterError):
        model.next_probs("Щ")
    with pytest.raises(DataError):
        model.evaluate([])
    with pytest.raises(ValueError, match="temperature"):
        model.sample(3, temperature=0)
    with pytest.raises(ValueError, match="use sample"):
        model.generate(10)
    text_model = NGram.fit(TINY_TEXT, order=3, mode="text")
    with pytest.raises(ValueError, match="use generate"):
        text_model.sample(3)
    with pytest.raises(UnknownCharacterError, match="'Z'"):
        text_model.nll("the Zebra")


def test_baseline_reports_train_and_val_nll():
    train, val, _ = training_split(TINY_NAMES * 2, None, 0.2, 0)
    result = baseline(train, val, order=3)
    model = NGram.fit(train, order=3)
    assert (result["train_nll"], result["val_nll"]) == (model.nll(train), model.nll(val))
    assert baseline(train, None, order=3)["val_nll"] is None


# -- charrnn ngram ------------------------------------------------------------------------------


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ngram")
    names = TINY_NAMES * 2 + ["Ксения", "Щука"]  # a random split may leave щ only in validation
    (d / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (d / "held_out.txt").write_text("Анна\nОлег\n", encoding="utf-8")
    (d / "odd_held_out.txt").write_text("Анна\nQuentin\n", encoding="utf-8")
    (d / "book.txt").write_text(TINY_TEXT * 3, encoding="utf-8")
    return d


def test_cli_json_is_one_object_with_the_nll_of_the_split_train_uses(workdir):
    result = run("ngram", "names.txt", "--order", "3", "--seed", "4", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    items = charrnn.load_lines(workdir / "names.txt")
    train, val, _ = training_split(items, None, 0.1, 4)  # what `charrnn train --seed 4` trains on
    model = NGram.fit(train, order=3)
    assert record["train_nll"] == pytest.approx(model.nll(train), rel=1e-12)
    assert record["val_nll"] == pytest.approx(model.nll(val), rel=1e-12)
    assert (record["train_items"], record["val_items"], record["order"]) == (len(train), len(val), 3)
    assert record["val_ppl"] == pytest.approx(math.exp(record["val_nll"]))


def test_cli_text_mode_uses_the_contiguous_split_and_saves(workdir):
    result = run("ngram", "book.txt", "--mode", "text", "--order", "4", "--json", "--out", "book.ngram", cwd=workdir)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    text = charrnn.load_text(workdir / "book.txt")
    parts = training_parts(text, 0.05, 0.05)  # charrnn train --mode text's defaults
    model = NGram.load(workdir / "book.ngram")
    assert record["val_nll"] == pytest.approx(model.nll(parts.val), rel=1e-12)
    assert record["test_nll"] == pytest.approx(model.nll(parts.test), rel=1e-12)
    assert record["train_chars"] == len(parts.train) - 1
    human = run("ngram", "book.txt", "--mode", "text", "--order", "4", cwd=workdir)
    assert human.returncode == 0 and "val nll" in human.stdout and "test nll" in human.stdout


def test_cli_human_output_and_bundled_default(workdir):
    result = run("ngram", "--order", "5", "--samples", "3", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "bundled Russian first names" in result.stdout
    assert "val nll 1.8494" in result.stdout
    assert len(result.stdout.split("samples:")[1].split()) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--val", "odd_held_out.txt"], "'Q'"),
        (["--order", "0"], "--order"),
        (["--mode", "text"], "needs a FILE"),
        (["--test-fraction", "0.1"], "--mode text"),
        (["missing.txt"], "No such file"),
    ],
)
def test_cli_errors_are_one_line_on_stderr(workdir, args, message):
    result = run(
        "ngram", *(["names.txt"] if args[0].startswith("--") and args[0] != "--mode" else []), *args, cwd=workdir
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_cli_ngram_and_train_hold_out_the_same_items(workdir):
    common = ["names.txt", "--seed", "7", "--val-fraction", "0.25", "--json"]
    ngram = run("ngram", *common, "--order", "2", cwd=workdir)
    train = run(
        "train",
        *common,
        "--max-steps",
        "1",
        "--hidden",
        "8",
        "--embed",
        "4",
        "--samples",
        "0",
        "--out",
        "t.safetensors",
        cwd=workdir,
    )
    assert ngram.returncode == 0 and train.returncode == 0, ngram.stderr + train.stderr
    record = json.loads(ngram.stdout)
    trained = charrnn.checkpoint.read_metadata(workdir / "t.safetensors")["training"]
    assert (record["train_items"], record["val_items"]) == (trained["train_items"], trained["val_items"])
    items = charrnn.load_lines(workdir / "names.txt")
    _, val, moved = training_split(items, None, 0.25, 7)
    assert moved > 0  # the split put a character only in validation: both moved it back
    net = charrnn.load(workdir / "t.safetensors")
    assert net.evaluate(val)["chars"] == record["val_chars"]


def test_unique_by_packed_sort_equals_numpy_unique():
    from charrnn.ngram import _unique

    rng = np.random.default_rng(0)
    small = rng.integers(0, 5000, 20000) * 70 + rng.integers(0, 70, 20000)  # the packed sort
    huge = rng.integers(0, 2**61, 5000)  # too large to pack: numpy's unique
    for codes in (small, huge, np.array([7], dtype=np.int64), np.zeros(0, dtype=np.int64)):
        expected = np.unique(codes, return_inverse=True, return_counts=True)
        got = _unique(codes.astype(np.int64))
        for e, g in zip(expected, got):
            assert np.array_equal(e.reshape(-1), g)
