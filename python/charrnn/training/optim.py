"""The optimizer: Adam with global-norm gradient clipping and decoupled weight decay
(AdamW), in one fused Rust pass; and the exponential moving average of the weights.

One training step divides the batch's summed gradients by its number of predicted
characters (``grad_scale``: the gradient of the mean NLL per character), clips them to the
global L2 norm ``max_norm``, shrinks the decayed weights by ``1 - lr * weight_decay`` and
applies Adam — all in ``_core.adam_step``.  With an EMA (:class:`WeightAverage`,
``_core.ema_update``) the average is updated after every step.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import numpy as np

from .. import _core

__all__ = ["Adam", "WeightAverage", "weight_decay_mask", "clip_grad_norm", "weights_finite"]


def weight_decay_mask(names: Sequence[str]) -> list[bool]:
    """Which of the parameters ``names`` (``CharRNN.param_shapes()``'s) weight decay applies
    to: the weight matrices of the recurrent layers and of the output layer.

    Not the biases: they set offsets (e.g. the unigram frequencies in ``fc.bias``, a
    forget gate's opening), not the scale of a mapping, and pulling them to zero only
    biases the model.  Not the lookup tables (``embedding.weight``, ``category.weight``):
    decoupled decay shrinks every row at every step, while a row only gets a gradient in
    the steps whose batch contains its character — the embedding of a rare character
    would be pulled to zero by the decay between the few steps that see it.  The
    recurrent and output matrices are used by every position of every step, so there
    the decay is balanced by the gradient as intended."""
    return [name.startswith("rnn.weight_") or name == "fc.weight" for name in names]


class Adam:
    """Adam (Kingma & Ba) updating a list of float32 arrays in place; with
    ``weight_decay`` > 0, AdamW (Loshchilov & Hutter; ``torch.optim.AdamW``'s update): each
    array whose ``decay_mask`` entry is true (default: all) is first multiplied by
    ``1 - lr * weight_decay``, then takes the Adam step, ``lr`` being the step's
    (scheduled) learning rate.  The mask is per array so that the caller decides what is
    decayed (the trainer: :func:`weight_decay_mask`)."""

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 2e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decay_mask: Optional[Sequence[bool]] = None,
    ):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay = weight_decay
        if decay_mask is not None and len(decay_mask) != len(self.params):
            raise ValueError(f"decay_mask has {len(decay_mask)} entries for {len(self.params)} parameters")
        self.decay_mask = [True] * len(self.params) if decay_mask is None else [bool(d) for d in decay_mask]
        self.m = [np.zeros_like(p) for p in self.params]  # running mean of gradients
        self.v = [np.zeros_like(p) for p in self.params]  # running mean of squared gradients
        self.t = 0

    def step(self, grads: Sequence[np.ndarray], grad_scale: float = 1.0, max_norm: Optional[float] = None) -> float:
        """``g = grad_scale * grads``, clipped to the global L2 norm ``max_norm`` (when
        given); ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, then
        ``p = p * (1 - lr wd) - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)`` (``wd``:
        ``weight_decay`` where the mask says so, else 0) — one fused pass per array in Rust
        (``_core.adam_step``). Returns the norm of the scaled gradient before clipping. A
        non-finite norm raises ``ValueError`` and changes nothing (``t`` included)."""
        decay = None  # no decay: the plain Adam update
        if self.weight_decay:
            decay = [self.weight_decay if on else 0.0 for on in self.decay_mask]
        norm = _core.adam_step(
            self.params,
            list(grads),
            self.m,
            self.v,
            self.lr,
            self.t + 1,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            grad_scale=grad_scale,
            max_norm=max_norm,
            weight_decay=decay,
        )
        self.t += 1
        return norm

    def hyperparameters(self) -> dict[str, Any]:
        """``{"t", "lr", "beta1", "beta2", "eps", "weight_decay"}``: what a checkpoint stores
        besides the moments."""
        return {
            "t": self.t,
            "lr": self.lr,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def load(self, hyper: dict[str, Any], m: Sequence[np.ndarray], v: Sequence[np.ndarray]) -> None:
        """Put back a stored state: :meth:`hyperparameters` and the moments, in parameter order."""
        self.t = int(hyper["t"])
        self.lr = float(hyper["lr"])
        self.beta1 = float(hyper.get("beta1", self.beta1))
        self.beta2 = float(hyper.get("beta2", self.beta2))
        self.eps = float(hyper.get("eps", self.eps))
        self.weight_decay = float(hyper.get("weight_decay", 0.0))  # written before AdamW: none
        for mine, stored in zip(self.m, m, strict=True):
            np.copyto(mine, stored)
        for mine, stored in zip(self.v, v, strict=True):
            np.copyto(mine, stored)


class WeightAverage:
    """The exponential moving average (EMA) of a list of float32 arrays (the weights).

    After optimizer step ``t`` (1-based), :meth:`update` sets ``average = d_t * average +
    (1 - d_t) * params`` element-wise in Rust (``_core.ema_update``), with the warm-up
    ``d_t = min(decay, (1 + t) / (10 + t))``.  The average starts as a copy of the
    weights, i.e. of the random initialisation; without the warm-up it would still hold
    ``decay ** t`` of it after ``t`` steps — with ``decay = 0.999`` about 37 % after
    1000 steps, more than a whole short names-mode run — so every early evaluation (and a
    short run's best model) would be the average of an untrained network.  With it the
    initial weights keep a weight of ``prod (1 + s) / (10 + s)`` over the steps ``s`` so
    far (6e-5 after 10 steps, 7e-10 after 50), and step ``t`` averages over roughly the
    last ``t / 9`` steps — a window that grows with the run — until ``decay`` takes over
    at ``t = (10 decay - 1) / (1 - decay)`` (about 9000 steps at 0.999).  The same scheme as
    TensorFlow's ``ExponentialMovingAverage(num_updates=...)``.
    """

    def __init__(self, params: Sequence[np.ndarray], decay: float):
        if not (0.0 <= decay < 1.0):
            raise ValueError(f"the EMA decay must be in [0, 1), got {decay}")
        self.params = list(params)
        self.decay = decay
        self.average = [np.array(p, dtype=np.float32, order="C", copy=True) for p in self.params]

    def decay_at(self, t: int) -> float:
        """The decay of the update after optimizer step ``t`` (1-based), warm-up included."""
        return min(self.decay, (1.0 + t) / (10.0 + t))

    def update(self, t: int) -> None:
        """Fold in the weights as they are after optimizer step ``t``."""
        _core.ema_update(self.average, self.params, self.decay_at(t))

    def load(self, stored: Sequence[np.ndarray]) -> None:
        """Put back a stored average (in parameter order)."""
        for mine, value in zip(self.average, stored, strict=True):
            np.copyto(mine, value)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Within the block the weights (the same arrays, in place) hold the average; after
        it — also on an exception — the raw weights again, bit for bit."""
        raw = [p.copy() for p in self.params]
        try:
            for p, a in zip(self.params, self.average, strict=True):
                np.copyto(p, a)
            yield
        finally:
            for p, r in zip(self.params, raw, strict=True):
                np.copyto(p, r)


def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: Optional[float]) -> float:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; returns
    the norm before clipping (``max_norm`` None: no clipping)."""
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported as an inf norm
        norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    if max_norm is not None and norm > max_norm and math.isfinite(norm):  # inf/NaN: the trainer stops
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm


def weights_finite(params: Sequence[np.ndarray]) -> bool:
    """Whether no weight has overflowed to inf or NaN."""
    return all(np.isfinite(p).all() for p in params)
