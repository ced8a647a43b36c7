"""Weight decay (AdamW) and the moving average of the weights (EMA): the kernels against a
numpy reference of their formulas (and AdamW against ``torch.optim.AdamW`` when torch is
installed), which arrays are decayed, and that with ``ema`` the evaluations and the saved
models are the average's while training goes on from the raw weights."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open

import charrnn
from charrnn import CharRNN, Vocab, _core, train, train_text
from charrnn.checkpoint import _read
from charrnn.text import text_vocab
from charrnn.training import trainer as trainer_module
from charrnn.training.optim import Adam, WeightAverage, weight_decay_mask
from conftest import TINY_NAMES
from test_train import ITEMS

pytestmark = pytest.mark.usefixtures("one_kernel_thread")

KW = dict(epochs=3, batch_size=16, lr=1e-2, seed=4, dropout=0.0)


@pytest.fixture(scope="module")
def data():
    train_items, val_items = charrnn.split(ITEMS, val_fraction=0.15, seed=0)
    return train_items, val_items, Vocab.from_items(ITEMS)


def fresh(vocab, **kw):
    return CharRNN(vocab, **{"cell": "lstm", "hidden": 16, "layers": 2, "embed": 8, "seed": 0, **kw})


def read(path, prefix=""):
    with safe_open(str(path), framework="numpy") as f:
        return {k[len(prefix) :]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}


# -- AdamW -------------------------------------------------------------------------------


def adamw_reference(p0, grads, lrs, wd, betas=(0.9, 0.999), eps=1e-8):
    """AdamW (Loshchilov & Hutter, as torch.optim.AdamW orders it) in float64: decay, then Adam."""
    b1, b2 = betas
    p, m, v = p0.astype(np.float64), np.zeros(p0.shape), np.zeros(p0.shape)
    for t, (g, lr) in enumerate(zip(grads, lrs, strict=True), 1):
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1**t) * m / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def test_adamw_matches_the_formula_with_a_per_array_mask_and_a_changing_rate():
    rng = np.random.default_rng(1)
    w0, b0 = rng.normal(size=(7, 5)).astype(np.float32), rng.normal(size=9).astype(np.float32)
    w, b = w0.copy(), b0.copy()
    opt = Adam([w, b], lr=0.05, betas=(0.9, 0.99), weight_decay=0.3, decay_mask=[True, False])
    grads = [[rng.normal(size=w.shape), rng.normal(size=b.shape)] for _ in range(6)]
    lrs = [0.05, 0.05, 0.02, 0.02, 0.01, 0.03]
    for (gw, gb), lr in zip(grads, lrs, strict=True):
        opt.lr = lr
        opt.step([gw.astype(np.float32), gb.astype(np.float32)])
    np.testing.assert_allclose(w, adamw_reference(w0, [g[0] for g in grads], lrs, 0.3, (0.9, 0.99)), rtol=2e-5)
    np.testing.assert_allclose(b, adamw_reference(b0, [g[1] for g in grads], lrs, 0.0, (0.9, 0.99)), rtol=2e-5)
    # The decay is there: without it the weights would end elsewhere.
    assert not np.allclose(w, adamw_reference(w0, [g[0] for g in grads], lrs, 0.0, (0.9, 0.99)), rtol=1e-3)


def test_adamw_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed (it is never a dependency)")
    rng = np.random.default_rng(2)
    w0, b0 = rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    tw, tb = torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)
    ref = torch.optim.AdamW(
        [{"params": [tw], "weight_decay": 0.2}, {"params": [tb], "weight_decay": 0.0}], lr=0.03, foreach=False
    )
    w, b = w0.copy(), b0.copy()
    opt = Adam([w, b], lr=0.03, weight_decay=0.2, decay_mask=[True, False])
    for step in range(8):
        lr = 0.03 if step < 4 else 0.01
        for group in ref.param_groups:
            group["lr"] = lr
        opt.lr = lr
        gw, gb = rng.normal(size=w.shape).astype(np.float32), rng.normal(size=b.shape).astype(np.float32)
        tw.grad, tb.grad = torch.from_numpy(gw.copy()), torch.from_numpy(gb.copy())
        ref.step()
        opt.step([gw, gb])
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, tb.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_zero_weight_decay_is_bit_for_bit_plain_adam():
    runs = []
    for decay in (None, 0.0, [0.0, 0.0]):
        rng = np.random.default_rng(3)  # the same weights and gradients in every run
        p = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(2)]
        m, v = [np.zeros_like(x) for x in p], [np.zeros_like(x) for x in p]
        for t in range(1, 4):
            g = [rng.normal(size=x.shape).astype(np.float32) for x in p]
            _core.adam_step(p, g, m, v, 0.01, t, grad_scale=0.5, max_norm=1.0, weight_decay=decay)
        runs.append([x.view(np.uint32).copy() for x in p])
    for run in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], run, strict=True))


@pytest.mark.parametrize(
    "decay,error,word",
    [
        (-0.1, ValueError, "finite number >= 0"),
        (float("nan"), ValueError, "finite number >= 0"),
        ([0.1], ValueError, "one value per parameter"),
        ("a lot", TypeError, "number or a list"),
    ],
)
def test_adam_step_refuses_bad_weight_decay_and_changes_nothing(decay, error, word):
    p = [np.ones(3, np.float32), np.ones(2, np.float32)]
    m, v = [np.zeros_like(x) for x in p], [np.zeros_like(x) for x in p]
    with pytest.raises(error, match=word):
        _core.adam_step(p, [np.ones_like(x) for x in p], m, v, 0.01, 1, weight_decay=decay)
    assert all((x == 1).all() for x in p) and all((x == 0).all() for x in m)


def test_weight_decay_applies_to_the_weight_matrices_only():
    model = CharRNN(Vocab.from_items(["аб", "вг"]), layers=2, hidden=4, embed=2, categories=["a", "b"])
    names = list(model.param_shapes())
    decayed = {name for name, on in zip(names, weight_decay_mask(names), strict=True) if on}
    assert decayed == {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "fc.weight"}


def test_the_trainer_decays_the_matrices_and_leaves_biases_and_embeddings(data):
    """After one step from the same weights and batch, the decayed run differs from the
    plain one by ``-lr * wd * p0`` in the matrices and not at all elsewhere."""
    train_items, _, vocab = data
    initial = fresh(vocab).params
    plain, decayed = fresh(vocab), fresh(vocab)
    train(plain, train_items, **{**KW, "max_steps": 1})
    train(decayed, train_items, **{**KW, "max_steps": 1}, weight_decay=0.5)
    for name, on in zip(plain.params, weight_decay_mask(list(plain.params)), strict=True):
        if on:
            np.testing.assert_allclose(
                decayed.params[name] - plain.params[name], -1e-2 * 0.5 * initial[name], rtol=1e-3, atol=1e-6
            )
        else:
            assert np.array_equal(decayed.params[name], plain.params[name]), name


def test_adam_hyperparameters_keep_weight_decay_and_old_ones_load_as_zero():
    opt = Adam([np.zeros(2, np.float32)], weight_decay=0.1)
    hyper = opt.hyperparameters()
    assert hyper["weight_decay"] == 0.1
    other = Adam([np.zeros(2, np.float32)])
    other.load(hyper, [np.zeros(2, np.float32)], [np.zeros(2, np.float32)])
    assert other.weight_decay == 0.1
    old = {k: v for k, v in hyper.items() if k != "weight_decay"}  # written before AdamW
    opt.load(old, [np.zeros(2, np.float32)], [np.zeros(2, np.float32)])
    assert opt.weight_decay == 0.0


# -- the EMA kernel ------------------------------------------------------------------------


def test_ema_kernel_is_the_formula_in_float32():
    rng = np.random.default_rng(4)
    avg = [rng.normal(size=(13, 7)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    want = [a.copy() for a in avg]
    for decay in (0.1, 0.9, 0.999, 0.0, 1.0):
        params = [rng.normal(size=a.shape).astype(np.float32) for a in avg]
        _core.ema_update(avg, params, decay)
        d = np.float32(decay)
        rest = np.float32(1.0 - float(d))
        want = [d * w + rest * p for w, p in zip(want, params, strict=True)]
        for a, w in zip(avg, want, strict=True):
            np.testing.assert_array_equal(a, w)  # the same float32 operations, no fused multiply-add


@pytest.mark.parametrize(
    "args,error,word",
    [
        (lambda a, p: (a, p, 1.5), ValueError, "decay must be in"),
        (lambda a, p: (a, p, float("nan")), ValueError, "decay must be in"),
        (lambda a, p: (a, p[:1], 0.5), ValueError, "pair up"),
        (lambda a, p: (a, [p[0], np.ones(4, np.float32)], 0.5), ValueError, "values"),
        (lambda a, p: (a, tuple(p), 0.5), TypeError, "list"),
        (lambda a, p: (a, [p[0], p[1].astype(np.float64)], 0.5), TypeError, "float32"),
        (lambda a, p: (a, [a[0], p[1]], 0.5), ValueError, "used twice"),
    ],
)
def test_ema_kernel_refuses_bad_arguments_and_changes_nothing(args, error, word):
    avg, params = [np.zeros(3, np.float32), np.zeros(2, np.float32)], [np.ones(3, np.float32), np.ones(2, np.float32)]
    with pytest.raises(error, match=word):
        _core.ema_update(*args(avg, params))
    assert all((a == 0).all() for a in avg)


def test_the_warm_up_shortens_the_average_early_on():
    ema = WeightAverage([np.zeros(2, np.float32)], 0.999)
    assert ema.decay_at(1) == pytest.approx(2 / 11)
    assert ema.decay_at(100) == pytest.approx(101 / 110)
    assert ema.decay_at(100_000) == 0.999
    with pytest.raises(ValueError, match="EMA decay"):
        WeightAverage([np.zeros(2, np.float32)], 1.0)


def test_swapped_in_puts_the_raw_weights_back_bit_for_bit_even_on_an_error():
    p = np.array([1.0, 2.0], np.float32)
    ema = WeightAverage([p], 0.5)
    ema.average[0][:] = [7.0, 8.0]
    with pytest.raises(RuntimeError):
        with ema.swapped_in():
            assert p.tolist() == [7.0, 8.0]
            raise RuntimeError
    assert p.tolist() == [1.0, 2.0]


# -- the EMA in training ---------------------------------------------------------------------


def recording_raw_weights(monkeypatch) -> list[list[np.ndarray]]:
    """The trainer's optimizer, recording the raw weights after every step."""
    after: list[list[np.ndarray]] = []

    class Recording(Adam):
        def step(self, *args, **kwargs):
            norm = super().step(*args, **kwargs)
            after.append([p.copy() for p in self.params])
            return norm

    monkeypatch.setattr(trainer_module, "Adam", Recording)
    return after


def numpy_ema(initial: list[np.ndarray], raw_after: list[list[np.ndarray]], decay: float) -> list[list[np.ndarray]]:
    """The documented average after each step, in numpy: the initial weights, then
    ``d_t a + (1 - d_t) p`` with ``d_t = min(decay, (1 + t) / (10 + t))``."""
    avg, out = [p.copy() for p in initial], []
    for t, raw in enumerate(raw_after, 1):
        d = np.float32(min(decay, (1 + t) / (10 + t)))
        rest = np.float32(1.0 - float(d))
        avg = [d * a + rest * p for a, p in zip(avg, raw, strict=True)]
        out.append(avg)
    return out


def test_evaluations_the_best_model_and_the_end_are_the_moving_average(tmp_path, monkeypatch, data):
    train_items, val_items, vocab = data
    raw_after = recording_raw_weights(monkeypatch)
    model, out, ckpt = fresh(vocab), tmp_path / "best.safetensors", tmp_path / "run.ckpt.safetensors"
    initial = [p.copy() for p in model.params_list()]
    history = train(model, train_items, val_items, **KW, ema=0.9, out=out, checkpoint=ckpt)
    averages = numpy_ema(initial, raw_after, 0.9)
    names = list(model.params)

    best = history[history.best_index]
    want = dict(zip(names, averages[best.step - 1], strict=True))
    saved = read(out)
    for name in names:
        np.testing.assert_array_equal(saved[name], want[name])  # --out: the average, not the raw weights
        np.testing.assert_array_equal(model.params[name], want[name])  # and the model at the end
    raw = dict(zip(names, raw_after[best.step - 1], strict=True))
    assert not np.array_equal(raw["fc.weight"], want["fc.weight"])
    # Each recorded validation NLL is the average's.
    for record in history:
        with_average = fresh(vocab)
        for p, a in zip(with_average.params_list(), averages[record.step - 1], strict=True):
            np.copyto(p, a)
        assert record.val_nll == with_average.evaluate(val_items, batch_size=256)["nll"]
    with_raw = fresh(vocab)
    for p, r in zip(with_raw.params_list(), raw_after[best.step - 1], strict=True):
        np.copyto(p, r)
    assert with_raw.evaluate(val_items, batch_size=256)["nll"] != best.val_nll
    # The checkpoint: the raw weights to go on from, and the average beside them.
    state = read(ckpt)
    stored_ema = read(ckpt, "ema.")
    for name, last_raw, last_avg in zip(names, raw_after[-1], averages[-1], strict=True):
        np.testing.assert_array_equal(state[name], last_raw)
        np.testing.assert_array_equal(stored_ema[name], last_avg)


def test_without_validation_the_model_ends_with_the_average_of_the_last_weights(tmp_path, monkeypatch, data):
    train_items, _, vocab = data
    raw_after = recording_raw_weights(monkeypatch)
    model, out = fresh(vocab), tmp_path / "m.safetensors"
    initial = [p.copy() for p in model.params_list()]
    train(model, train_items, **{**KW, "epochs": 2}, ema=0.95, out=out)
    last = numpy_ema(initial, raw_after, 0.95)[-1]
    saved = read(out)
    for name, avg in zip(model.params, last, strict=True):
        np.testing.assert_array_equal(model.params[name], avg)
        np.testing.assert_array_equal(saved[name], avg)


def test_text_mode_evaluates_the_average_too(monkeypatch):
    text = "the cat sat on the mat. a dog ran to the cat. " * 30
    raw_after = recording_raw_weights(monkeypatch)
    model = CharRNN(text_vocab(text), hidden=16, layers=1, embed=8, seed=0)
    initial = [p.copy() for p in model.params_list()]
    history = train_text(model, text[:1000], text[1000:1300], epochs=2, batch_size=4, seq_len=20, ema=0.9)
    best = history[history.best_index]
    for p, avg in zip(model.params_list(), numpy_ema(initial, raw_after, 0.9)[best.step - 1], strict=True):
        np.testing.assert_array_equal(p, avg)


# -- bad values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,error,word",
    [
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": float("inf")}, ValueError, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": "0.1"}, TypeError, "weight_decay must be a number"),
        ({"weight_decay": True}, TypeError, "weight_decay must be a number"),
        ({"weight_decay": 200.0, "lr": 0.01}, ValueError, "weight_decay \\* lr must be below 1"),
        ({"ema": 1.0}, ValueError, "ema must be in \\[0, 1\\)"),
        ({"ema": -0.5}, ValueError, "ema must be in \\[0, 1\\)"),
        ({"ema": float("nan")}, ValueError, "ema must be in \\[0, 1\\)"),
        ({"ema": None}, TypeError, "ema must be a number"),
    ],
)
@pytest.mark.parametrize("mode", ["names", "text"])
def test_bad_weight_decay_and_ema_raise_typed_errors(kwargs, error, word, mode):
    if mode == "names":
        call = lambda: train(CharRNN(Vocab.from_items(ITEMS), hidden=4, embed=2), ITEMS, **kwargs)  # noqa: E731
    else:
        call = lambda: train_text(CharRNN(text_vocab("abc abc"), hidden=4, embed=2), "abc abc" * 20, **kwargs)  # noqa: E731
    with pytest.raises(error, match=word):
        call()


def test_the_command_line_passes_both_options_to_the_run_and_its_checkpoint(tmp_path):
    (tmp_path / "names.txt").write_text("\n".join(TINY_NAMES * 2) + "\n", encoding="utf-8")
    args = ["--hidden", "8", "--embed", "4", "--samples", "0", "--json", "--max-steps", "4"]
    result = subprocess.run(
        [sys.executable, "-m", "charrnn", "--threads", "1", "train", "names.txt", *args]
        + ["--weight-decay", "0.01", "--ema", "0.9", "--out", "m.safetensors"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "weight decay 0.01, ema 0.9" in result.stderr
    metadata, tensors = _read(str(tmp_path / "m.ckpt.safetensors"))
    options = json.loads(metadata["training_state"])["options"]
    assert (options["weight_decay"], options["ema"]) == (0.01, 0.9)
    assert any(name.startswith("ema.") for name in tensors)
    saved = json.loads(_read(str(tmp_path / "m.safetensors"))[0]["training"])
    assert (saved["weight_decay"], saved["ema"]) == (0.01, 0.9)
