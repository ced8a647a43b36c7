"""charrnn.scratch: the from-scratch numpy training code the guide shows."""

import numpy as np
import pytest

import charrnn
from charrnn import _core, reference, scratch

NAMES = ["Анна", "Иван", "Ольга", "Пётр", "Мария", "Олег", "Нина", "Игорь"]
VOCAB = charrnn.Vocab.from_items(NAMES)


def _batch():
    return charrnn.data.make_batch([VOCAB.encode(n) for n in NAMES[:4]])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_init_params_are_the_models_weights_in_float64(cell):
    params = scratch.init_params(VOCAB, cell, hidden=8, layers=2, embed=4, seed=3)
    model = charrnn.CharRNN(VOCAB, cell=cell, hidden=8, layers=2, embed=4, seed=3)
    assert all(p.dtype == np.float64 for p in params)
    for p, q in zip(params, model.params_list(), strict=True):
        np.testing.assert_array_equal(p, q.astype(np.float64))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradient_check_passes_for_the_reference_backward_pass(cell):
    batch = _batch()
    params = scratch.init_params(VOCAB, cell, hidden=6, layers=2, embed=4)

    def loss_and_grads(p):
        loss, _, grads, _, _ = reference.forward_backward(cell, p, batch.ids, batch.targets, batch.lengths)
        return loss, grads

    assert scratch.gradient_check(loss_and_grads, params, n=40) < 1e-4


def test_gradient_check_catches_a_wrong_gradient():
    batch = _batch()
    params = scratch.init_params(VOCAB, "rnn", hidden=6, embed=4)

    def off_by_two_percent(p):
        loss, _, grads, _, _ = reference.forward_backward("rnn", p, batch.ids, batch.targets, batch.lengths)
        return loss, [g * 1.02 for g in grads]

    assert scratch.gradient_check(off_by_two_percent, params, n=10) > 5e-3


def test_adam_first_step_moves_every_weight_by_lr_against_its_gradient_sign():
    p = [np.array([1.0, -2.0, 0.5])]
    step = scratch.adam(p, lr=0.1)
    step([np.array([3.0, -0.01, 0.0])])
    # At t=1 the bias-corrected m/sqrt(v) is sign(g) (0 for a zero gradient).
    np.testing.assert_allclose(p[0], [0.9, -1.9, 0.5], atol=1e-6)


def test_train_lowers_the_loss_and_the_kernels_agree_on_the_trained_weights():
    params = scratch.init_params(VOCAB, "rnn", hidden=16, embed=8)
    losses = scratch.train("rnn", params, NAMES, VOCAB, steps=150, batch_size=8, lr=1e-2)
    assert len(losses) == 150
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    batch = _batch()
    ref = reference.forward_backward("rnn", params, batch.ids, batch.targets, batch.lengths, compute_grad=False)[0]
    rust = _core.forward_backward(
        "rnn", [p.astype(np.float32) for p in params], batch.ids, batch.targets, batch.lengths, compute_grad=False
    )[0]
    assert rust == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_greedy_sampling_matches_the_rust_sampler_with_top_k_1(cell):
    params = scratch.init_params(VOCAB, cell, hidden=16, layers=2, embed=8, seed=1)
    scratch.train(cell, params, NAMES, VOCAB, steps=60, batch_size=8, lr=1e-2)
    ours = scratch.sample(cell, params, VOCAB, n=3, greedy=True, max_len=12)
    drawn = _core.sample(
        cell,
        [p.astype(np.float32) for p in params],
        3,
        VOCAB.bos_id,
        VOCAB.eos_id,
        12,
        top_k=1,
        banned=[VOCAB.pad_id, VOCAB.bos_id],
    )
    assert ours == [VOCAB.decode(d) for d in drawn]


def test_sampling_is_reproducible_and_refuses_a_bad_temperature():
    params = scratch.init_params(VOCAB, "lstm", hidden=8, embed=4)
    assert scratch.sample("lstm", params, VOCAB, n=5, seed=7) == scratch.sample("lstm", params, VOCAB, n=5, seed=7)
    with pytest.raises(ValueError, match="temperature"):
        scratch.sample("lstm", params, VOCAB, temperature=0.0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_grad_norm_by_distance_matches_finite_differences(cell):
    rng = np.random.default_rng(0)
    T, B, In, H = 6, 1, 3, 4
    G = reference.GATES[cell]
    w = [rng.uniform(-0.5, 0.5, s) for s in ((G * H, In), (G * H, H), (G * H,), (G * H,))]
    x = rng.standard_normal((T, B, In))
    norms = scratch.grad_norm_by_distance(cell, *w, x, seed=5)
    assert norms.shape == (T,)
    u = np.random.default_rng(5).standard_normal((B, H))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    c0 = np.zeros((B, H)) if cell == "lstm" else None

    def loss(xx):
        out = reference.layer_forward(cell, xx, np.full(B, T), *w, np.zeros((B, H)), c0)[0]
        return float((out[T - 1] * u).sum())

    k = 3  # distance in steps: input t = T-1-k
    grad = np.zeros(In)
    for j in range(In):
        e = np.zeros_like(x)
        e[T - 1 - k, 0, j] = 1e-6
        grad[j] = (loss(x + e) - loss(x - e)) / 2e-6
    assert norms[k] == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def _trained(cell="lstm"):
    params = scratch.init_params(VOCAB, cell, hidden=16, embed=8, seed=4)
    scratch.train(cell, params, NAMES, VOCAB, steps=80, batch_size=8, lr=1e-2)
    return params


def test_next_logits_are_the_last_step_of_the_reference_forward_pass():
    params = _trained()
    batch = make = charrnn.data.make_batch([VOCAB.encode("Ольга")])
    loss, seq_loss, _, _, _ = reference.forward_backward(
        "lstm", params, make.ids, make.targets, make.lengths, compute_grad=False
    )
    logp = [reference._log_softmax(scratch.next_logits("lstm", params, VOCAB, "Ольга"[:t])) for t in range(6)]
    total = sum(lp[tgt] for lp, tgt in zip(logp, batch.targets[:, 0], strict=True))
    assert -total == pytest.approx(loss, rel=1e-10)


def test_next_distribution_temperature_top_k_and_top_p():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    np.testing.assert_allclose(scratch.next_distribution(logits), [0.5, 0.3, 0.15, 0.05])
    np.testing.assert_allclose(scratch.next_distribution(logits, top_k=2), [0.625, 0.375, 0, 0])
    np.testing.assert_allclose(
        scratch.next_distribution(logits, top_p=0.79), [0.625, 0.375, 0, 0]
    )  # 0.5 + 0.3 reach 0.79
    np.testing.assert_allclose(scratch.next_distribution(logits, top_p=0.81), [0.5, 0.3, 0.15, 0] / np.float64(0.95))
    cold = scratch.next_distribution(logits, temperature=0.5)
    np.testing.assert_allclose(cold, np.array([0.25, 0.09, 0.0225, 0.0025]) / 0.365)  # p^2, renormalised
    np.testing.assert_allclose(scratch.next_distribution(logits, banned=[0]), [0, 0.6, 0.3, 0.1])


@pytest.mark.parametrize("options", [{"top_k": 3}, {"top_p": 0.6}, {"temperature": 0.5, "top_k": 2}])
def test_the_rust_sampler_draws_only_what_next_distribution_allows(options):
    params = _trained()
    probs = scratch.next_distribution(
        scratch.next_logits("lstm", params, VOCAB, "О"), banned=[VOCAB.pad_id, VOCAB.bos_id], **options
    )
    allowed = probs > 0
    drawn = _core.sample(
        "lstm",
        [p.astype(np.float32) for p in params],
        300,
        VOCAB.bos_id,
        VOCAB.eos_id,
        1,
        prefix=VOCAB.encode("О"),
        banned=[VOCAB.pad_id, VOCAB.bos_id],
        seed=3,
        **options,
    )
    firsts = {d[0] if d else VOCAB.eos_id for d in drawn}
    assert firsts <= set(np.flatnonzero(allowed))
    assert set(np.flatnonzero(probs > 0.05)) <= firsts  # every likely one turns up in 300 draws
