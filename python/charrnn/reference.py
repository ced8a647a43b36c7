"""charrnn's kernels written from scratch in plain numpy: read this to see how it works.

This module computes exactly what the Rust extension ``charrnn._core`` computes (see
``_core.pyi``), slowly and readably.  It is

* the **oracle** of the tests: the Rust kernels must agree with it, and it must agree
  with finite differences;
* the **"from scratch" baseline** of the benchmarks;
* a **tutorial** on backpropagation through time for RNN, LSTM and GRU layers.

Shapes and conventions (the same as ``_core``)
----------------------------------------------
* Time-major: ``x[t, b]`` is step ``t`` of sequence ``b``.  ``T`` steps, ``B`` sequences,
  ``In`` input features, ``H`` hidden units.
* Padding: ``lengths[b]`` leading steps of sequence ``b`` are real, the rest is padding.
  Padding is *never computed*: at step ``t`` only the rows with ``t < lengths[b]`` go
  through the cell; the other rows keep their state, their output is zero, and nothing
  that happens there reaches the loss or a gradient.  The final state of sequence ``b``
  is therefore its state after step ``lengths[b] - 1``.
* Weights in PyTorch's layout: ``w_ih [G*H, In]``, ``w_hh [G*H, H]``, ``b_ih``/``b_hh``
  ``[G*H]``, the ``G`` gate blocks stacked in PyTorch's order:

  ==== === =========================================================================
  cell  G  step (``@`` is matrix product, ``σ`` the logistic sigmoid)
  ==== === =========================================================================
  rnn   1  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
  lstm  4  i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh);
           i, f, o = σ(i), σ(f), σ(o); g = tanh(g); c' = f c + i g; h' = o tanh(c')
  gru   3  r = σ(W_ir x + b_ir + W_hr h + b_hr); z = σ(W_iz x + b_iz + W_hz h + b_hz);
           n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h
  ==== === =========================================================================

* Every function takes a ``dtype`` (float64 by default, for the tests; float32 for a fair
  speed comparison); all inputs are converted to it.

Sampling is not here: it only needs the forward pass, one step at a time (see
``_core.sample``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

__all__ = ["CELLS", "GATES", "LayerTape", "layer_forward", "layer_backward", "forward_backward"]

CELLS = ("lstm", "rnn", "gru")
GATES = {"lstm": 4, "rnn": 1, "gru": 3}  # gate blocks G stacked in the weight matrices


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e^-a), written with tanh so it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _check_cell(cell: str) -> None:
    if cell not in GATES:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")


# ---------------------------------------------------------------------------------------
# One time step of each cell: forward (returns the new state and a cache of what the
# backward step needs) and backward (turns the gradient w.r.t. the new state into
# gradients w.r.t. the input, the previous state and the weights).
#
# All step functions work on the *active rows only* (the sequences that have a real step
# at this time), so padding is skipped rather than computed and masked.
# ---------------------------------------------------------------------------------------


def _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh):
    h_new = np.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
    return h_new, None, {"x": x, "h": h, "h_new": h_new}


def _rnn_step_backward(cache, dh_new, dc_new, w, g):
    # h' = tanh(a), so dL/da = dL/dh' * (1 - h'^2).  The pre-activation a receives x
    # through W_ih and h through W_hh, which gives every other gradient.
    da = dh_new * (1.0 - cache["h_new"] ** 2)
    _accumulate_weight_grads(g, da, da, cache["x"], cache["h"])
    dx = da @ w["w_ih"]
    dh = da @ w["w_hh"]
    return dx, dh, None


def _lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[1]
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # [rows, 4H] pre-activations
    i = sigmoid(a[:, 0 * H : 1 * H])  # input gate: how much of the candidate to write
    f = sigmoid(a[:, 1 * H : 2 * H])  # forget gate: how much of the old cell to keep
    gg = np.tanh(a[:, 2 * H : 3 * H])  # candidate cell value
    o = sigmoid(a[:, 3 * H : 4 * H])  # output gate: how much of the cell to show
    c_new = f * c + i * gg
    tanh_c = np.tanh(c_new)
    h_new = o * tanh_c
    cache = {"x": x, "h": h, "c": c, "i": i, "f": f, "g": gg, "o": o, "tanh_c": tanh_c}
    return h_new, c_new, cache


def _lstm_step_backward(cache, dh_new, dc_new, w, g):
    i, f, gg, o, tanh_c = cache["i"], cache["f"], cache["g"], cache["o"], cache["tanh_c"]
    # h' = o * tanh(c'): the output gate gets dh' * tanh(c'), and the cell c' gets
    # dh' * o * (1 - tanh(c')^2) on top of the gradient that already flows into c'
    # from the next step (dc_new).  This additive path through c is what lets LSTM
    # gradients travel far back in time.
    do = dh_new * tanh_c
    dc = dc_new + dh_new * o * (1.0 - tanh_c**2)
    # c' = f * c + i * g
    di = dc * gg
    df = dc * cache["c"]
    dgg = dc * i
    dc_prev = dc * f
    # Through the nonlinearities: σ'(a) = σ(1 - σ), tanh'(a) = 1 - tanh^2.
    da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), dgg * (1.0 - gg**2), do * o * (1.0 - o)], axis=1)
    _accumulate_weight_grads(g, da, da, cache["x"], cache["h"])
    dx = da @ w["w_ih"]
    dh_prev = da @ w["w_hh"]
    return dx, dh_prev, dc_prev


def _gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[1]
    gi = x @ w_ih.T + b_ih  # [rows, 3H]: the input's contribution to r, z, n
    gh = h @ w_hh.T + b_hh  # [rows, 3H]: the state's contribution to r, z, n
    r = sigmoid(gi[:, :H] + gh[:, :H])  # reset gate: how much of h the candidate sees
    z = sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])  # update gate: keep old h vs take n
    hn = gh[:, 2 * H :]  # W_hn h + b_hn, kept because r multiplies it
    n = np.tanh(gi[:, 2 * H :] + r * hn)  # candidate state
    h_new = (1.0 - z) * n + z * h
    return h_new, None, {"x": x, "h": h, "r": r, "z": z, "n": n, "hn": hn}


def _gru_step_backward(cache, dh_new, dc_new, w, g):
    r, z, n, hn, h = cache["r"], cache["z"], cache["n"], cache["hn"], cache["h"]
    # h' = (1 - z) n + z h
    dn = dh_new * (1.0 - z)
    dz = dh_new * (h - n)
    dh_direct = dh_new * z  # the path that skips every weight
    # n = tanh(gi_n + r * hn)
    dan = dn * (1.0 - n**2)
    dr = dan * hn
    dhn = dan * r
    # r = σ(gi_r + gh_r), z = σ(gi_z + gh_z)
    dar = dr * r * (1.0 - r)
    daz = dz * z * (1.0 - z)
    d_gi = np.concatenate([dar, daz, dan], axis=1)  # gradient of x @ W_ih^T + b_ih
    d_gh = np.concatenate([dar, daz, dhn], axis=1)  # gradient of h @ W_hh^T + b_hh
    _accumulate_weight_grads(g, d_gi, d_gh, cache["x"], h)
    dx = d_gi @ w["w_ih"]
    dh_prev = dh_direct + d_gh @ w["w_hh"]
    return dx, dh_prev, None


def _accumulate_weight_grads(g, d_gi, d_gh, x, h):
    """The weights are shared by every step, so their gradients are sums over steps."""
    g["w_ih"] += d_gi.T @ x
    g["b_ih"] += d_gi.sum(axis=0)
    g["w_hh"] += d_gh.T @ h
    g["b_hh"] += d_gh.sum(axis=0)


_STEP = {"rnn": _rnn_step, "gru": _gru_step}
_STEP_BACKWARD = {"rnn": _rnn_step_backward, "lstm": _lstm_step_backward, "gru": _gru_step_backward}


# ---------------------------------------------------------------------------------------
# A whole layer: the step function applied over time.
# ---------------------------------------------------------------------------------------


@dataclass
class LayerTape:
    """What :func:`layer_forward` keeps for :func:`layer_backward`."""

    cell: str
    lengths: np.ndarray
    weights: dict[str, np.ndarray]
    shape: tuple[int, int, int, int]  # T, B, In, H
    dtype: Any
    # steps[t] = (rows active at step t, the step's cache); the cache is over those rows.
    steps: list[tuple[np.ndarray, dict]] = field(default_factory=list)


def _as(a, dtype, name) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def _check_lengths(lengths, T: int, B: int) -> np.ndarray:
    lengths = np.asarray(lengths)
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},), got {lengths.shape}")
    lengths = lengths.astype(np.int64)
    if lengths.size and (lengths.min() < 0 or lengths.max() > T):
        raise ValueError(f"lengths must be in 0..{T}, got {lengths.min()}..{lengths.max()}")
    return lengths


def layer_forward(
    cell: str,
    x,
    lengths,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    h0,
    c0=None,
    *,
    dtype=np.float64,
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], LayerTape]:
    """One recurrent layer over all time steps, like ``_core.layer_forward``.

    ``x [T, B, In]``, ``lengths [B]``, ``h0``/``c0`` ``[B, H]`` (``c0`` for LSTM only).
    Returns ``(out [T, B, H], h_n [B, H], c_n [B, H] or None, tape)``.
    """
    _check_cell(cell)
    x = _as(x, dtype, "x")
    if x.ndim != 3:
        raise ValueError(f"x must be [T, B, In], got shape {x.shape}")
    T, B, In = x.shape
    w = {k: _as(v, dtype, k) for k, v in (("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh))}
    GH = w["w_ih"].shape[0]
    H = GH // GATES[cell]
    expected = {
        "w_ih": (GATES[cell] * H, In),
        "w_hh": (GATES[cell] * H, H),
        "b_ih": (GATES[cell] * H,),
        "b_hh": (GATES[cell] * H,),
    }
    for k, shape in expected.items():
        if w[k].shape != shape:
            raise ValueError(f"{k} must have shape {shape} for a {cell} layer, got {w[k].shape}")
    lengths = _check_lengths(lengths, T, B)
    h = _as(h0, dtype, "h0").copy()
    if h.shape != (B, H):
        raise ValueError(f"h0 must have shape {(B, H)}, got {h.shape}")
    c = None
    if cell == "lstm":
        c = np.zeros((B, H), dtype) if c0 is None else _as(c0, dtype, "c0").copy()
        if c.shape != (B, H):
            raise ValueError(f"c0 must have shape {(B, H)}, got {c.shape}")

    tape = LayerTape(cell, lengths, w, (T, B, In, H), dtype)
    out = np.zeros((T, B, H), dtype)
    for t in range(T):
        rows = np.flatnonzero(lengths > t)  # sequences with a real step at time t
        if cell == "lstm":
            h_new, c_new, cache = _lstm_step(x[t, rows], h[rows], c[rows], **w)
            c[rows] = c_new
        else:
            h_new, _, cache = _STEP[cell](x[t, rows], h[rows], **w)
        h[rows] = h_new  # the other rows keep their state: it becomes their final state
        out[t, rows] = h_new  # padded outputs stay zero
        tape.steps.append((rows, cache))
    return out, h, c, tape


def layer_backward(tape: LayerTape, d_out, d_h_n=None, d_c_n=None) -> dict[str, np.ndarray]:
    """Gradients of a layer (backpropagation through time), like ``_core.layer_backward``.

    ``d_out [T, B, H]`` is the gradient w.r.t. the layer's outputs (values at padded
    positions are ignored), ``d_h_n``/``d_c_n`` ``[B, H]`` w.r.t. its final state.
    Returns a dict with ``x``, ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``, ``h0`` (and ``c0``
    for LSTM).
    """
    T, B, In, H = tape.shape
    dtype = tape.dtype
    d_out = _as(d_out, dtype, "d_out")
    if d_out.shape != (T, B, H):
        raise ValueError(f"d_out must have shape {(T, B, H)}, got {d_out.shape}")
    g = {k: np.zeros_like(v) for k, v in tape.weights.items()}
    dx = np.zeros((T, B, In), dtype)
    # dh / dc: gradient of the loss w.r.t. the state *entering* step t+1, i.e. the
    # state after step t.  We walk backwards in time.  Where a row is padding at step t
    # its state passed through unchanged, so its gradient passes through unchanged too;
    # that is how d_h_n reaches the last *real* step of a short sequence.
    dh = np.zeros((B, H), dtype) if d_h_n is None else _as(d_h_n, dtype, "d_h_n").copy()
    dc = None
    if tape.cell == "lstm":
        dc = np.zeros((B, H), dtype) if d_c_n is None else _as(d_c_n, dtype, "d_c_n").copy()
    step_backward = _STEP_BACKWARD[tape.cell]
    for t in reversed(range(T)):
        rows, cache = tape.steps[t]
        # The output at (t, b) is the state after step t: both gradients add up.
        dh_new = dh[rows] + d_out[t, rows]
        dc_new = dc[rows] if dc is not None else None
        dx_t, dh_prev, dc_prev = step_backward(cache, dh_new, dc_new, tape.weights, g)
        dx[t, rows] = dx_t
        dh[rows] = dh_prev
        if dc is not None:
            dc[rows] = dc_prev
    grads = {"x": dx, **g, "h0": dh}
    if dc is not None:
        grads["c0"] = dc
    return grads


# ---------------------------------------------------------------------------------------
# The whole model: embedding -> L layers -> linear -> log-softmax cross-entropy.
# ---------------------------------------------------------------------------------------


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)  # avoids overflow in exp
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def forward_backward(
    cell: str,
    params,
    ids,
    targets,
    lengths,
    h0=None,
    c0=None,
    compute_grad: bool = True,
    dropout: float = 0.0,
    seed: int = 0,
    categories=None,
    category_embedding=None,
    *,
    masks=None,
    dtype=np.float64,
):
    """Loss and gradients of a whole model on one batch, like ``_core.forward_backward``.

    ``params`` is ``[embedding [V, E], (w_ih, w_hh, b_ih, b_hh) per layer, fc_weight [V, H],
    fc_bias [V]]``; ``ids``/``targets`` ``[T, B]``; ``lengths [B]``; ``h0``/``c0``
    ``[L, B, H]``.  Returns ``(loss_sum, seq_loss [B] float64, grads or None, h_n, c_n)``.
    The reference draws no random numbers: ``dropout`` must be 0, and a training pass's
    dropout is given as the masks ``_core.forward_backward(..., details=True)`` drew
    (its last element's ``masks``)
    (``masks``: a dict with any of ``embedding [V]`` (rows of the table), ``input [B, E]``
    (each sequence's character embedding), ``hidden`` (one per layer above the first and
    one for the output layer's input, each ``[B, H]``, the same at every step, or
    ``[T, B, H]``) and ``recurrent`` (one ``[G*H, H]`` per layer, multiplying ``w_hh``).
    """
    _check_cell(cell)
    if dropout != 0.0:
        raise NotImplementedError("the reference draws no masks: pass dropout=0 and the masks")
    masks = {k: v for k, v in (masks or {}).items()}
    row_keep = _as(masks["embedding"], dtype, "masks['embedding']")[:, None] if "embedding" in masks else None
    input_keep = _as(masks["input"], dtype, "masks['input']") if "input" in masks else None
    hidden_keep = [_as(m, dtype, "masks['hidden']") for m in masks.get("hidden", [])]
    recurrent_keep = [_as(m, dtype, "masks['recurrent']") for m in masks.get("recurrent", [])]
    params = [_as(p, dtype, f"params[{k}]") for k, p in enumerate(params)]
    if len(params) < 7 or (len(params) - 3) % 4:
        raise ValueError(f"params must hold 3 + 4*L arrays, got {len(params)}")
    emb, fc_w, fc_b = params[0], params[-2], params[-1]
    L = (len(params) - 3) // 4
    layers = [params[1 + 4 * k : 5 + 4 * k] for k in range(L)]  # (w_ih, w_hh, b_ih, b_hh) each
    V, E = emb.shape
    H = fc_w.shape[1]
    ids = np.asarray(ids)
    targets = np.asarray(targets)
    if ids.ndim != 2 or targets.shape != ids.shape:
        raise ValueError(f"ids and targets must both be [T, B]; got {ids.shape} and {targets.shape}")
    T, B = ids.shape
    lengths = _check_lengths(lengths, T, B)
    real = np.arange(T)[:, None] < lengths[None, :]  # [T, B] True at real positions
    for name, a in (("ids", ids), ("targets", targets)):
        if real.any() and (a[real].min() < 0 or a[real].max() >= V):
            raise ValueError(f"{name} must be in 0..{V - 1}")

    # Embedding: row ids[t, b] of the table (padding rows are never read by a layer).
    # Dropout multiplies the table's rows, then each sequence's embeddings.
    table = emb if row_keep is None else emb * row_keep
    x = table[np.where(real, ids, 0)]  # [T, B, E]
    if input_keep is not None:
        x = x * input_keep[None]
    if category_embedding is not None:
        # A conditional model appends its category's embedding to every step's input.
        cat_emb = _as(category_embedding, dtype, "category_embedding")
        categories = np.asarray(categories, dtype=np.int64)
        cat_x = np.broadcast_to(cat_emb[categories][None], (T, B, cat_emb.shape[1]))
        x = np.concatenate([x, cat_x], axis=2)

    h0 = np.zeros((L, B, H), dtype) if h0 is None else _as(h0, dtype, "h0")
    if cell == "lstm":
        c0 = np.zeros((L, B, H), dtype) if c0 is None else _as(c0, dtype, "c0")
    tapes, h_n, c_n = [], [], []
    inp = x
    for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
        if recurrent_keep:
            w_hh = w_hh * recurrent_keep[k]  # DropConnect: this batch's recurrent weights
        if k > 0 and hidden_keep:
            inp = inp * hidden_keep[k - 1]  # [B, H] broadcasts over the steps
        out, hk, ck, tape = layer_forward(
            cell, inp, lengths, w_ih, w_hh, b_ih, b_hh, h0[k], c0[k] if cell == "lstm" else None, dtype=dtype
        )
        tapes.append(tape)
        h_n.append(hk)
        c_n.append(ck)
        inp = out  # the next layer reads this layer's outputs

    # Output layer and cross-entropy: loss = -log softmax(logits)[target] at real positions.
    if hidden_keep:
        inp = inp * hidden_keep[-1]
    logits = inp @ fc_w.T + fc_b  # [T, B, V]
    logp = _log_softmax(logits)
    tt, bb = np.nonzero(real)  # coordinates of the real positions
    nll = np.zeros((T, B), dtype)
    nll[tt, bb] = -logp[tt, bb, targets[tt, bb]]
    seq_loss = nll.sum(axis=0).astype(np.float64)
    loss_sum = float(seq_loss.sum())
    h_n = np.stack(h_n)
    c_n = np.stack(c_n) if cell == "lstm" else None
    if not compute_grad:
        return loss_sum, seq_loss, None, h_n, c_n

    # d loss / d logits = softmax - onehot(target), at real positions only.
    d_logits = np.exp(logp)
    d_logits[tt, bb, targets[tt, bb]] -= 1.0
    d_logits[~real] = 0.0  # padding contributes nothing
    d_fc_w = d_logits.reshape(-1, V).T @ inp.reshape(-1, H)
    d_fc_b = d_logits.reshape(-1, V).sum(axis=0)
    d_out = d_logits @ fc_w  # [T, B, H]: gradient w.r.t. the top layer's outputs
    if hidden_keep:
        d_out = d_out * hidden_keep[-1]  # through the mask: the same factor

    layer_grads = []
    for k in reversed(range(L)):
        # No gradient w.r.t. the final state: the loss does not read it (truncated BPTT).
        gk = layer_backward(tapes[k], d_out)
        d_w_hh = gk["w_hh"] if not recurrent_keep else gk["w_hh"] * recurrent_keep[k]
        layer_grads.append([gk["w_ih"], d_w_hh, gk["b_ih"], gk["b_hh"]])
        d_out = gk["x"]  # gradient w.r.t. this layer's input = the layer below's output
        if k > 0 and hidden_keep:
            d_out = d_out * hidden_keep[k - 1]
    layer_grads.reverse()

    # Embedding: each real position adds its input gradient to its id's row.
    d_x = d_out[..., :E] if input_keep is None else d_out[..., :E] * input_keep[None]
    d_emb = np.zeros_like(emb)
    np.add.at(d_emb, ids[real], d_x[real])
    if row_keep is not None:
        d_emb *= row_keep
    grads = [d_emb] + [g for lg in layer_grads for g in lg] + [d_fc_w, d_fc_b]
    if category_embedding is not None:
        d_cat = np.zeros_like(cat_emb)
        np.add.at(d_cat, np.broadcast_to(categories[None], (T, B))[real], d_out[real][:, E:])
        grads.append(d_cat)
    return loss_sum, seq_loss, grads, h_n, c_n
