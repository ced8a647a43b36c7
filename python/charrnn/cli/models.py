"""``charrnn models``: the pretrained models shipped in the package.

    $ charrnn models
    ru-first-female   ...  val nll 1.9xx  ...
    $ charrnn sample ru-first-female -n 5

Every command that takes a MODEL file takes these names too (see :mod:`charrnn.pretrained`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..pretrained import shipped_models
from .common import fmt, subcommand

__all__ = ["add_parser", "run"]

# what --json prints of each model (besides its name); the keys are an interface
JSON_KEYS = (
    "description",
    "data",
    "cell",
    "hidden",
    "layers",
    "embed",
    "params",
    "bytes",
    "train_items",
    "val_items",
    "val_nll",
    "val_nll_weighted",
    "categories",
    "path",
)


def add_parser(sub: Any) -> None:
    p = subcommand(
        sub,
        "models",
        "list the pretrained models shipped with charrnn",
        "The models shipped in the package, with their size and validation NLL (nats per character; "
        "'weighted': per occurrence, each held-out name counted as often as it occurs). Use a NAME wherever "
        "a command takes a MODEL file: charrnn sample ru-first-female, charrnn classify ru-first-by-gender Гульназ.",
        run,
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per model: {"name": ..., "params": ..., "bytes": ..., "val_nll": ..., ...}',
    )


def run(args: argparse.Namespace) -> int:
    models = shipped_models()
    if not models:
        raise FileNotFoundError("no pretrained models are installed (data/train_pretrained.py trains them)")
    for name, m in models.items():
        if args.json:
            print(json.dumps({"name": name, **{k: m[k] for k in JSON_KEYS if k in m}}, ensure_ascii=False))
            continue
        arch = f"{m['cell']} {m['layers']}x{m['hidden']}"
        print(
            f"{name:<22} {arch:<11} {m['params']:>7,} params {m['bytes'] / 1024:>6.0f} KiB  "
            f"val nll {fmt(m.get('val_nll'), '.3f')} (weighted {fmt(m.get('val_nll_weighted'), '.3f')})  "
            f"{m['description']}"
        )
    return 0
