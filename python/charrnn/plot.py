"""Learning curves: train and validation perplexity against optimizer steps.

Reads a log written by ``charrnn train --log FILE.jsonl`` (``charrnn.train(log=...)``,
see :mod:`charrnn.progress`) and draws it with matplotlib, an optional dependency
(``pip install 'charrnn[plot]'``).  Only matplotlib's object-oriented API is used, with
the Agg renderer: nothing global (pyplot's state, the backend) is touched.
"""

from __future__ import annotations

import os
from typing import Optional

from .errors import CharRNNError
from .progress import read_log

__all__ = ["plot_log", "MissingDependencyError"]


class MissingDependencyError(CharRNNError, ImportError):
    """An optional dependency is not installed."""


def plot_log(
    log: str | os.PathLike[str],
    out: str | os.PathLike[str],
    title: Optional[str] = None,
    log_scale: bool = False,
    size: tuple[float, float] = (6.4, 4.0),
    dpi: int = 100,
) -> int:
    """Draw the train and validation perplexity of ``log`` against steps into ``out`` (the
    format follows the extension: .png, .svg, .pdf, ...); returns the number of
    evaluations drawn.  The epoch with the lowest validation perplexity is marked."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "plotting needs matplotlib, an optional extra: pip install 'charrnn[plot]' (or pip install matplotlib)"
        ) from None
    entries = read_log(log)
    steps = [e["step"] for e in entries]
    train = [float(e["train_ppl"]) for e in entries]
    val = [e.get("val_ppl") for e in entries]

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(steps, train, marker="o", markersize=3, label="train")
    if any(v is not None for v in val):
        pts = [(s, v) for s, v in zip(steps, val, strict=True) if v is not None]
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o", markersize=3, label="validation")
        best_step, best = min(pts, key=lambda p: p[1])
        ax.annotate(
            f"best {best:.2f}",
            (best_step, best),
            textcoords="offset points",
            xytext=(0, 10),
            ha="center",
            fontsize=8,
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("perplexity (per character)")
    if log_scale:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title if title is not None else os.path.basename(os.fspath(log)))
    fig.tight_layout()
    fig.savefig(os.fspath(out))
    return len(entries)
