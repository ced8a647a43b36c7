"""``charrnn plot LOG``: the learning curves of a ``charrnn train --log`` file."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..plot import plot_log
from .common import subcommand

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = subcommand(
        sub,
        "plot",
        "draw the learning curves of a training log",
        "Draw train and validation perplexity against optimizer steps from a log written by "
        "'charrnn train --log FILE'. Needs matplotlib: pip install 'charrnn[plot]'.",
        run,
    )
    p.add_argument("log", metavar="LOG", help="a JSON-lines log written by 'charrnn train --log'")
    p.add_argument("--out", metavar="PATH", default=None, help="the picture to write (.png, .svg, .pdf; default: LOG with .png)")
    p.add_argument("--title", default=None, help="the title (default: the log's file name)")
    p.add_argument("--log-scale", action="store_true", help="a logarithmic perplexity axis")


def run(args: argparse.Namespace) -> int:
    out = args.out or (os.path.splitext(args.log)[0] + ".png")
    n = plot_log(args.log, out, title=args.title, log_scale=args.log_scale)
    print(f"drew {n} evaluation(s) from {args.log} into {out}", file=sys.stderr)
    return 0
