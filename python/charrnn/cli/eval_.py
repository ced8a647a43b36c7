"""``charrnn eval MODEL FILE``: NLL per character, perplexity and bits per character.

A names model reads FILE as one item per line; a text model reads it as one stream."""

from __future__ import annotations

import argparse
import json

from ..data import load_lines
from ..errors import DataError
from ..model import CharRNN, load
from ..text import load_text
from .common import add_model_argument

__all__ = ["NAME", "arguments", "run"]

NAME = "eval"
SUMMARY = "measure a model on a file of names (or of text)"
DESCRIPTION = "NLL per character (nats), perplexity and bits per character of MODEL on FILE."


def arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    p.add_argument("file", metavar="FILE", help="one item per line, UTF-8 (a text model: the whole file)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--category", metavar="NAME", default=None, help="the category of FILE's items (conditional models)")


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.mode == "text":
        return _text(args, model)
    items = load_lines(args.file)
    if model.categories is not None and args.category is None:
        raise ValueError(
            f"this model is conditional: give the category of the items with --category ({', '.join(model.categories)})"
        )
    result = model.evaluate(items, category=args.category)
    if args.json:
        print(json.dumps({**result, "items": len(items)}))
    else:
        print(
            f"nll {result['nll']:.4f} nats/char  ppl {result['ppl']:.3f}  bpc {result['bpc']:.4f}  "
            f"({result['chars']:,} chars in {len(items):,} items)"
        )
    return 0


def _text(args: argparse.Namespace, model: CharRNN) -> int:
    text = load_text(args.file)
    missing = sorted(set(text) - set(model.vocab.chars))
    if missing:
        raise DataError(
            f"{args.file}: {len(missing)} character(s) are not in the model's vocabulary: "
            + ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    result = model.evaluate_text(text)
    if args.json:
        print(json.dumps({**result, "mode": "text"}))
    else:
        print(
            f"nll {result['nll']:.4f} nats/char  ppl {result['ppl']:.3f}  bpc {result['bpc']:.4f}  "
            f"({result['chars']:,} characters predicted, read as one stream)"
        )
    return 0
