"""Training: Adam on mean per-character NLL, with clipping, validation and best-weights keeping.

One step: a batch's summed loss and gradients come from ``_core.forward_backward``; both
are divided by the batch's number of real positions (so the loss is the mean NLL per
character); the gradients are clipped to a global L2 norm of ``clip``; Adam updates the
float32 weights in place.

After every epoch the trainer records the epoch's training NLL per character — the
running average over the epoch's batches, computed with the weights as they were at each
step (no extra pass) — and the validation NLL per character over the whole validation
set, with the weights at the end of the epoch.  The weights with the lowest validation NLL
are kept and put back into the model at the end (without validation: the last weights).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from .data import NameBatches
from .metrics import bits_per_char, perplexity
from .model import CharRNN

__all__ = ["train", "History", "EpochRecord", "Adam", "clip_grad_norm"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochRecord:
    """What happened in one epoch.  NLLs are in nats per character; ``val_*`` are None
    without validation data; ``seconds`` is the time since training started."""

    epoch: int
    step: int  # optimizer steps taken so far
    train_nll: float
    val_nll: Optional[float]
    train_ppl: float
    val_ppl: Optional[float]
    train_bpc: float
    val_bpc: Optional[float]
    chars_per_sec: float  # real characters per second of training steps (no validation)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class History(list):
    """The per-epoch :class:`EpochRecord` list, plus which epoch's weights were kept."""

    best_epoch: Optional[int] = None
    best_val_nll: Optional[float] = None

    @property
    def best(self) -> Optional[EpochRecord]:
        """The record of the epoch whose weights the model holds after training."""
        for record in self:
            if record.epoch == self.best_epoch:
                return record
        return None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, best_epoch={self.best_epoch}, best_val_nll={self.best_val_nll})"


class Adam:
    """Adam (Kingma & Ba) updating a list of float32 arrays in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [np.zeros_like(p) for p in self.params]  # running mean of gradients
        self.v = [np.zeros_like(p) for p in self.params]  # running mean of squared gradients
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # Bias correction folded into the step size: lr * sqrt(1 - b2^t) / (1 - b1^t).
        step_size = self.lr * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
        eps_hat = self.eps * math.sqrt(1.0 - b2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * np.square(g)
            p -= step_size * m / (np.sqrt(v) + eps_hat)


def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: Optional[float]) -> float:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; returns
    the norm before clipping (``max_norm`` None: no clipping)."""
    norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm


def train(
    model: CharRNN,
    train_items: Sequence[str],
    val_items: Optional[Sequence[str]] = None,
    epochs: Optional[int] = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    clip: Optional[float] = 5.0,
    seed: int = 0,
    max_steps: Optional[int] = None,
    callback: Optional[Callable[[EpochRecord], None]] = None,
    log_every: Optional[int] = 100,
    dropout: float = 0.0,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Training stops after ``epochs`` epochs or ``max_steps`` optimizer steps, whichever
    comes first (``epochs=None``: only the step budget counts; an epoch cut short by the
    budget still gets its record).  ``seed`` fixes the order of the data and the dropout
    masks; ``clip`` is the maximum global gradient norm (None: no clipping); ``dropout``
    drops the inputs of layers 1.. and of the output layer during training steps.
    ``callback`` gets each epoch's record as soon as it exists; every ``log_every``
    steps a progress line goes to this module's logger (None: never).  On return — or on
    KeyboardInterrupt — the model holds the weights of the epoch with the best validation
    NLL (without ``val_items``: the last weights).
    """
    if epochs is None and max_steps is None:
        raise ValueError("give epochs, max_steps or both; with neither training would never stop")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be positive or None, got {clip}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if len(train_items) == 0:
        raise ValueError("no training items")
    if val_items is not None and len(val_items) == 0:
        logger.warning("empty validation list: training without validation")
        val_items = None

    batches = NameBatches(train_items, model.vocab, batch_size=batch_size, shuffle=True, seed=seed)
    if val_items is not None:
        NameBatches(val_items, model.vocab, batch_size=batch_size, shuffle=False)  # fail early on bad chars
    names = list(model.param_shapes())
    optimizer = Adam(model.params_list(), lr=lr)
    history = History()
    best_params: Optional[dict[str, np.ndarray]] = None
    step = 0
    start = time.perf_counter()
    step_seconds = 0.0  # wall time spent in training steps
    step_chars = 0  # real characters processed by training steps

    try:
        epoch = 0
        while (epochs is None or epoch < epochs) and (max_steps is None or step < max_steps):
            epoch += 1
            epoch_loss, epoch_chars = 0.0, 0
            for batch in batches:
                t0 = time.perf_counter()
                # Each step's dropout masks get their own seed, derived from (seed, step).
                mask_seed = (seed * 0x9E3779B97F4A7C15 + step) % 2**64
                loss_sum, grads = model.loss_and_grads(batch, dropout=dropout, seed=mask_seed)
                n = batch.n_chars
                grad_list = [grads[name] for name in names]
                for g in grad_list:
                    g /= n  # gradients of the mean NLL per character
                norm = clip_grad_norm(grad_list, clip)
                optimizer.step(grad_list)
                step_seconds += time.perf_counter() - t0
                step_chars += n
                step += 1
                epoch_loss += loss_sum
                epoch_chars += n
                if log_every and step % log_every == 0:
                    logger.info("step %d: loss %.4f, grad norm %.3f", step, loss_sum / n, norm)
                if not math.isfinite(loss_sum):
                    raise FloatingPointError(f"loss became {loss_sum} at step {step}; try a smaller lr")
                if max_steps is not None and step >= max_steps:
                    break

            train_nll = epoch_loss / epoch_chars
            val_nll = model.evaluate(val_items, batch_size=max(batch_size, 256))["nll"] if val_items else None
            record = EpochRecord(
                epoch=epoch,
                step=step,
                train_nll=train_nll,
                val_nll=val_nll,
                train_ppl=perplexity(train_nll),
                val_ppl=None if val_nll is None else perplexity(val_nll),
                train_bpc=bits_per_char(train_nll),
                val_bpc=None if val_nll is None else bits_per_char(val_nll),
                chars_per_sec=step_chars / step_seconds if step_seconds > 0 else 0.0,
                seconds=time.perf_counter() - start,
            )
            history.append(record)
            if val_nll is None or history.best_val_nll is None or val_nll < history.best_val_nll:
                history.best_epoch = epoch
                history.best_val_nll = val_nll
                if val_nll is not None:
                    best_params = {name: p.copy() for name, p in model.params.items()}
            if callback is not None:
                callback(record)
    finally:
        # Also on KeyboardInterrupt: the model then holds the best *recorded* weights.
        if best_params is not None:
            logger.info(
                "keeping the weights of epoch %d (val nll %.4f)", history.best_epoch, history.best_val_nll
            )
            _restore(model, best_params)
    return history


def _restore(model: CharRNN, saved: dict[str, np.ndarray]) -> None:
    """Copy ``saved`` back into the model's own arrays (keeps their identity)."""
    for name, value in saved.items():
        np.copyto(model.params[name], value)
