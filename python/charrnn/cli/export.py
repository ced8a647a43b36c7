"""``charrnn export MODEL --to torch OUT``: a model as a PyTorch state dict."""

from __future__ import annotations

import argparse
import sys

from ..model import load
from .common import add_model_argument

__all__ = ["NAME", "arguments", "run"]

NAME = "export"
SUMMARY = "write a model as a PyTorch state dict"
DESCRIPTION = (
    "Write MODEL as a PyTorch state dict (safetensors) for the nn.Module shown in the README; "
    "the vocabulary and configuration travel in its metadata."
)


def arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    p.add_argument("--to", choices=["torch"], required=True, help="the target framework")
    p.add_argument("out", metavar="OUT", help="the state dict to write (.safetensors)")


def run(args: argparse.Namespace) -> int:
    from ..interop import export_torch  # imports torch: only when asked

    model = load(args.model)
    export_torch(model, args.out)
    print(f"wrote the PyTorch state dict of {model} to {args.out}", file=sys.stderr)
    if model.mixture is not None:
        print(
            "note: the model's mixture with its n-gram is not exported: the state dict is the network alone",
            file=sys.stderr,
        )
    return 0
