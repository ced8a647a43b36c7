"""``charrnn score MODEL NAME...``: log-probability of names, total and per character."""

from __future__ import annotations

import argparse
import json

from ..model import load
from ..scoring import score
from .common import add_model_argument
from .names_arg import add_names, names_of

__all__ = ["NAME", "arguments", "run"]

NAME = "score"
SUMMARY = "log-probability of names, total and per character"
DESCRIPTION = (
    "The natural log-probability (nats) the model gives each name and each of its characters "
    "(given the ones before it), the end marker included. Closer to 0 is more typical; the mean per "
    "character compares names of different lengths."
)


def arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    add_names(p, "score")
    p.add_argument("--category", metavar="NAME", default=None, help="score under this category (conditional models)")
    p.add_argument("--sort", action="store_true", help="most typical first (by mean log-probability per character)")
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per name: {"name", "log_prob", "mean_log_prob", "chars": [{"char", "log_prob"}, ...]}',
    )


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.categories is not None and args.category is None:
        raise ValueError(f"this model is conditional: give --category ({', '.join(model.categories)})")
    scores = score(model, names_of(args), category=args.category)
    if args.sort:
        scores = sorted(scores, key=lambda s: -s.mean)
    for s in scores:
        if args.json:
            print(json.dumps(s.to_dict(), ensure_ascii=False))
        else:
            chars = " ".join(f"{c}{p:+.2f}" for c, p in zip(s.chars, s.log_probs, strict=True))
            print(f"{s.name}\t{s.total:.3f}\t{s.mean:.3f}/char\t{chars}")
    return 0
