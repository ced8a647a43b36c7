"""The numpy reference is right: its gradients match finite differences (float64), padding
is inert, final states come from each sequence's last real step, and single steps follow
the textbook equations of PyTorch's cells."""

from __future__ import annotations

import numpy as np
import pytest

from charrnn import reference as R
from conftest import random_lengths

T, B, IN, H = 4, 5, 3, 3


def numeric_grad(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. every entry of ``array`` (changed in place)."""
    grad = np.zeros_like(array)
    it = np.nditer(array, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = array[i]
        array[i] = old + eps
        up = f()
        array[i] = old - eps
        down = f()
        array[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def layer_inputs(cell: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    G = R.GATES[cell]
    arrays = {
        "x": rng.normal(size=(T, B, IN)),
        "w_ih": rng.uniform(-0.8, 0.8, (G * H, IN)),
        "w_hh": rng.uniform(-0.8, 0.8, (G * H, H)),
        "b_ih": rng.uniform(-0.5, 0.5, G * H),
        "b_hh": rng.uniform(-0.5, 0.5, G * H),
        "h0": rng.normal(size=(B, H)),
    }
    if cell == "lstm":
        arrays["c0"] = rng.normal(size=(B, H))
    lengths = random_lengths(rng, T, B)
    # Random weights for a scalar loss that reads the outputs and the final states.
    probes = {
        "out": rng.normal(size=(T, B, H)),
        "h_n": rng.normal(size=(B, H)),
        "c_n": rng.normal(size=(B, H)),
    }
    return arrays, lengths, probes


def run_layer(cell, arrays, lengths):
    a = arrays
    return R.layer_forward(cell, a["x"], lengths, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], a["h0"], a.get("c0"))


def probe_loss(cell, arrays, lengths, probes) -> float:
    out, h_n, c_n, _ = run_layer(cell, arrays, lengths)
    loss = np.sum(out * probes["out"]) + np.sum(h_n * probes["h_n"])
    if cell == "lstm":
        loss += np.sum(c_n * probes["c_n"])
    return float(loss)


def test_layer_backward_matches_finite_differences(cell):
    arrays, lengths, probes = layer_inputs(cell)
    _, _, _, tape = run_layer(cell, arrays, lengths)
    grads = R.layer_backward(tape, probes["out"], probes["h_n"], probes["c_n"] if cell == "lstm" else None)
    assert set(grads) == set(arrays)
    for name, array in arrays.items():
        expected = numeric_grad(lambda: probe_loss(cell, arrays, lengths, probes), array)
        np.testing.assert_allclose(grads[name], expected, rtol=1e-6, atol=1e-8, err_msg=f"{cell} d{name}")


def test_layer_padding_gets_zero_gradient_and_zero_output(cell):
    arrays, lengths, probes = layer_inputs(cell, seed=1)
    out, _, _, tape = run_layer(cell, arrays, lengths)
    grads = R.layer_backward(tape, probes["out"], probes["h_n"], probes["c_n"] if cell == "lstm" else None)
    pad = np.arange(T)[:, None] >= lengths[None, :]
    assert pad.any()
    assert np.all(out[pad] == 0)
    assert np.all(grads["x"][pad] == 0)


def test_layer_ignores_padded_inputs_and_padded_output_gradients(cell):
    arrays, lengths, probes = layer_inputs(cell, seed=2)
    out, h_n, c_n, tape = run_layer(cell, arrays, lengths)
    grads = R.layer_backward(tape, probes["out"], probes["h_n"], probes["c_n"] if cell == "lstm" else None)
    pad = np.arange(T)[:, None] >= lengths[None, :]
    changed = {**arrays, "x": arrays["x"].copy()}
    changed["x"][pad] = np.nan  # not even NaN at padding may leak out
    d_out = probes["out"].copy()
    d_out[pad] = 1e6
    out2, h_n2, c_n2, tape2 = run_layer(cell, changed, lengths)
    grads2 = R.layer_backward(tape2, d_out, probes["h_n"], probes["c_n"] if cell == "lstm" else None)
    np.testing.assert_array_equal(out2, out)
    np.testing.assert_array_equal(h_n2, h_n)
    for name in grads:
        np.testing.assert_array_equal(grads2[name], grads[name], err_msg=name)


def test_final_state_is_the_state_after_the_last_real_step(cell):
    arrays, lengths, _ = layer_inputs(cell, seed=3)
    out, h_n, c_n, _ = run_layer(cell, arrays, lengths)
    for b, n in enumerate(lengths):
        # The same sequence alone, cut to its real length.
        alone = {
            k: (v[:n, b : b + 1] if k == "x" else v[b : b + 1] if k in ("h0", "c0") else v) for k, v in arrays.items()
        }
        out_b, h_b, c_b, _ = run_layer(cell, alone, np.array([n]))
        np.testing.assert_allclose(h_n[b], h_b[0], rtol=1e-12)
        np.testing.assert_allclose(out[:n, b], out_b[:, 0], rtol=1e-12)
        if n == 0:
            np.testing.assert_array_equal(h_n[b], arrays["h0"][b])
        if cell == "lstm":
            np.testing.assert_allclose(c_n[b], c_b[0], rtol=1e-12)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_single_step_follows_pytorch_equations(cell):
    rng = np.random.default_rng(4)
    G = R.GATES[cell]
    x, h, c = rng.normal(size=IN), rng.normal(size=H), rng.normal(size=H)
    w_ih, w_hh = rng.normal(size=(G * H, IN)), rng.normal(size=(G * H, H))
    b_ih, b_hh = rng.normal(size=G * H), rng.normal(size=G * H)

    def block(k):  # gate k's rows, written out separately from the reference's slicing
        rows = slice(k * H, (k + 1) * H)
        return w_ih[rows] @ x + b_ih[rows], w_hh[rows] @ h + b_hh[rows]

    c_expected = None
    if cell == "rnn":
        a, b = block(0)
        h_expected = np.tanh(a + b)
    elif cell == "lstm":
        i, f, g, o = (sum(block(k)) for k in range(4))
        c_expected = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h_expected = sigmoid(o) * np.tanh(c_expected)
    else:
        r = sigmoid(sum(block(0)))
        z = sigmoid(sum(block(1)))
        xn, hn = block(2)
        n = np.tanh(xn + r * hn)
        h_expected = (1 - z) * n + z * h
    out, h_n, c_n, _ = R.layer_forward(
        cell,
        x[None, None],
        np.array([1]),
        w_ih,
        w_hh,
        b_ih,
        b_hh,
        h[None],
        c[None] if cell == "lstm" else None,
    )
    np.testing.assert_allclose(h_n[0], h_expected, rtol=1e-12)
    np.testing.assert_allclose(out[0, 0], h_expected, rtol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(c_n[0], c_expected, rtol=1e-12)


def model_inputs(cell: str, seed: int = 0, V: int = 6, E: int = 3, L: int = 2):
    rng = np.random.default_rng(seed)
    G = R.GATES[cell]
    params = [rng.normal(size=(V, E))]
    for k in range(L):
        In = E if k == 0 else H
        params += [
            rng.uniform(-0.8, 0.8, (G * H, In)),
            rng.uniform(-0.8, 0.8, (G * H, H)),
            rng.uniform(-0.5, 0.5, G * H),
            rng.uniform(-0.5, 0.5, G * H),
        ]
    params += [rng.uniform(-0.8, 0.8, (V, H)), rng.uniform(-0.5, 0.5, V)]
    ids = rng.integers(0, V, (T, B)).astype(np.int32)
    targets = rng.integers(0, V, (T, B)).astype(np.int32)
    lengths = random_lengths(rng, T, B)
    h0 = rng.normal(size=(L, B, H))
    c0 = rng.normal(size=(L, B, H)) if cell == "lstm" else None
    return params, ids, targets, lengths, h0, c0


def test_model_gradients_match_finite_differences(cell):
    params, ids, targets, lengths, h0, c0 = model_inputs(cell)
    loss, seq_loss, grads, _, _ = R.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    assert loss == pytest.approx(seq_loss.sum())
    assert len(grads) == len(params)

    def f():
        return R.forward_backward(cell, params, ids, targets, lengths, h0, c0, compute_grad=False)[0]

    for k, p in enumerate(params):
        np.testing.assert_allclose(grads[k], numeric_grad(f, p), rtol=1e-6, atol=1e-8, err_msg=f"{cell} params[{k}]")


def test_model_loss_is_the_cross_entropy_of_real_positions(cell):
    params, ids, targets, lengths, h0, c0 = model_inputs(cell, seed=5)
    _, seq_loss, _, _, _ = R.forward_backward(cell, params, ids, targets, lengths, h0, c0, compute_grad=False)
    # Recompute by hand: layer by layer, then -log softmax at the target.
    x = params[0][ids]
    for k in range(2):
        w = params[1 + 4 * k : 5 + 4 * k]
        x, _, _, _ = R.layer_forward(cell, x, lengths, *w, h0[k], c0[k] if c0 is not None else None)
    logits = x @ params[-2].T + params[-1]
    for b in range(B):
        expected = 0.0
        for t in range(lengths[b]):
            z = logits[t, b]
            expected += np.log(np.exp(z - z.max()).sum()) + z.max() - z[targets[t, b]]
        assert seq_loss[b] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert seq_loss[lengths == 0][0] == 0.0


def test_model_padding_ids_and_targets_change_nothing(cell):
    params, ids, targets, lengths, h0, c0 = model_inputs(cell, seed=6)
    pad = np.arange(T)[:, None] >= lengths[None, :]
    a = R.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    ids2, targets2 = ids.copy(), targets.copy()
    ids2[pad] = (ids2[pad] + 1) % 6
    targets2[pad] = (targets2[pad] + 2) % 6
    b = R.forward_backward(cell, params, ids2, targets2, lengths, h0, c0)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    for ga, gb in zip(a[2], b[2], strict=True):
        np.testing.assert_array_equal(ga, gb)


def test_model_categories_gradient_matches_finite_differences():
    cell = "gru"
    params, ids, targets, lengths, _, _ = model_inputs(cell, seed=7, E=2)
    rng = np.random.default_rng(8)
    cat_emb = rng.normal(size=(3, 1))
    params[1] = rng.uniform(-0.8, 0.8, (3 * H, 3))  # layer 0 reads E + C = 3 features
    cats = rng.integers(0, 3, B).astype(np.int32)
    _, _, grads, _, _ = R.forward_backward(
        cell, params, ids, targets, lengths, categories=cats, category_embedding=cat_emb
    )
    assert len(grads) == len(params) + 1

    def f():
        return R.forward_backward(
            cell,
            params,
            ids,
            targets,
            lengths,
            compute_grad=False,
            categories=cats,
            category_embedding=cat_emb,
        )[0]

    np.testing.assert_allclose(grads[-1], numeric_grad(f, cat_emb), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads[1], numeric_grad(f, params[1]), rtol=1e-6, atol=1e-8)


def test_float32_reference_agrees_with_float64(cell):
    params, ids, targets, lengths, h0, c0 = model_inputs(cell, seed=9)
    a = R.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    b = R.forward_backward(cell, params, ids, targets, lengths, h0, c0, dtype=np.float32)
    assert all(g.dtype == np.float32 for g in b[2])
    assert b[0] == pytest.approx(a[0], rel=1e-5)
    for ga, gb in zip(a[2], b[2], strict=True):
        np.testing.assert_allclose(gb, ga, rtol=1e-4, atol=1e-5)


def test_reference_rejects_unknown_cell():
    with pytest.raises(ValueError, match="lstm, rnn, gru"):
        R.layer_forward(
            "transformer",
            np.zeros((1, 1, 1)),
            [1],
            np.zeros((1, 1)),
            np.zeros((1, 1)),
            np.zeros(1),
            np.zeros(1),
            np.zeros((1, 1)),
        )
