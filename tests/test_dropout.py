"""The dropouts of a training step (charrnn.dropout): the kernels' pass against the numpy
reference and PyTorch given the masks the kernel drew, the masks' own properties, and the
options through training, the CLI and resume."""

from __future__ import annotations

import numpy as np
import pytest

import charrnn
from charrnn import _core, reference
from charrnn.dropout import Dropout, as_dropout

CELLS = ("lstm", "gru", "rnn")
EVERY = dict(dropout=0.3, locked=True, input_dropout=0.25, embed_dropout=0.3, weight_drop=0.5)
KINDS = {
    "per-position": dict(dropout=0.4),
    "variational": dict(dropout=0.4, locked=True),
    "input": dict(input_dropout=0.4),
    "embedding": dict(embed_dropout=0.4),
    "weight": dict(weight_drop=0.5),
    "every": EVERY,
}


def case(cell, conditional=False, layers=2, seed=3):
    rng = np.random.default_rng(seed)
    cats = dict(categories=["a", "b", "c"]) if conditional else {}
    model = charrnn.CharRNN(
        charrnn.Vocab.from_items(["абвгдежз"]), cell=cell, hidden=7, layers=layers, embed=5, seed=seed, **cats
    )
    params, cat_emb = model._core_params()
    V = params[0].shape[0]
    T, B = 6, 4
    ids = rng.integers(0, V, (T, B)).astype(np.int32)
    targets = rng.integers(0, V, (T, B)).astype(np.int32)
    lengths = np.array([6, 2, 5, 3], dtype=np.int32)
    categories = np.array([0, 2, 1, 2], dtype=np.int32) if conditional else None
    return model, params, cat_emb, ids, targets, lengths, categories


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("conditional", [False, True])
def test_the_kernel_pass_with_dropout_is_the_reference_pass_with_its_masks(cell, kind, conditional):
    model, params, cat_emb, ids, targets, lengths, cats = case(cell, conditional)
    h0 = np.random.default_rng(1).normal(size=(2, 4, 7)).astype(np.float32) * 0.5
    out = _core.forward_backward(
        cell,
        params,
        ids,
        targets,
        lengths,
        h0=h0,
        seed=11,
        categories=cats,
        category_embedding=cat_emb,
        details=True,
        **KINDS[kind],
    )
    loss, seq_loss, grads, h_n, _, extra = out
    masks = extra["masks"]
    ref_loss, ref_seq, ref_grads, ref_h, _ = reference.forward_backward(
        cell, params, ids, targets, lengths, h0=h0, categories=cats, category_embedding=cat_emb, masks=masks
    )
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(seq_loss, ref_seq, rtol=1e-5)
    np.testing.assert_allclose(h_n, ref_h, rtol=1e-4, atol=1e-5)
    for k, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
        np.testing.assert_allclose(g, r, rtol=2e-4, atol=2e-5, err_msg=f"grads[{k}]")
    # Without the masks the reference is a different pass: the masks did something.
    plain = reference.forward_backward(
        cell, params, ids, targets, lengths, h0=h0, categories=cats, category_embedding=cat_emb
    )
    assert abs(plain[0] - loss) > 1e-3


def test_the_masks_have_the_shapes_and_values_of_inverted_dropout():
    _, params, _, ids, targets, lengths, _ = case("lstm")
    masks = _core.forward_backward("lstm", params, ids, targets, lengths, seed=5, details=True, **EVERY)[5]["masks"]
    assert masks["embedding"].shape == (params[0].shape[0],)
    assert masks["input"].shape == (4, 5)
    assert [m.shape for m in masks["hidden"]] == [(4, 7), (4, 7)]  # locked: one per sequence
    assert [m.shape for m in masks["recurrent"]] == [(28, 7), (28, 7)]
    for name, p in (("embedding", 0.3), ("input", 0.25)):
        assert set(np.unique(masks[name])) <= {0.0, np.float32(1 / (1 - p))}
    unlocked = _core.forward_backward("lstm", params, ids, targets, lengths, seed=5, dropout=0.3, details=True)[5][
        "masks"
    ]
    assert set(unlocked) == {"hidden"}
    for m in unlocked["hidden"]:
        assert m.shape == (6, 4, 7)
        padding = np.arange(6)[:, None] >= lengths[None, :]
        assert not m[padding].any()  # nothing is drawn where there is no character
        assert (m[~padding] > 0).any() and (m[~padding] == 0).any()


def test_the_masks_drop_about_p_of_the_values():
    rng = np.random.default_rng(0)
    model = charrnn.CharRNN(charrnn.Vocab.from_items(["абв"]), hidden=64, layers=2, embed=32, seed=0)
    params, _ = model._core_params()
    T, B = 20, 50
    ids = rng.integers(0, params[0].shape[0], (T, B)).astype(np.int32)
    lengths = np.full(B, T, dtype=np.int32)
    p = dict(dropout=0.3, locked=True, input_dropout=0.2, weight_drop=0.5)
    masks = _core.forward_backward("lstm", params, ids, ids, lengths, seed=2, compute_grad=False, details=True, **p)[5][
        "masks"
    ]
    for values, rate in (
        (masks["input"], 0.2),
        (np.concatenate(masks["hidden"]), 0.3),
        (np.concatenate(masks["recurrent"]), 0.5),
    ):
        n = values.size
        dropped = float((values == 0).mean())
        assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / n), (rate, dropped, n)


def test_masks_come_from_the_seed_and_each_dropout_keeps_the_others_masks(one_kernel_thread):
    _, params, _, ids, targets, lengths, _ = case("gru")
    run = lambda seed, **kw: _core.forward_backward("gru", params, ids, targets, lengths, seed=seed, details=True, **kw)
    a, b, c = run(4, **EVERY), run(4, **EVERY), run(5, **EVERY)
    assert a[0] == b[0] and a[0] != c[0]
    for key in ("embedding", "input"):
        np.testing.assert_array_equal(a[5]["masks"][key], b[5]["masks"][key])
        assert not np.array_equal(a[5]["masks"][key], c[5]["masks"][key])
    # The hidden masks come from their own stream: switching the other dropouts on or off
    # leaves them (and so the numbers of a run with --dropout alone) as they were.
    alone = run(4, dropout=0.3, locked=True)[5]["masks"]["hidden"]
    for x, y in zip(alone, a[5]["masks"]["hidden"], strict=True):
        np.testing.assert_array_equal(x, y)
    # Asking for the masks changes no number (with one thread: on more, the pass without
    # details is split across them, which changes the rounding of its sums).
    per_position = run(4, dropout=0.3)
    assert per_position[0] == _core.forward_backward("gru", params, ids, targets, lengths, seed=4, dropout=0.3)[0]


@pytest.mark.parametrize("key", ["dropout", "input_dropout", "embed_dropout", "weight_drop"])
@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan")])
def test_a_probability_outside_0_1_is_a_value_error_naming_it(key, bad):
    _, params, _, ids, targets, lengths, _ = case("lstm")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        _core.forward_backward("lstm", params, ids, targets, lengths, **{key: bad})
    field = {"dropout": "hidden", "input_dropout": "input", "embed_dropout": "embedding", "weight_drop": "weight"}[key]
    with pytest.raises(ValueError, match=key):
        Dropout(**{field: bad})
    with pytest.raises(ValueError, match=key):
        charrnn.TrainConfig.for_mode("names", **{key: bad}).check()


def test_dropout_values_are_typed():
    with pytest.raises(TypeError):
        Dropout(weight="0.5")
    with pytest.raises(TypeError):
        Dropout(variational=1)
    with pytest.raises(TypeError):
        as_dropout(True)
    assert as_dropout(0.25) == Dropout(hidden=0.25)
    assert not Dropout(variational=True).active and Dropout(weight=0.1).active


@pytest.mark.parametrize("cell", CELLS)
def test_pytorch_computes_the_same_loss_and_gradients_with_the_same_masks(cell):
    torch = pytest.importorskip("torch")
    _, params, _, ids, targets, lengths, _ = case(cell, layers=2)
    loss, _, grads, _, _, extra = _core.forward_backward(
        cell, params, ids, targets, lengths, seed=21, details=True, **EVERY
    )
    masks = extra["masks"]
    tp = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    m = {
        k: (
            torch.tensor(v, dtype=torch.float64)
            if not isinstance(v, list)
            else [torch.tensor(x, dtype=torch.float64) for x in v]
        )
        for k, v in masks.items()
    }
    T, B = ids.shape
    H = params[2].shape[1]
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    table = tp[0] * m["embedding"][:, None]
    x = table[torch.tensor(ids, dtype=torch.long)] * m["input"][None]  # [T, B, E]
    lens = torch.tensor(lengths, dtype=torch.long)
    for k in range(2):
        w_ih, w_hh, b_ih, b_hh = tp[1 + 4 * k : 5 + 4 * k]
        if k > 0:
            x = x * m["hidden"][k - 1][None]
        layer = module(w_ih.shape[1], H).double()
        weights = {
            "weight_ih_l0": w_ih,
            "weight_hh_l0": w_hh * m["recurrent"][k],
            "bias_ih_l0": b_ih,
            "bias_hh_l0": b_hh,
        }
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)
        out, _ = torch.func.functional_call(layer, weights, (packed,))
        x, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    x = x * m["hidden"][1][None]
    logits = x @ tp[-2].T + tp[-1]
    real = torch.arange(T)[:, None] < lens[None, :]
    nll = torch.nn.functional.cross_entropy(
        logits[real], torch.tensor(targets, dtype=torch.long)[real], reduction="sum"
    )
    nll.backward()
    assert loss == pytest.approx(nll.item(), rel=1e-5)
    for k, (g, t) in enumerate(zip(grads, tp, strict=True)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=2e-4, atol=2e-5, err_msg=f"grads[{k}]")


def test_training_with_every_dropout_resumes_bit_for_bit(tmp_path):
    names = charrnn.datasets.russian_names("first")[:300]
    options = dict(
        epochs=None,
        batch_size=16,
        variational=True,
        dropout=0.2,
        input_dropout=0.1,
        embed_dropout=0.1,
        weight_drop=0.3,
        seed=3,
    )

    def fresh():
        return charrnn.CharRNN(charrnn.Vocab.from_items(names), hidden=16, embed=8, seed=1)

    whole = fresh()
    charrnn.train(whole, names[:250], names[250:], max_steps=40, **options)
    ckpt = tmp_path / "run.ckpt.safetensors"
    first = fresh()
    charrnn.train(first, names[:250], names[250:], max_steps=20, checkpoint=ckpt, **options)
    resumed, _ = charrnn.resume(ckpt, names[:250], names[250:], max_steps=40)
    for a, b in zip(whole.params_list(), resumed.params_list(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The dropouts did something: without them the same run ends elsewhere.
    plain = fresh()
    charrnn.train(plain, names[:250], names[250:], max_steps=40, **{**options, "weight_drop": 0.0})
    assert not np.array_equal(plain.params_list()[2], whole.params_list()[2])


@pytest.mark.parametrize("cell", CELLS)
def test_the_nll_of_every_position_adds_up_to_each_sequence_and_is_its_prefix_difference(cell):
    _, params, _, ids, targets, lengths, _ = case(cell)
    seq_loss, extra = (lambda r: (r[1], r[5]))(
        _core.forward_backward(cell, params, ids, targets, lengths, compute_grad=False, details=True)
    )
    nll = extra["position_nll"]
    assert nll.shape == ids.shape
    np.testing.assert_allclose(nll.sum(axis=0), seq_loss, rtol=1e-6)
    padding = np.arange(ids.shape[0])[:, None] >= lengths[None, :]
    assert not nll[padding].any() and (nll[~padding] > 0).all()
    # The NLL at step t is what the sequence cut after t+1 steps adds to the one cut after t.
    for t in range(1, ids.shape[0]):
        cut = np.minimum(lengths, t + 1).astype(np.int32)
        shorter = np.minimum(lengths, t).astype(np.int32)
        longer_loss = _core.forward_backward(cell, params, ids, targets, cut, compute_grad=False)[1]
        shorter_loss = _core.forward_backward(cell, params, ids, targets, shorter, compute_grad=False)[1]
        np.testing.assert_allclose(longer_loss - shorter_loss, nll[t], rtol=1e-4, atol=1e-5)
