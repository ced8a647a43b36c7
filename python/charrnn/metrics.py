"""Turning a summed negative log-likelihood into the numbers people compare.

All quantities are *per character*: the loss of a name counts every predicted position,
its characters and the end marker.  ``nll`` is in nats (natural log).
"""

from __future__ import annotations

import math

__all__ = ["perplexity", "bits_per_char", "nll_per_char", "summarize", "split_metrics"]

LN2 = math.log(2.0)


def nll_per_char(loss_sum: float, chars: int) -> float:
    """Mean negative log-likelihood (nats) per predicted character."""
    if chars <= 0:
        raise ValueError(f"cannot average over {chars} characters")
    return float(loss_sum) / chars


def perplexity(nll: float) -> float:
    """``exp(nll)``: the effective number of equally likely next characters (inf on overflow)."""
    try:
        return math.exp(nll)
    except OverflowError:
        return math.inf


def bits_per_char(nll: float) -> float:
    """``nll / ln 2``: the loss in bits instead of nats."""
    return nll / LN2


def summarize(loss_sum: float, chars: int) -> dict[str, float]:
    """``{"nll", "ppl", "bpc", "chars"}`` from a summed loss over ``chars`` predicted positions."""
    nll = nll_per_char(loss_sum, chars)
    return {"nll": nll, "ppl": perplexity(nll), "bpc": bits_per_char(nll), "chars": int(chars)}


def split_metrics(split: str, nll: float | None) -> dict[str, float | None]:
    """``{split_nll, split_ppl, split_bpc}`` for one data split (all None without data),
    the fields of a training record."""
    if nll is None:
        return {f"{split}_nll": None, f"{split}_ppl": None, f"{split}_bpc": None}
    return {f"{split}_nll": nll, f"{split}_ppl": perplexity(nll), f"{split}_bpc": bits_per_char(nll)}
