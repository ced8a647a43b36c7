"""``--size auto``: the hidden size and layers for the data and the time budget.

The rule is :func:`charrnn.budget.auto_size` (at most ``DATA_RATIO`` weights per training
character, at least ``CHARS_PER_WEIGHT`` characters seen per weight); the speed it needs
is measured here, on this machine and this data: a few real training steps (forward,
backward, Adam) of a small and of a large model, the time per character of the sizes
between taken on the line through the two."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Optional, Union

from ..budget import auto_size, count_params, layers_for, linear_speed, passes_in
from ..dropout import Dropout
from ..model import CharRNN
from ..vocab import Vocab
from .optim import Adam

__all__ = ["seconds_per_char", "measure_speed", "choose_size"]

logger = logging.getLogger(__name__)

# The two sizes whose speed is measured.
PROBES = (128, 512)


def seconds_per_char(
    model: CharRNN,
    source: Any,
    steps: int = 5,
    dropout: Union[float, Dropout] = 0.0,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Training seconds per predicted character of ``model`` on ``source``'s batches: the
    fastest of ``steps`` timed steps after one untimed one (which pays for one-off work) —
    on a shared machine the fastest is the one least disturbed.  The model's weights
    change (it is a throw-away model)."""
    optimizer = Adam(model.params_list(), lr=1e-3)
    fastest, k, state = float("inf"), 0, None
    while k <= steps:
        for batch in source.batches(0):
            t0 = clock()
            _, grads, final = source.train_pass(model, batch, state, dropout, k)
            optimizer.step(grads, grad_scale=1.0 / batch.n_chars, max_norm=5.0)
            state = final if source.carries_state else None
            if k:
                fastest = min(fastest, (clock() - t0) / max(batch.n_chars, 1))
            k += 1
            if k > steps:
                break
        state = None
    return fastest


def measure_speed(
    mode: str,
    vocab: Vocab,
    make_source: Callable[[CharRNN], Any],
    *,
    cell: str = "lstm",
    embed: int = 32,
    dropout: Union[float, Dropout] = 0.0,
) -> Callable[[int], float]:
    """Seconds per training character as a function of the weights, on this machine: two
    sizes (:data:`PROBES`) measured on ``make_source(model)``'s batches, a line through them."""
    probes = []
    for hidden in PROBES:
        layers = layers_for(mode, hidden)
        model = CharRNN(vocab, cell=cell, hidden=hidden, layers=layers, embed=embed, seed=0, mode=mode)
        params = count_params(hidden, layers, embed=embed, vocab=len(vocab), cell=cell)
        probes.append((params, seconds_per_char(model, make_source(model), dropout=dropout)))
    logger.info(
        "measured %.2f / %.2f us per character at %d / %d weights",
        probes[0][1] * 1e6,
        probes[1][1] * 1e6,
        probes[0][0],
        probes[1][0],
    )
    return linear_speed(*probes[0], *probes[1])


def choose_size(
    mode: str,
    vocab: Vocab,
    make_source: Callable[[CharRNN], Any],
    data_chars: int,
    seconds: float,
    *,
    cell: str = "lstm",
    embed: int = 32,
    dropout: Union[float, Dropout] = 0.0,
    size: Optional[tuple[int, int]] = None,
) -> tuple[int, int, float]:
    """``(hidden, layers, passes)`` for a budget of ``seconds`` on ``data_chars`` characters:
    the size :func:`charrnn.budget.auto_size` picks (or ``size``, given), and how many times the
    budget goes over the data at that size (:func:`charrnn.budget.passes_in`), the speed
    measured with models of ``vocab`` on ``make_source(model)``'s batches."""
    if size is None:
        speed = measure_speed(mode, vocab, make_source, cell=cell, embed=embed, dropout=dropout)
        size = auto_size(mode, data_chars, seconds, speed, embed=embed, vocab=len(vocab), cell=cell)
        logger.info("size auto: %d x %d for %d characters in %.0f s", *size, data_chars, seconds)
    else:  # only the size given is timed
        model = CharRNN(vocab, cell=cell, hidden=size[0], layers=size[1], embed=embed, seed=0, mode=mode)
        per_char = seconds_per_char(model, make_source(model), dropout=dropout)
        speed = lambda params: per_char  # noqa: E731
    params = count_params(*size, embed=embed, vocab=len(vocab), cell=cell)
    return size[0], size[1], passes_in(seconds, speed, params, data_chars)
