"""The names that ``classify`` and ``score`` read: arguments and ``--file``."""

from __future__ import annotations

import argparse
from typing import Any

from ..data import load_lines
from .common import intermixed

__all__ = ["add_names", "names_of"]


def add_names(p: argparse.ArgumentParser, what: str) -> None:
    intermixed(p)  # options may come between the names
    p.add_argument("names", metavar="NAME", nargs="*", help=f"names to {what}")
    p.add_argument("--file", metavar="FILE", help=f"also {what} the names in FILE (one per line)")


def names_of(args: Any) -> list[str]:
    names = list(args.names)
    if args.file:
        names += load_lines(args.file)
    if not names:
        raise ValueError("no names given (give them as arguments or with --file)")
    return names
