"""Training a character model from scratch in plain numpy, on top of :mod:`charrnn.reference`.

:mod:`charrnn.reference` computes a model's loss and its gradients (backpropagation
through time) exactly as the Rust kernels do.  This module adds the rest of what a
from-scratch model needs, written to be read (the guide in ``docs/guide/`` walks through
it):

* :func:`init_params` — the starting weights (PyTorch's initialisation, as
  :class:`charrnn.CharRNN` draws them), in float64;
* :func:`gradient_check` — analytic gradients against central finite differences;
* :func:`adam` — the optimizer, as a closure that updates the weights in place;
* :func:`train` — the loop: batch, loss and gradients, clipping, step;
* :func:`next_logits`, :func:`next_distribution`, :func:`sample` — generation one character
  at a time from the forward pass, with temperature, top-k and top-p (nucleus) filtering;
* :func:`grad_norm_by_distance` — how strongly the loss at the last step depends on the
  input ``k`` steps earlier (vanishing gradients, measured).

Everything here is slow and small on purpose; the package trains with the Rust kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np

from . import reference
from .data import make_batch
from .model import CharRNN
from .vocab import Vocab

__all__ = [
    "init_params",
    "gradient_check",
    "adam",
    "train",
    "next_logits",
    "next_distribution",
    "sample",
    "grad_norm_by_distance",
]

LossAndGrads = Callable[[list[np.ndarray]], tuple[float, list[np.ndarray]]]


def init_params(vocab: Vocab, cell: str = "rnn", hidden: int = 64, layers: int = 1, embed: int = 16, seed: int = 0):
    """The weights of a new model as the list ``reference.forward_backward`` takes, float64.

    ``[embedding [V, E], (w_ih, w_hh, b_ih, b_hh) per layer, fc_weight [V, H], fc_bias [V]]``,
    drawn exactly as ``CharRNN(vocab, cell, hidden, layers, embed, seed)`` draws them.
    """
    model = CharRNN(vocab, cell=cell, hidden=hidden, layers=layers, embed=embed, seed=seed)
    return [p.astype(np.float64) for p in model.params_list()]


def gradient_check(
    loss_and_grads: LossAndGrads, params: Sequence[np.ndarray], n: int = 30, eps: float = 1e-5, seed: int = 0
) -> float:
    """The largest relative error between analytic and numerical gradients.

    ``loss_and_grads(params)`` returns ``(loss, grads)``.  ``n`` coordinates are drawn at
    random (uniformly over all weights); for each, the numerical gradient is the central
    difference ``(L(w + eps) - L(w - eps)) / (2 eps)``, and the error is
    ``|analytic - numerical| / max(|analytic| + |numerical|, 1e-8)``.  In float64 a correct
    backward pass gives 1e-5 or less (the worst case is a tiny gradient); a wrong one,
    1e-2 and more.
    """
    params = [np.array(p, dtype=np.float64) for p in params]
    _, grads = loss_and_grads(params)
    sizes = np.array([p.size for p in params])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for flat in rng.integers(0, sizes.sum(), n):
        k = int(np.searchsorted(np.cumsum(sizes), flat, side="right"))
        i = np.unravel_index(flat - (sizes[:k].sum() if k else 0), params[k].shape)
        old = params[k][i]
        params[k][i] = old + eps
        up = loss_and_grads(params)[0]
        params[k][i] = old - eps
        down = loss_and_grads(params)[0]
        params[k][i] = old
        numerical = (up - down) / (2 * eps)
        analytic = float(grads[k][i])
        worst = max(worst, abs(analytic - numerical) / max(abs(analytic) + abs(numerical), 1e-8))
    return worst


def adam(
    params: Sequence[np.ndarray], lr: float = 3e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> Callable[[Sequence[np.ndarray]], None]:
    """Adam (Kingma & Ba): returns ``step(grads)``, which updates ``params`` in place.

    Each weight keeps a running mean ``m`` of its gradient and ``v`` of its square; the
    step is ``lr * m̂ / (sqrt(v̂) + eps)``, with ``m̂``, ``v̂`` corrected for starting at 0.
    """
    b1, b2 = betas
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0

    def step(grads: Sequence[np.ndarray]) -> None:
        nonlocal t
        t += 1
        for p, g, mk, vk in zip(params, grads, m, v, strict=True):
            mk[:] = b1 * mk + (1 - b1) * g
            vk[:] = b2 * vk + (1 - b2) * g * g
            p -= lr * (mk / (1 - b1**t)) / (np.sqrt(vk / (1 - b2**t)) + eps)

    return step


def train(
    cell: str,
    params: list[np.ndarray],
    items: Sequence[str],
    vocab: Vocab,
    steps: int = 500,
    batch_size: int = 32,
    lr: float = 3e-3,
    clip: Optional[float] = 5.0,
    seed: int = 0,
) -> list[float]:
    """Train ``params`` in place on ``items`` (names); returns the loss of every step.

    Each step draws ``batch_size`` items at random, pads them into one time-major batch
    (start marker first, end marker as the last target), computes the mean loss per
    character and its gradients with :func:`charrnn.reference.forward_backward`, scales
    the gradients down when their global norm exceeds ``clip`` and takes an Adam step.
    """
    rng = np.random.default_rng(seed)
    encoded = [vocab.encode(item) for item in items]
    step = adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        batch = make_batch([encoded[i] for i in rng.integers(0, len(encoded), batch_size)])
        loss_sum, _, grads, _, _ = reference.forward_backward(cell, params, batch.ids, batch.targets, batch.lengths)
        n = batch.n_chars
        grads = [g / n for g in grads]  # the loss is a sum over characters: take the mean
        norm = float(np.sqrt(sum((g * g).sum() for g in grads)))
        if clip is not None and norm > clip:
            grads = [g * (clip / norm) for g in grads]
        step(grads)
        losses.append(loss_sum / n)
    return losses


def next_logits(cell: str, params: Sequence[np.ndarray], vocab: Vocab, prefix: str = "") -> np.ndarray:
    """The logits ``[V]`` of the character after ``<s>`` + ``prefix``, from a zero state."""
    ids = np.array([vocab.bos_id, *vocab.encode(prefix)])
    x = params[0][ids][:, None]  # [T, 1, E]
    for k in range((len(params) - 3) // 4):
        w_ih, w_hh, b_ih, b_hh = params[1 + 4 * k : 5 + 4 * k]
        zeros = np.zeros((1, w_hh.shape[1]))
        x = reference.layer_forward(cell, x, [len(ids)], w_ih, w_hh, b_ih, b_hh, zeros, zeros)[0]
    return x[-1, 0] @ params[-2].T + params[-1]


def next_distribution(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    banned: Sequence[int] = (),
) -> np.ndarray:
    """What the sampler draws from: ``softmax(logits / temperature)`` over the last axis,
    ``banned`` ids removed, then only the ``top_k`` most likely ids kept, then only the
    fewest most likely ids whose probabilities add up to ``top_p`` (the nucleus), and the
    rest renormalised — the rules of ``_core.sample``.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    z = np.array(logits, dtype=np.float64) / temperature
    z[..., list(banned)] = -np.inf
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    order = np.argsort(-p, axis=-1, kind="stable")  # most likely first
    ranked = np.take_along_axis(p, order, axis=-1)
    keep = np.ones_like(ranked, dtype=bool)
    if top_k is not None:
        keep[..., top_k:] = False
    if top_p is not None:
        before = np.cumsum(ranked, axis=-1) - ranked  # the mass of the ids ranked above
        keep &= before < top_p  # the smallest set that reaches top_p
    ranked = np.where(keep, ranked, 0.0)
    out = np.zeros_like(p)
    np.put_along_axis(out, order, ranked, axis=-1)
    return out / out.sum(axis=-1, keepdims=True)


def sample(
    cell: str,
    params: Sequence[np.ndarray],
    vocab: Vocab,
    n: int = 10,
    temperature: float = 1.0,
    max_len: int = 20,
    seed: int = 0,
    greedy: bool = False,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
) -> list[str]:
    """Generate ``n`` names one character at a time, from the forward pass alone.

    All ``n`` start from a zero state and the start marker; at each step the last layer's
    state goes through the output layer, :func:`next_distribution` turns the logits into the
    next character's distribution (temperature, ``top_k``, ``top_p``; padding and the start
    marker excluded), one id is drawn (``greedy``: the most likely) and fed back in.  A name ends at the end marker or after
    ``max_len`` characters.
    """
    rng = np.random.default_rng(seed)
    emb, fc_w, fc_b = params[0], params[-2], params[-1]
    layers = [params[1 + 4 * k : 5 + 4 * k] for k in range((len(params) - 3) // 4)]
    H = fc_w.shape[1]
    h = [np.zeros((n, H)) for _ in layers]
    c = [np.zeros((n, H)) for _ in layers]
    ids = np.full(n, vocab.bos_id)
    out: list[list[int]] = [[] for _ in range(n)]
    alive = np.ones(n, dtype=bool)
    for _ in range(max_len):
        x = emb[ids][None]  # [1, n, E]: one time step
        for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
            x, h[k], c_k, _ = reference.layer_forward(
                cell, x, np.ones(n), w_ih, w_hh, b_ih, b_hh, h[k], c[k] if cell == "lstm" else None
            )
            if c_k is not None:
                c[k] = c_k
        logits = x[0] @ fc_w.T + fc_b
        p = next_distribution(logits, temperature, top_k, top_p, banned=[vocab.pad_id, vocab.bos_id])
        ids = p.argmax(axis=1) if greedy else np.array([rng.choice(len(row), p=row) for row in p])
        for b in np.flatnonzero(alive):
            if ids[b] == vocab.eos_id:
                alive[b] = False
            else:
                out[b].append(int(ids[b]))
        if not alive.any():
            break
    return [vocab.decode(o) for o in out]


def grad_norm_by_distance(cell: str, w_ih, w_hh, b_ih, b_hh, x, seed: int = 0) -> np.ndarray:
    """``norms[k]``: how much a loss read at the last step depends on the input ``k`` steps back.

    ``x [T, B, In]`` goes through one layer from a zero state; the loss is ``<u_b, h_T>``
    for a random unit vector ``u_b`` per sequence (a stand-in for "whatever the output
    layer reads from the last state").  :func:`charrnn.reference.layer_backward` gives
    ``dL/dx_t``; ``norms[k]`` is the mean over sequences of ``‖dL/dx_{T-1-k}‖``.
    An RNN's norms shrink geometrically with ``k``; an LSTM's and a GRU's much more slowly.
    """
    x = np.asarray(x, dtype=np.float64)
    T, B, _ = x.shape
    H = np.asarray(w_hh).shape[1]
    h0 = np.zeros((B, H))
    c0 = np.zeros((B, H)) if cell == "lstm" else None
    _, _, _, tape = reference.layer_forward(cell, x, np.full(B, T), w_ih, w_hh, b_ih, b_hh, h0, c0)
    u = np.random.default_rng(seed).standard_normal((B, H))
    d_out = np.zeros((T, B, H))
    d_out[T - 1] = u / np.linalg.norm(u, axis=1, keepdims=True)
    dx = reference.layer_backward(tape, d_out)["x"]
    return np.linalg.norm(dx, axis=2).mean(axis=1)[::-1].copy()
