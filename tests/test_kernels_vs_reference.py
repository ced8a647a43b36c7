"""The Rust kernels (charrnn._core) compute what the numpy reference computes, on random
data with uneven, unsorted lengths and given initial states; and they reject bad arguments
with TypeError/ValueError instead of crashing."""

from __future__ import annotations

import numpy as np
import pytest

from charrnn import _core
from charrnn import reference as R
from conftest import random_lengths


def assert_close(actual, expected, what: str, rtol: float = 1e-4) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale * 0.1, err_msg=what)


def f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def layer_case(cell: str, T=7, B=6, In=5, H=8, seed=0):
    rng = np.random.default_rng(seed)
    G = R.GATES[cell]
    case = {
        "x": f32(rng.normal(size=(T, B, In))),
        "lengths": random_lengths(rng, T, B),
        "w_ih": f32(rng.uniform(-0.5, 0.5, (G * H, In))),
        "w_hh": f32(rng.uniform(-0.5, 0.5, (G * H, H))),
        "b_ih": f32(rng.uniform(-0.5, 0.5, G * H)),
        "b_hh": f32(rng.uniform(-0.5, 0.5, G * H)),
        "h0": f32(rng.normal(size=(B, H))),
        "c0": f32(rng.normal(size=(B, H))) if cell == "lstm" else None,
    }
    d = {
        "d_out": f32(rng.normal(size=(T, B, H))),
        "d_h_n": f32(rng.normal(size=(B, H))),
        "d_c_n": f32(rng.normal(size=(B, H))) if cell == "lstm" else None,
    }
    return case, d


def call_layer(module, cell, c):
    return module.layer_forward(
        cell, c["x"], c["lengths"], c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"], c["h0"], c["c0"]
    )


def test_layer_forward_and_backward_match_reference(cell):
    case, d = layer_case(cell)
    out, h_n, c_n, tape = call_layer(_core, cell, case)
    r_out, r_h_n, r_c_n, r_tape = call_layer(R, cell, case)
    assert out.dtype == np.float32 and tape.cell == cell
    assert_close(out, r_out, "out")
    assert_close(h_n, r_h_n, "h_n")
    if cell == "lstm":
        assert_close(c_n, r_c_n, "c_n")
    else:
        assert c_n is None
    pad = np.arange(out.shape[0])[:, None] >= case["lengths"][None, :]
    assert np.all(out[pad] == 0), "padded outputs must be exactly zero"

    grads = _core.layer_backward(tape, d["d_out"], d["d_h_n"], d["d_c_n"])
    expected = R.layer_backward(r_tape, d["d_out"], d["d_h_n"], d["d_c_n"])
    assert set(grads) == set(expected)
    for name in expected:
        assert grads[name].dtype == np.float32
        assert_close(grads[name], expected[name], f"{cell} d{name}")
    assert np.all(grads["x"][pad] == 0), "padded inputs must get exactly zero gradient"


def test_layer_never_reads_padding_even_nan(cell):
    case, d = layer_case(cell, seed=2)
    out, h_n, c_n, tape = call_layer(_core, cell, case)
    grads = _core.layer_backward(tape, d["d_out"], d["d_h_n"], d["d_c_n"])
    pad = np.arange(case["x"].shape[0])[:, None] >= case["lengths"][None, :]
    case["x"][pad] = np.nan
    d_out = d["d_out"].copy()
    d_out[pad] = np.nan
    out2, h_n2, c_n2, tape2 = call_layer(_core, cell, case)
    grads2 = _core.layer_backward(tape2, d_out, d["d_h_n"], d["d_c_n"])
    # (allclose, not equal: with several threads the summation order may differ)
    np.testing.assert_allclose(out2, out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h_n2, h_n, rtol=1e-6, atol=1e-7)
    for name in grads:
        assert np.isfinite(grads2[name]).all(), name
        np.testing.assert_allclose(grads2[name], grads[name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_layer_backward_without_final_state_gradients_matches_reference(cell):
    case, d = layer_case(cell, seed=1)
    *_, tape = call_layer(_core, cell, case)
    *_, r_tape = call_layer(R, cell, case)
    grads = _core.layer_backward(tape, d["d_out"])
    expected = R.layer_backward(r_tape, d["d_out"])
    for name in expected:
        assert_close(grads[name], expected[name], f"{cell} d{name}")


def model_case(cell: str, V=11, E=4, H=9, L=2, T=8, B=7, seed=0, with_state=True):
    rng = np.random.default_rng(seed)
    G = R.GATES[cell]
    params = [rng.normal(size=(V, E))]
    for k in range(L):
        In = E if k == 0 else H
        params += [
            rng.uniform(-0.4, 0.4, (G * H, In)),
            rng.uniform(-0.4, 0.4, (G * H, H)),
            rng.uniform(-0.4, 0.4, G * H),
            rng.uniform(-0.4, 0.4, G * H),
        ]
    params += [rng.uniform(-0.4, 0.4, (V, H)), rng.uniform(-0.4, 0.4, V)]
    params = [f32(p) for p in params]
    ids = rng.integers(0, V, (T, B)).astype(np.int32)
    targets = rng.integers(0, V, (T, B)).astype(np.int32)
    lengths = random_lengths(rng, T, B)
    h0 = f32(rng.normal(size=(L, B, H))) if with_state else None
    c0 = f32(rng.normal(size=(L, B, H))) if with_state and cell == "lstm" else None
    return params, ids, targets, lengths, h0, c0


@pytest.mark.parametrize("with_state", [True, False])
def test_forward_backward_matches_reference(cell, with_state):
    params, ids, targets, lengths, h0, c0 = model_case(cell, with_state=with_state)
    loss, seq_loss, grads, h_n, c_n = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    r_loss, r_seq, r_grads, r_h_n, r_c_n = R.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    assert isinstance(loss, float)
    assert loss == pytest.approx(r_loss, rel=1e-5)
    assert seq_loss.dtype == np.float64
    assert_close(seq_loss, r_seq, "seq_loss", rtol=1e-5)
    assert seq_loss[lengths == 0].tolist() == [0.0] * int((lengths == 0).sum())
    assert_close(h_n, r_h_n, "h_n")
    if cell == "lstm":
        assert_close(c_n, r_c_n, "c_n")
    else:
        assert c_n is None
    assert len(grads) == len(params)
    for k, (g, p) in enumerate(zip(grads, params, strict=True)):
        assert g.shape == p.shape and g.dtype == np.float32
        assert_close(g, r_grads[k], f"{cell} grad of params[{k}]")


def test_forward_backward_single_layer_larger_batch_matches_reference(cell):
    params, ids, targets, lengths, h0, c0 = model_case(cell, V=30, E=16, H=64, L=1, T=12, B=33, seed=3)
    loss, _, grads, _, _ = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    r_loss, _, r_grads, _, _ = R.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    assert loss == pytest.approx(r_loss, rel=1e-5)
    for k, g in enumerate(grads):
        assert_close(g, r_grads[k], f"{cell} grad of params[{k}]")


def test_compute_grad_false_gives_no_gradients_and_the_same_loss(cell):
    params, ids, targets, lengths, h0, c0 = model_case(cell, seed=1)
    with_grad = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    without = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0, compute_grad=False)
    assert without[2] is None
    assert without[0] == pytest.approx(with_grad[0], rel=1e-6)
    np.testing.assert_allclose(without[1], with_grad[1], rtol=1e-6)
    np.testing.assert_allclose(without[3], with_grad[3], rtol=1e-6)


def test_padded_ids_and_targets_do_not_matter_to_the_kernel(cell):
    params, ids, targets, lengths, h0, c0 = model_case(cell, seed=2)
    pad = np.arange(ids.shape[0])[:, None] >= lengths[None, :]
    a = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    ids2, targets2 = ids.copy(), targets.copy()
    ids2[pad], targets2[pad] = 0, 3
    b = _core.forward_backward(cell, params, ids2, targets2, lengths, h0, c0)
    assert a[0] == pytest.approx(b[0], rel=1e-6)
    for ga, gb in zip(a[2], b[2], strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-7)


def test_dropout_is_reproducible_from_its_seed_and_off_at_zero(cell):
    params, ids, targets, lengths, h0, c0 = model_case(cell, seed=7)
    plain = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0)
    zero = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0, dropout=0.0, seed=99)
    a = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0, dropout=0.5, seed=1)
    b = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0, dropout=0.5, seed=1)
    c = _core.forward_backward(cell, params, ids, targets, lengths, h0, c0, dropout=0.5, seed=2)
    assert zero[0] == pytest.approx(plain[0], rel=1e-7)
    assert a[0] == pytest.approx(b[0], rel=1e-7)
    assert abs(a[0] - c[0]) > 1e-3 and abs(a[0] - plain[0]) > 1e-3
    for ga, gb in zip(a[2], b[2], strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-6, atol=1e-7)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError):
            _core.forward_backward(cell, params, ids, targets, lengths, dropout=bad)


def test_conditional_model_matches_reference():
    cell = "lstm"
    rng = np.random.default_rng(4)
    params, ids, targets, lengths, _, _ = model_case(cell, E=4, H=9, seed=4)
    C, K = 3, 5
    params[1] = f32(rng.uniform(-0.4, 0.4, (4 * 9, 4 + C)))
    cat_emb = f32(rng.normal(size=(K, C)))
    cats = rng.integers(0, K, ids.shape[1]).astype(np.int32)
    loss, _, grads, _, _ = _core.forward_backward(
        cell, params, ids, targets, lengths, categories=cats, category_embedding=cat_emb
    )
    r_loss, _, r_grads, _, _ = R.forward_backward(
        cell, params, ids, targets, lengths, categories=cats, category_embedding=cat_emb
    )
    assert loss == pytest.approx(r_loss, rel=1e-5)
    assert len(grads) == len(params) + 1
    for k, g in enumerate(grads):
        assert_close(g, r_grads[k], f"grad {k}")


def test_one_thread_and_several_threads_agree():
    params, ids, targets, lengths, h0, c0 = model_case("lstm", V=20, E=8, H=32, T=10, B=40, seed=5)
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(1)
        one = _core.forward_backward("lstm", params, ids, targets, lengths, h0, c0)
        again = _core.forward_backward("lstm", params, ids, targets, lengths, h0, c0)
        _core.set_num_threads(2)
        two = _core.forward_backward("lstm", params, ids, targets, lengths, h0, c0)
    finally:
        _core.set_num_threads(before)
    assert one[0] == again[0], "one thread must be bit-for-bit reproducible"
    for a, b in zip(one[2], again[2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert two[0] == pytest.approx(one[0], rel=1e-6)
    for a, b in zip(one[2], two[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# -- argument validation -------------------------------------------------------------------


def fb_args(cell="lstm"):
    params, ids, targets, lengths, h0, c0 = model_case(cell, seed=6)
    return {
        "cell": cell,
        "params": params,
        "ids": ids,
        "targets": targets,
        "lengths": lengths,
        "h0": h0,
        "c0": c0,
    }


def call_fb(**kw):
    return _core.forward_backward(
        kw.pop("cell"), kw.pop("params"), kw.pop("ids"), kw.pop("targets"), kw.pop("lengths"), **kw
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update(ids=a["ids"].astype(np.int64)),
        lambda a: a.update(targets=a["targets"].astype(np.float32)),
        lambda a: a.update(lengths=a["lengths"].astype(np.int64)),
        lambda a: a.update(h0=a["h0"].astype(np.float64)),
        lambda a: a["params"].__setitem__(0, a["params"][0].astype(np.float64)),
    ],
    ids=["ids-int64", "targets-float32", "lengths-int64", "h0-float64", "embedding-float64"],
)
def test_forward_backward_rejects_wrong_dtype_with_type_error(change):
    args = fb_args()
    change(args)
    with pytest.raises(TypeError):
        call_fb(**args)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update(ids=a["ids"][:, :-1].copy()),  # [T, B-1] vs targets [T, B]
        lambda a: a.update(lengths=a["lengths"][:-1].copy()),
        lambda a: a.update(ids=np.asfortranarray(a["ids"])),  # not C-contiguous
        lambda a: a.update(ids=np.where(a["ids"] == 0, 11, a["ids"]).astype(np.int32)),  # id == V
        lambda a: a.update(targets=np.full_like(a["targets"], -1)),
        lambda a: a["lengths"].__setitem__(0, a["ids"].shape[0] + 1),  # longer than T
        lambda a: a["lengths"].__setitem__(0, -1),
        lambda a: a.update(h0=a["h0"][:1].copy()),  # wrong number of layers
        lambda a: a["params"].pop(),  # not 3 + 4 L arrays
        lambda a: a["params"].__setitem__(2, a["params"][2][:, :-1].copy()),  # w_hh [G*H, H-1]
        lambda a: a.update(cell="transformer"),
        lambda a: a["params"].__setitem__(-2, a["params"][-2][:, ::2]),  # non-contiguous fc weight
    ],
    ids=[
        "ids-shape",
        "lengths-shape",
        "ids-fortran",
        "id-out-of-range",
        "negative-target",
        "length-over-T",
        "negative-length",
        "h0-layers",
        "params-count",
        "w_hh-shape",
        "unknown-cell",
        "params-non-contiguous",
    ],
)
def test_forward_backward_rejects_bad_values_with_value_error(change):
    args = fb_args()
    change(args)
    with pytest.raises(ValueError):
        call_fb(**args)


def test_layer_forward_rejects_bad_arguments():
    case, _ = layer_case("gru")
    bad_dtype = {**case, "x": case["x"].astype(np.float64)}
    with pytest.raises(TypeError):
        call_layer(_core, "gru", bad_dtype)
    too_long = {**case, "lengths": case["lengths"] + 100}
    with pytest.raises(ValueError):
        call_layer(_core, "gru", too_long)
    non_contiguous = {**case, "x": case["x"][:, ::2]}
    with pytest.raises(ValueError):
        call_layer(_core, "gru", non_contiguous)
    bad_h0 = {**case, "h0": case["h0"][:, :-1].copy()}
    with pytest.raises(ValueError):
        call_layer(_core, "gru", bad_h0)


def test_layer_backward_rejects_mis_shaped_gradient():
    case, d = layer_case("lstm")
    *_, tape = call_layer(_core, "lstm", case)
    with pytest.raises(ValueError):
        _core.layer_backward(tape, d["d_out"][:-1].copy())
    with pytest.raises(TypeError):
        _core.layer_backward(tape, d["d_out"].astype(np.float64))
