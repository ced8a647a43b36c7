"""``charrnn plot LOG``: the learning curves of a ``charrnn train --log`` file."""

from __future__ import annotations

import argparse
import os
import sys

from ..plot import plot_log

__all__ = ["NAME", "arguments", "run"]

NAME = "plot"
SUMMARY = "draw the learning curves of a training log"
DESCRIPTION = (
    "Draw train and validation perplexity against optimizer steps from a log written by "
    "'charrnn train --log FILE'. Needs matplotlib: pip install 'charrnn[plot]'."
)


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", metavar="LOG", help="a JSON-lines log written by 'charrnn train --log'")
    p.add_argument(
        "--out", metavar="PATH", default=None, help="the picture to write (.png, .svg, .pdf; default: LOG with .png)"
    )
    p.add_argument("--title", default=None, help="the title (default: the log's file name)")
    p.add_argument("--log-scale", action="store_true", help="a logarithmic perplexity axis")


def run(args: argparse.Namespace) -> int:
    out = args.out or (os.path.splitext(args.log)[0] + ".png")
    n = plot_log(args.log, out, title=args.title, log_scale=args.log_scale)
    print(f"drew {n} evaluation(s) from {args.log} into {out}", file=sys.stderr)
    return 0
