"""``charrnn import STATE_DICT --out MODEL``: a PyTorch state dict back into a charrnn model."""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["NAME", "arguments", "run"]

NAME = "import"
SUMMARY = "read a PyTorch state dict back into a charrnn model"
DESCRIPTION = (
    "Read a PyTorch state dict (safetensors) of the README's nn.Module into a charrnn model. "
    "A file written by 'charrnn export' needs nothing else; for one saved by PyTorch, give the "
    "vocabulary (--vocab) and, for a conditional model, the category names (--config)."
)


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("state_dict", metavar="STATE_DICT", help="safetensors file (safetensors.torch.save_file)")
    p.add_argument(
        "--vocab", metavar="FILE", help="JSON: a list of the characters of ids 3, 4, ... (0 pad, 1 start, 2 end)"
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help='JSON object with any of "vocab", "categories" (names, in id order), "category_counts", "cell", "seed"',
    )
    p.add_argument("--out", metavar="PATH", required=True, help="the charrnn model to write")


def run(args: argparse.Namespace) -> int:
    from ..interop import import_torch

    model = import_torch(args.state_dict, vocab=args.vocab, config=args.config)
    model.save(args.out, extra={"imported_from": os.path.abspath(args.state_dict)})
    print(f"wrote {model} to {args.out}", file=sys.stderr)
    return 0
