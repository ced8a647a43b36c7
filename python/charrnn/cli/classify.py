"""``charrnn classify MODEL NAME...``: P(category | name) with a conditional model."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .. import datasets
from ..classify import classify, evaluate_classifier
from ..data import load_lines
from ..errors import DataError
from ..labelled import Labelled
from ..model import load
from .common import add_model_argument
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
    add_model_argument(
        p, "a conditional model (trained with --category or --preset), or a shipped one (charrnn models)"
    )
    add_names(p, "classify")
    p.add_argument("--prior", choices=["training", "uniform"], default="training", help="the prior P(category)")
    p.add_argument(
        "--evaluate",
        metavar="FILE|PRESET",
        default=None,
        help="instead of classifying NAMEs: measure the model on labelled names — a FILE of 'name<TAB>category' "
        "lines, or a preset's held-out test names (e.g. ru-first-by-gender) — and print its accuracy beside the "
        "а/я rule's (gender models), the expected calibration error and a reliability table",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per name, in input order: {"name": ..., "probs": {category: p, ...}, "category": best}',
    )


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.categories is None:
        raise ValueError(f"{args.model} is not a conditional model (train one with --category or --preset)")
    if args.evaluate is not None:
        return _evaluate(model, args)
    names = names_of(args)
    for name, probs in zip(names, classify(model, names, prior=args.prior), strict=True):
        best = max(probs, key=probs.__getitem__)
        if args.json:
            print(json.dumps({"name": name, "probs": probs, "category": best}, ensure_ascii=False))
        else:
            print(f"{name}\t{best}\t" + "  ".join(f"{c} {p:.3f}" for c, p in probs.items()))
    return 0


def _labelled(spec: str) -> Labelled:
    """``--evaluate``: a preset's test names, or a file of ``name<TAB>category`` lines."""
    if spec in datasets.PRESETS and not os.path.exists(spec):
        return datasets.preset_split(spec)[2]
    pairs = []
    for number, line in enumerate(load_lines(spec), 1):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise DataError(f"{spec}: line {number}: expected 'name<TAB>category', got {line!r}")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return Labelled.from_pairs(pairs)


def _evaluate(model: Any, args: argparse.Namespace) -> int:
    if args.names or args.file:
        raise ValueError("--evaluate measures the model on labelled names: give no NAMEs with it")
    report = evaluate_classifier(model, _labelled(args.evaluate), prior=args.prior)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"{report['items']:,} labelled names from {args.evaluate}")
    print(
        f"accuracy {report['accuracy']:.4f}  ("
        + ", ".join(f"{c} {a:.4f}" for c, a in report["per_category"].items())
        + ")"
    )
    if "ending_rule_accuracy" in report:
        print(f"the а/я rule (ends in а or я: female) on the same names: accuracy {report['ending_rule_accuracy']:.4f}")
    print(f"mean -log P(label | name) {report['nll']:.4f}; expected calibration error {report['ece']:.4f}")
    print("confidence bin   names  mean confidence  accuracy")
    for b in report["reliability"]:
        print(f"  {b['low']:.1f}-{b['high']:.1f}   {b['n']:>7,}  {b['confidence']:>15.3f}  {b['accuracy']:>8.3f}")
    return 0
