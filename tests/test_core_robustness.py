"""The Rust API (``charrnn._core``) called directly with anything at all: wrong shapes,
dtypes, non-contiguous, read-only or non-finite arrays give TypeError/ValueError (or
OverflowError for integers beyond 64 bits), never a panic or an abort; read-only inputs
are fine; threads sampling from one model get the serial results."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charrnn import _core
from conftest import make_model
from faults import fault

ALLOWED = (TypeError, ValueError, OverflowError)

V, E, H, L = 11, 4, 6, 2


def params(cell="lstm", rng=None):
    rng = rng or np.random.default_rng(0)
    G = {"lstm": 4, "rnn": 1, "gru": 3}[cell]
    out = [rng.normal(size=(V, E))]
    for k in range(L):
        out += [
            rng.normal(size=(G * H, E if k == 0 else H)),
            rng.normal(size=(G * H, H)),
            rng.normal(size=G * H),
            rng.normal(size=G * H),
        ]
    out += [rng.normal(size=(V, H)), rng.normal(size=V)]
    return [np.ascontiguousarray(p, dtype=np.float32) * 0.3 for p in out]


def batch(T=5, B=3, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(T, B)).astype(np.int32)
    targets = rng.integers(0, V, size=(T, B)).astype(np.int32)
    lengths = rng.integers(0, T + 1, size=B).astype(np.int32)
    return ids, targets, lengths


def read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


@fault(
    "the Rust API gets read-only numpy arrays (e.g. memory-mapped weights)",
    "they are accepted (inputs are only read): the results equal those for writable arrays",
)
@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_read_only_arrays_are_accepted_and_give_the_same_results(cell):
    p = params(cell)
    ids, targets, lengths = batch()
    h0 = np.full((L, 3, H), 0.1, np.float32)
    c0 = h0.copy() if cell == "lstm" else None
    want = _core.forward_backward(cell, p, ids, targets, lengths, h0=h0, c0=c0)
    got = _core.forward_backward(
        cell,
        [read_only(a) for a in p],
        read_only(ids),
        read_only(targets),
        read_only(lengths),
        h0=read_only(h0),
        c0=None if c0 is None else read_only(c0),
    )
    assert got[0] == want[0]
    for a, b in zip(got[2], want[2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert _core.sample(cell, [read_only(a) for a in p], 4, 1, 2, 10, seed=3) == _core.sample(
        cell, p, 4, 1, 2, 10, seed=3
    )


@fault(
    "the Rust API gets NaN or infinite weights",
    "`ValueError` from training and sampling calls: 'params[9] holds a non-finite value at flat index …'",
)
@pytest.mark.parametrize("where", [0, 1, 2, 9, 10])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_a_value_error_in_every_entry_point(where, value):
    p = params()
    p[where].flat[p[where].size // 2] = value
    ids, targets, lengths = batch()
    with pytest.raises(ValueError, match="non-finite"):
        _core.forward_backward("lstm", p, ids, targets, lengths)
    with pytest.raises(ValueError, match="non-finite"):
        _core.sample("lstm", p, 2, 1, 2, 5)


@fault("the Rust API gets a NaN initial state h0 or c0", "`ValueError`: 'h0 holds a non-finite value'")
@pytest.mark.parametrize("which", ["h0", "c0"])
def test_non_finite_initial_state_is_a_value_error(which):
    ids, targets, lengths = batch()
    state = {"h0": np.zeros((L, 3, H), np.float32), "c0": np.zeros((L, 3, H), np.float32)}
    state[which][1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=which):
        _core.forward_backward("lstm", params(), ids, targets, lengths, **state)


@fault(
    "the Rust API gets arrays of the wrong dtype, shape or layout (non-contiguous), lists, None, or ids out of range",
    "`TypeError` (dtype, not an array) or `ValueError` (shape, layout, range) naming the argument — never a crash",
)
@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update(ids=a["ids"].tolist()),
        lambda a: a.update(ids=None),
        lambda a: a.update(lengths=a["lengths"].astype(np.uint32)),
        lambda a: a["params"].__setitem__(3, a["params"][3].astype(np.float16)),
        lambda a: a.update(params=tuple(a["params"])),
        lambda a: a.update(params=[*a["params"][:-1], "fc.bias"]),
        lambda a: a.update(ids=a["ids"][None]),
        lambda a: a.update(ids=a["ids"].T),
        lambda a: a["params"].__setitem__(0, np.asfortranarray(a["params"][0])),
        lambda a: a["params"].__setitem__(0, a["params"][0][:, None]),
        lambda a: a.update(params=[]),
        lambda a: a.update(targets=np.full_like(a["targets"], V)),
        lambda a: a.update(dropout=float("nan")),
        lambda a: a.update(seed=-1),
        lambda a: a.update(seed=2**64),
        lambda a: a.update(cell=None),
    ],
)
def test_bad_arguments_are_type_or_value_errors(change):
    ids, targets, lengths = batch()
    args = {"cell": "lstm", "params": params(), "ids": ids, "targets": targets, "lengths": lengths}
    change(args)
    with pytest.raises(ALLOWED):
        _core.forward_backward(
            args.pop("cell"), args.pop("params"), args.pop("ids"), args.pop("targets"), args.pop("lengths"), **args
        )


def test_empty_batches_and_zero_lengths_are_fine():
    p = params()
    ids = np.zeros((0, 0), np.int32)
    loss, seq, grads, h_n, _ = _core.forward_backward("lstm", p, ids, ids, np.zeros(0, np.int32))
    assert loss == 0 and seq.shape == (0,) and h_n.shape == (L, 0, H)
    ids, targets, _ = batch()
    loss, *_ = _core.forward_backward("lstm", p, ids, targets, np.zeros(3, np.int32))
    assert loss == 0
    assert _core.sample("lstm", p, 0, 1, 2, 10) == []
    assert _core.sample("lstm", p, 2, 1, 2, 0) == [[], []]


# -- fuzzing with hypothesis ------------------------------------------------------------------

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8]


@st.composite
def arrays(draw, want_dtype, shape):
    """Mostly right, sometimes wrong: dtype, a dimension, contiguity, special values."""
    dtype = want_dtype if draw(st.integers(0, 9)) else draw(st.sampled_from(DTYPES))
    shape = list(shape)
    if shape and not draw(st.integers(0, 7)):
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = draw(st.integers(0, 9))
    if not draw(st.integers(0, 15)):
        shape = shape + [1]
    if np.issubdtype(dtype, np.floating):
        a = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=shape).astype(dtype)
        if a.size and not draw(st.integers(0, 15)):
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38]))
    else:
        lo, hi = (-2, V + 2) if draw(st.integers(0, 5)) == 0 else (0, V)
        a = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(lo, hi, size=shape).astype(dtype)
    if a.ndim >= 2 and a.shape[1] > 1 and not draw(st.integers(0, 10)):
        a = a[:, ::2]
    if not draw(st.integers(0, 10)):
        a.setflags(write=False)
    return a


@st.composite
def forward_backward_calls(draw):
    cell = draw(st.sampled_from(["lstm", "rnn", "gru", "lstm", "bad"]))
    G = {"lstm": 4, "rnn": 1, "gru": 3, "bad": 4}[cell]
    layers = draw(st.integers(1, 2))
    shapes = [(V, E)]
    for k in range(layers):
        shapes += [(G * H, E if k == 0 else H), (G * H, H), (G * H,), (G * H,)]
    shapes += [(V, H), (V,)]
    ps = [draw(arrays(np.float32, s)) for s in shapes]
    if not draw(st.integers(0, 10)):
        del ps[draw(st.integers(0, len(ps) - 1))]
    T, B = draw(st.integers(0, 6)), draw(st.integers(0, 4))
    ids = draw(arrays(np.int32, (T, B)))
    targets = draw(arrays(np.int32, (T, B)))
    lengths = np.asarray(draw(st.lists(st.integers(-1, T + 1), min_size=B, max_size=B)), dtype=np.int32)
    kwargs = {}
    if draw(st.booleans()):
        kwargs["h0"] = draw(arrays(np.float32, (layers, B, H)))
    if draw(st.booleans()):
        kwargs["c0"] = draw(arrays(np.float32, (layers, B, H)))
    kwargs["compute_grad"] = draw(st.booleans())
    kwargs["dropout"] = draw(st.sampled_from([0.0, 0.3, 0.999, 1.0, -0.1, float("nan")]))
    kwargs["seed"] = draw(st.integers(-1, 2**64))
    return cell, ps, ids, targets, lengths, kwargs


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(forward_backward_calls())
def test_fuzzed_forward_backward_raises_only_type_or_value_errors(call):
    cell, ps, ids, targets, lengths, kwargs = call
    try:
        loss, seq, grads, h_n, c_n = _core.forward_backward(cell, ps, ids, targets, lengths, **kwargs)
    except ALLOWED:
        return
    assert np.isfinite(loss) or not np.isfinite(loss)  # a result of some kind, no crash
    assert seq.shape == (ids.shape[1],)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cell=st.sampled_from(["lstm", "gru", "rnn", "LSTM"]),
    n=st.integers(-2, 20),
    start=st.integers(-2, V + 1),
    end=st.integers(-2, V + 1),
    max_steps=st.integers(-1, 30),
    temperature=st.sampled_from([1.0, 0.5, 3.0, 0.0, -1.0, float("nan"), float("inf"), 1e-30]),
    top_k=st.integers(-2, V + 3),
    top_p=st.sampled_from([1.0, 0.5, 1e-9, 0.0, 1.5, float("nan")]),
    prefix=st.lists(st.integers(-3, V + 3), max_size=5),
    banned=st.lists(st.integers(-3, V + 3), max_size=V + 2),
    seed=st.integers(-1, 2**64),
    bad_param=st.booleans(),
)
def test_fuzzed_sample_raises_only_type_or_value_errors(
    cell, n, start, end, max_steps, temperature, top_k, top_p, prefix, banned, seed, bad_param
):
    p = params("lstm" if cell == "LSTM" else cell)
    if bad_param:
        p[1] = p[1][:, :-1].copy()
    try:
        out = _core.sample(
            cell,
            p,
            n,
            start,
            end,
            max_steps,
            temperature=temperature,
            top_k=top_k,
            prefix=prefix,
            seed=seed,
            banned=banned,
            top_p=top_p,
        )
    except ALLOWED:
        return
    assert len(out) == n
    for seq in out:
        assert len(seq) <= max_steps and all(0 <= i < V and i != end and i not in banned for i in seq)


# -- threads ----------------------------------------------------------------------------------


@fault(
    "several Python threads sample from one model at once",
    "each gets exactly what a serial call gives; the kernels release the GIL, so the calls run in parallel",
)
def test_threads_sampling_from_one_model_get_the_serial_results():
    model = make_model("lstm", hidden=64, layers=2, seed=7)
    seeds = list(range(16))
    serial = {s: model.sample(n=32, seed=s, max_len=20, temperature=0.9) for s in seeds}
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(mine):
        try:
            barrier.wait()
            for s in mine:
                results[s] = model.sample(n=32, seed=s, max_len=20, temperature=0.9)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(seeds[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == serial


def test_threads_training_steps_on_one_model_compute_the_serial_losses():
    model = make_model("gru", hidden=32, layers=1, seed=1)
    p = model.params_list()
    batches = [batch(T=8, B=4, seed=s) for s in range(8)]
    for i, (ids, targets, lengths) in enumerate(batches):
        batches[i] = (np.minimum(ids, len(model.vocab) - 1), np.minimum(targets, len(model.vocab) - 1), lengths)
    serial = [_core.forward_backward("gru", p, *b)[0] for b in batches]
    got = [None] * len(batches)

    def worker(i):
        got[i] = _core.forward_backward("gru", p, *batches[i])[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == serial
