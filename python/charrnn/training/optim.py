"""The optimizer: Adam with global-norm gradient clipping, in one fused Rust pass.

One training step divides the batch's summed gradients by its number of predicted
characters (``grad_scale``: the gradient of the mean NLL per character), clips them to the
global L2 norm ``max_norm`` and applies Adam — all in ``_core.adam_step``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from .. import _core

__all__ = ["Adam", "clip_grad_norm", "weights_finite"]


class Adam:
    """Adam (Kingma & Ba) updating a list of float32 arrays in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [np.zeros_like(p) for p in self.params]  # running mean of gradients
        self.v = [np.zeros_like(p) for p in self.params]  # running mean of squared gradients
        self.t = 0

    def step(self, grads: Sequence[np.ndarray], grad_scale: float = 1.0, max_norm: Optional[float] = None) -> float:
        """``g = grad_scale * grads``, clipped to the global L2 norm ``max_norm`` (when
        given); ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, then
        ``p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)`` — one fused pass per
        array in Rust (``_core.adam_step``). Returns the norm of the scaled gradient before
        clipping. A non-finite norm raises ``ValueError`` and changes nothing (``t`` included)."""
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
        )
        self.t += 1
        return norm

    def hyperparameters(self) -> dict[str, Any]:
        """``{"t", "lr", "beta1", "beta2", "eps"}``: what a checkpoint stores besides the moments."""
        return {"t": self.t, "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def load(self, hyper: dict[str, Any], m: Sequence[np.ndarray], v: Sequence[np.ndarray]) -> None:
        """Put back a stored state: :meth:`hyperparameters` and the moments, in parameter order."""
        self.t = int(hyper["t"])
        self.lr = float(hyper["lr"])
        self.beta1 = float(hyper.get("beta1", self.beta1))
        self.beta2 = float(hyper.get("beta2", self.beta2))
        self.eps = float(hyper.get("eps", self.eps))
        for mine, stored in zip(self.m, m, strict=True):
            np.copyto(mine, stored)
        for mine, stored in zip(self.v, v, strict=True):
            np.copyto(mine, stored)


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
