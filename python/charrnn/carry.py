"""Carry the hidden state into the next batch, or reset it: the experiments of the guide.

Names are independent: every name starts from a zero state.  A long text is one sequence,
read by ``B`` parallel streams ``T`` characters at a time; each batch starts from the state
the previous one ended with, so the model sees context across batch boundaries, while the
gradient stops at the boundary (truncated backpropagation through time).  :func:`train`
and :func:`evaluate` run either policy on any batches, so that the difference can be
measured: ``carry=True`` on text is what :func:`charrnn.train_text` does; ``carry=False``
on names is what :func:`charrnn.train` does; the other two are the mistakes.

Passing the previous batch's final state as the next batch's ``h0``/``c0`` is the whole of
"detach" here: ``CharRNN.forward_backward`` (``_core.forward_backward``) takes the state as plain numbers, so no gradient
can flow through it into the previous batch — exactly what ``h.detach()`` does in PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Optional

import numpy as np

from .data import Batch
from .model import CharRNN
from .scratch import adam

__all__ = ["train", "evaluate"]


def _pass(model: CharRNN, batch: Batch, state, carry: bool, compute_grad: bool):
    """One batch from the carried state (when ``carry`` and its shape fits) or from zeros."""
    if not carry or state is None or state[0].shape[1] != len(batch):
        state = None  # zeros: a fresh start
    out = model.forward_backward(batch, state, compute_grad=compute_grad)
    return out.loss_sum, out.grads, out.state


def train(
    model: CharRNN,
    batches: Callable[[int], Iterable[Batch]],
    epochs: int,
    carry: bool,
    lr: float = 2e-3,
    clip: Optional[float] = 5.0,
    max_steps: Optional[int] = None,
) -> list[float]:
    """Train ``model`` in place; returns each step's loss per character.

    ``batches(epoch)`` gives the batches of one epoch, in order (for example
    ``lambda e: charrnn.TextBatches(text, vocab, 32, 50)``).  With ``carry`` each batch
    starts from the previous batch's final state (the first of each epoch, and any batch
    whose size differs from the previous one, from zeros); without it every batch starts
    from zeros.  Adam (:func:`charrnn.scratch.adam`) with global-norm clipping at ``clip``.
    Training stops after ``epochs`` epochs or ``max_steps`` steps, whichever comes first.
    """
    params = model.params_list()  # the model's own arrays: the steps update them in place
    step = adam(params, lr=lr)
    losses = []
    for epoch in range(epochs):
        state = None
        for batch in batches(epoch):
            if max_steps is not None and len(losses) >= max_steps:
                return losses
            loss_sum, grads, state = _pass(model, batch, state, carry, compute_grad=True)
            n = batch.n_chars
            grads = [g / n for g in grads]
            norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads)))
            if clip is not None and norm > clip:
                grads = [g * (clip / norm) for g in grads]
            step(grads)
            losses.append(loss_sum / n)
    return losses


def evaluate(model: CharRNN, batches: Iterable[Batch], carry: bool) -> float:
    """Mean NLL per character of ``model`` on ``batches``, the state carried or reset."""
    total, chars, state = 0.0, 0, None
    for batch in batches:
        loss_sum, _, state = _pass(model, batch, state, carry, compute_grad=False)
        total += loss_sum
        chars += batch.n_chars
    return total / chars
