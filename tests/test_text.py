"""Continuous text: reading, splitting, the stateful batch layout, carrying the state
between chunks (same results as one long call; different after a reset; no gradient
across the boundary), evaluation over the whole text, and chunked generation."""

from __future__ import annotations

import numpy as np
import pytest

from charrnn import CharRNN, DataError, TextBatches, UnknownCharacterError, _core
from charrnn import reference as R
from charrnn.text import (
    encode_text,
    evaluate_text,
    generate_text,
    load_text,
    split_text,
    text_pass,
    text_vocab,
)

TEXT = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n"
    "It is the east, and Juliet is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n"
)


def text_model(cell: str = "lstm", hidden: int = 12, layers: int = 2, seed: int = 0, text: str = TEXT) -> CharRNN:
    return CharRNN(text_vocab(text), cell=cell, hidden=hidden, layers=layers, embed=6, seed=seed, mode="text")


# -- reading and splitting --------------------------------------------------------------


def test_load_text_keeps_the_text_whole_nfc_without_bom(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "  Ёлка\r\n\nе\u0308 \n".encode())
    assert load_text(path) == "  Ёлка\r\n\nё \n"  # BOM dropped, NFC, spaces and line ends kept


def test_load_text_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(IsADirectoryError):
        load_text(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_text(tmp_path / "empty.txt")
    (tmp_path / "cp1251.txt").write_bytes(b"first line\nsecond \xc0\xed\xed\xe0\n")
    with pytest.raises(DataError, match=r"line 2: not valid UTF-8 at byte offset 18 \(byte 0xc0\)"):
        load_text(tmp_path / "cp1251.txt")


def test_split_is_contiguous_90_5_5_by_default():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    parts = split_text(text)
    assert (len(parts.train), len(parts.val), len(parts.test)) == (900, 50, 50)
    assert parts.train + parts.val + parts.test == text
    train, val, test = split_text(text, val_fraction=0.1, test_fraction=0.0)
    assert (len(train), len(val), test) == (900, 100, "")
    with pytest.raises(ValueError, match="val_fraction"):
        split_text(text, val_fraction=1.0)
    with pytest.raises(ValueError, match="leave something"):
        split_text(text, 0.5, 0.5)


def test_text_vocab_reserves_the_marker_ids():
    vocab = text_vocab("ba\nb")
    assert vocab.chars == ("\n", "a", "b")
    assert list(encode_text("ab\n", vocab)) == [4, 5, 3]  # ids 0..2 stay pad/bos/eos


# -- the batch layout -------------------------------------------------------------------


def test_text_batches_layout_stream_k_batch_j_is_text_k_L_plus_j_T():
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcdefgh \n"), size=1003))
    vocab = text_vocab(text)
    B, T = 7, 10
    batches = TextBatches(text, vocab, batch_size=B, seq_len=T)
    L = (len(text) - 1) // B  # 143: positions 1001, 1002 (fewer than B) are left out
    assert L == 143 and batches.stream_len == L and batches.n_chars == B * L
    assert len(batches) == 15  # 14 full batches of 10 and one of 3
    for j, batch in enumerate(batches):
        t_j = min(T, L - j * T)
        assert batch.ids.shape == batch.targets.shape == (t_j, B)
        assert batch.ids.dtype == batch.targets.dtype == np.int32 and batch.ids.flags.c_contiguous
        assert list(batch.lengths) == [t_j] * B
        for k in range(B):
            start = k * L + j * T
            assert vocab.decode(batch.ids[:, k]) == text[start : start + t_j]
            assert vocab.decode(batch.targets[:, k]) == text[start + 1 : start + t_j + 1]


def test_whole_text_batches_cover_every_position_exactly_once():
    text = TEXT * 3
    vocab = text_vocab(text)
    batches = TextBatches(text, vocab, batch_size=8, seq_len=9, whole=True)
    assert batches.n_chars == len(text) - 1
    inputs = [[] for _ in range(batches.batch_size)]
    targets = [[] for _ in range(batches.batch_size)]
    for batch in batches:
        for k in range(batches.batch_size):
            n = batch.lengths[k]
            inputs[k] += list(batch.ids[:n, k])
            targets[k] += list(batch.targets[:n, k])
            assert not batch.ids[n:, k].any() and not batch.targets[n:, k].any()  # padding
    assert vocab.decode(sum(inputs, [])) == text[:-1]
    assert vocab.decode(sum(targets, [])) == text[1:]


def test_too_short_texts_are_refused_with_a_hint():
    vocab = text_vocab("abc")
    with pytest.raises(DataError, match="batch size of at most 2"):
        TextBatches("abc", vocab, batch_size=5, seq_len=4)
    with pytest.raises(DataError, match="at least 2"):
        TextBatches("a", vocab, batch_size=1, seq_len=4, whole=True)
    assert TextBatches("abc", vocab, batch_size=5, seq_len=4, whole=True).batch_size == 2
    with pytest.raises(UnknownCharacterError, match="'z'"):
        TextBatches("abz", vocab, batch_size=1, seq_len=4)


# -- carrying the state -------------------------------------------------------------------


def _long_batch(model: CharRNN, T: int, B: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    V = len(model.vocab)
    ids = rng.integers(3, V, size=(T + 1, B)).astype(np.int32)
    return np.ascontiguousarray(ids[:-1]), np.ascontiguousarray(ids[1:])


def _call(model, ids, targets, h0=None, c0=None, lengths=None, compute_grad=False):
    T, B = ids.shape
    lengths = np.full(B, T, np.int32) if lengths is None else lengths
    return _core.forward_backward(
        model.cell, model.params_list(), ids, targets, lengths, h0=h0, c0=c0, compute_grad=compute_grad
    )


def test_chunks_with_the_carried_state_equal_one_long_call(cell):
    model = text_model(cell)
    T, B, chunk = 40, 3, 10
    ids, targets = _long_batch(model, T, B)
    loss_all, seq_all, _, h_all, c_all = _call(model, ids, targets)
    h = c = None
    total, per_seq = 0.0, np.zeros(B)
    for start in range(0, T, chunk):
        a, b = ids[start : start + chunk], targets[start : start + chunk]
        loss, seq, _, h, c = _call(model, np.ascontiguousarray(a), np.ascontiguousarray(b), h, c)
        total += loss
        per_seq += seq
        # The outputs so far equal those of one call over the prefix that ends here.
        prefix = _call(model, ids, targets, lengths=np.full(B, start + chunk, np.int32))
        np.testing.assert_allclose(seq_all if start + chunk == T else prefix[1], per_seq, rtol=2e-5)
        np.testing.assert_allclose(prefix[3], h, rtol=1e-4, atol=1e-6)
    assert total == pytest.approx(loss_all, rel=1e-5)
    np.testing.assert_allclose(per_seq, seq_all, rtol=1e-5)
    np.testing.assert_allclose(h, h_all, rtol=1e-4, atol=1e-6)
    if cell == "lstm":
        np.testing.assert_allclose(c, c_all, rtol=1e-4, atol=1e-6)
    else:
        assert c is None and c_all is None
    # And both agree with the float64 numpy reference run in one piece.
    ref = R.forward_backward(cell, model.params_list(), ids, targets, np.full(B, T, np.int32), compute_grad=False)
    assert total == pytest.approx(ref[0], rel=1e-4)


def test_resetting_the_state_between_chunks_changes_the_result(cell):
    model = text_model(cell)
    ids, targets = _long_batch(model, 20, 2, seed=1)
    first = _call(model, ids[:10].copy(), targets[:10].copy())
    carried = _call(model, ids[10:].copy(), targets[10:].copy(), first[3], first[4])
    reset = _call(model, ids[10:].copy(), targets[10:].copy())
    assert abs(carried[0] - reset[0]) > 1e-3
    assert np.abs(carried[3] - reset[3]).max() > 1e-3
    # text_pass is that call: state in, state out.
    batch = TextBatches(np.concatenate([ids[:, 0], targets[-1:, 0]]), None, batch_size=1, seq_len=10)[0]
    loss, _, state = text_pass(model, batch, None, compute_grad=False)
    assert loss == pytest.approx(float(first[1][0]), rel=1e-6)
    # One sequence alone or beside another: the same numbers up to float32 rounding (the
    # products are blocked differently with one kernel thread than with two).
    np.testing.assert_allclose(state[0][:, 0], first[3][:, 0], rtol=1e-6, atol=1e-6)


def _reference_loss(cell, params, ids, targets, h0=None, c0=None):
    T, B = ids.shape
    out = R.forward_backward(cell, params, ids, targets, np.full(B, T, np.int32), h0=h0, c0=c0, compute_grad=False)
    return out[0], out[3], out[4]


def test_no_gradient_flows_across_the_chunk_boundary(cell):
    """d(loss of chunk 2)/d(weights) with the carried state is the derivative with h0
    (and c0) held constant — not the full derivative through chunk 1."""
    model = text_model(cell, hidden=6, layers=2)
    ids, targets = _long_batch(model, 12, 2, seed=2)
    ids1, tg1, ids2, tg2 = (np.ascontiguousarray(a) for a in (ids[:6], targets[:6], ids[6:], targets[6:]))
    _, _, _, h1, c1 = _call(model, ids1, tg1)
    _, _, grads, _, _ = _call(model, ids2, tg2, h1, c1, compute_grad=True)
    params64 = [p.astype(np.float64) for p in model.params_list()]
    _, h1_64, c1_64 = _reference_loss(cell, params64, ids1, tg1)

    def chunk2_loss(params, through_chunk1: bool) -> float:
        if through_chunk1:  # the state is recomputed from the perturbed weights: full BPTT
            _, h0, c0 = _reference_loss(cell, params, ids1, tg1)
        else:  # the state is a constant: truncated BPTT
            h0, c0 = h1_64, c1_64
        return _reference_loss(cell, params, ids2, tg2, h0, c0)[0]

    eps = 1e-6
    k = 2  # rnn.weight_hh_l0: its gradient has a large part that flows through the state
    truncated, full = [], []
    for flat in range(0, params64[k].size, max(1, params64[k].size // 12)):
        fd = []
        for through in (False, True):
            plus = [p.copy() for p in params64]
            minus = [p.copy() for p in params64]
            plus[k].flat[flat] += eps
            minus[k].flat[flat] -= eps
            fd.append((chunk2_loss(plus, through) - chunk2_loss(minus, through)) / (2 * eps))
        truncated.append(fd[0])
        full.append(fd[1])
        assert grads[k].flat[flat] == pytest.approx(fd[0], rel=2e-3, abs=2e-6)
    # The full derivative is really different (by far more than the tolerance above): had
    # gradients crossed the boundary, the kernel's gradient would have matched it instead.
    truncated, full = np.array(truncated), np.array(full)
    assert np.abs(full - truncated).max() > 0.2 * np.abs(truncated).max()
    assert np.abs(full - truncated).max() > 100 * 2e-6


# -- evaluation -----------------------------------------------------------------------------


def test_evaluation_covers_the_whole_text_and_equals_one_long_call():
    model = text_model("gru")
    text = TEXT * 2
    ids = encode_text(text, model.vocab).astype(np.int32)
    loss, _, _, _, _ = _call(model, ids[:-1, None].copy(), ids[1:, None].copy())
    one_stream = evaluate_text(model, text, batch_size=1, seq_len=7)
    assert one_stream["chars"] == len(text) - 1
    assert one_stream["nll"] == pytest.approx(loss / (len(text) - 1), rel=1e-5)
    assert one_stream["ppl"] == pytest.approx(np.exp(one_stream["nll"]))
    assert one_stream["bpc"] == pytest.approx(one_stream["nll"] / np.log(2))
    # With several streams, the chunk length does not change the result (state carried).
    a = evaluate_text(model, text, batch_size=5, seq_len=3)
    b = evaluate_text(model, text, batch_size=5, seq_len=1000)
    assert a["chars"] == b["chars"] == len(text) - 1
    assert a["nll"] == pytest.approx(b["nll"], rel=1e-5)
    assert model.evaluate_text(text, batch_size=5, seq_len=3) == a


# -- generation -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gen_model():
    return text_model("lstm", hidden=16, seed=3)


def test_generated_chunks_joined_equal_one_long_call(gen_model):
    one = list(gen_model.generate_text("ROMEO:", 300, seed=7, chunk=300))
    assert len(one) == 1 and len(one[0]) == 300
    for chunk in (1, 7, 64, 1000):
        chunks = list(gen_model.generate_text("ROMEO:", 300, seed=7, chunk=chunk))
        assert "".join(chunks) == one[0]
        assert [len(c) for c in chunks[:-1]] == [min(chunk, 300)] * (len(chunks) - 1)


def test_generation_is_seeded_and_never_draws_markers(gen_model):
    a = "".join(gen_model.generate_text("O", 200, seed=1, temperature=1.5))
    assert a == "".join(gen_model.generate_text("O", 200, seed=1, temperature=1.5))
    assert a != "".join(gen_model.generate_text("O", 200, seed=2, temperature=1.5))
    assert set(a) <= set(gen_model.vocab.chars)
    # The prime changes what follows; top_k=1 is greedy, so the seed no longer matters.
    greedy = "".join(gen_model.generate_text("JULIET:", 50, top_k=1, seed=1))
    assert greedy == "".join(gen_model.generate_text("JULIET:", 50, top_k=1, seed=99))
    assert greedy != "".join(gen_model.generate_text("ROMEO:", 50, top_k=1, seed=1))


def test_generation_continues_the_prime_like_the_model_predicts():
    """Greedy continuation: each drawn character is the argmax of the model's prediction
    given the prime and what was drawn before (checked with the numpy reference)."""
    model = text_model("gru", hidden=10, seed=4)
    prime = "Romeo"
    out = "".join(model.generate_text(prime, 12, top_k=1, seed=0))
    text = prime + out
    params = [p.astype(np.float64) for p in model.params_list()]
    vocab = model.vocab
    for i in range(len(prime), len(text)):
        ids = np.array(vocab.encode(text[:i]), np.int32)[:, None]
        # The log-probability of every candidate next character after text[:i].
        scores = []
        for c in vocab.chars:
            targets = np.array(vocab.encode(text[1:i] + c), np.int32)[:, None]
            scores.append(
                -R.forward_backward(model.cell, params, ids, targets, np.array([i], np.int32), compute_grad=False)[0]
            )
        assert vocab.chars[int(np.argmax(scores))] == text[i]


def test_generation_without_a_prime_and_bad_options(gen_model):
    text = "".join(gen_model.generate_text("", 40, seed=0))
    assert len(text) == 40
    no_newline = CharRNN(text_vocab("abc"), hidden=8, layers=1, embed=4, mode="text")
    drawn = list(no_newline.generate_text("", 5, seed=0, chunk=2))
    assert "".join(drawn) == "".join(no_newline.generate_text("", 5, seed=0, chunk=5)) and len("".join(drawn)) == 5
    with pytest.raises(UnknownCharacterError, match="'Z'"):
        next(gen_model.generate_text("Zed", 5))
    for kwargs, word in (
        ({"temperature": 0}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"length": 0}, "length"),
        ({"chunk": 0}, "chunk"),
        ({"seed": -1}, "seed"),
    ):
        with pytest.raises(ValueError, match=word):
            next(generate_text(gen_model, "O", **{"length": 5, **kwargs}))
