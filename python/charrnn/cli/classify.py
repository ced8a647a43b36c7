"""``charrnn classify MODEL NAME...``: P(category | name) with a conditional model."""

from __future__ import annotations

import argparse
import json

from ..classify import classify
from ..model import load
from .names_arg import add_names, names_of

__all__ = ["NAME", "arguments", "run"]

NAME = "classify"
SUMMARY = "the probability of each category for each name (conditional models)"
DESCRIPTION = (
    "P(category | name) by Bayes' rule: P(name | category) from the model times the prior "
    "P(category), normalised. The prior is each category's share of the training items (stored in the "
    "model), or uniform with --prior uniform."
)


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a conditional model (trained with --category or --preset)")
    add_names(p, "classify")
    p.add_argument("--prior", choices=["training", "uniform"], default="training", help="the prior P(category)")
    p.add_argument(
        "--json", action="store_true",
        help='one JSON object per name, in input order: {"name": ..., "probs": {category: p, ...}, "category": best}',
    )


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.categories is None:
        raise ValueError(f"{args.model} is not a conditional model (train one with --category or --preset)")
    names = names_of(args)
    for name, probs in zip(names, classify(model, names, prior=args.prior), strict=True):
        best = max(probs, key=probs.__getitem__)
        if args.json:
            print(json.dumps({"name": name, "probs": probs, "category": best}, ensure_ascii=False))
        else:
            print(f"{name}\t{best}\t" + "  ".join(f"{c} {p:.3f}" for c, p in probs.items()))
    return 0
