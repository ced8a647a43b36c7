"""``charrnn train --resume CKPT``: which options come from the checkpoint.

A training checkpoint written by the command line keeps the command's arguments (in its
``training`` metadata, under ``"cli"``).  Resuming takes every one of them from there,
except those the user types again: the ones in :data:`OVERRIDABLE` (how long to run,
where to write, what to print, where the data now lives — the data itself is checked
against the checkpoint's fingerprint) replace the stored ones; typing ``--epochs`` or
``--max-steps`` sets a new budget (both, the other back to its default); any other
option typed with a value different from the stored one is an error, since it would
not continue the same run.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Optional

from .errors import ResumeError

__all__ = ["OVERRIDABLE", "explicit_options", "cli_record", "merge_resumed_args", "apply_resumed_args"]

OVERRIDABLE = frozenset(
    {
        "file",
        "val",
        "test",
        "epochs",
        "max_steps",
        "out",
        "checkpoint",
        "checkpoint_every",
        "samples",
        "json",
        "threads",
        "verbose",
        "resume",
        "max_line_length",
        "log",
        "progress",
        "plot",
        "category",  # NAME=FILE: where each labelled list lives (its items are checked like FILE's)
    }
)
NOT_RECORDED = frozenset({"func", "resume", "command"})
# The training budget is replaced as a whole: `--resume CKPT --epochs 30` means "run to
# epoch 30", whatever --max-steps the interrupted run had.
BUDGET = frozenset({"epochs", "max_steps"})


def explicit_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The ``dest`` of every option (and positional) that ``argv`` gives explicitly."""
    _suppress_defaults(parser)
    try:
        namespace = parser.parse_args(argv)
    except SystemExit:  # the real parse already succeeded; be safe anyway
        return set()
    return set(vars(namespace))


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    parser._defaults.clear()  # noqa: SLF001 - argparse keeps set_defaults() here
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                _suppress_defaults(sub)
        elif action.dest != "command":
            action.default = argparse.SUPPRESS


def cli_record(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-representable arguments of a ``charrnn train`` run, for its checkpoints.
    Paths are made absolute so that a resume from another folder finds them."""
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key in NOT_RECORDED or key.startswith("_"):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = list(value)  # e.g. --category NAME=FILE, given several times
    for key in ("file", "val", "test"):
        if out.get(key):
            out[key] = os.path.abspath(out[key])
    return out


def merge_resumed_args(
    args: argparse.Namespace, explicit: set[str], stored: Optional[dict[str, Any]], path: str
) -> argparse.Namespace:
    """``args`` with every option not typed again taken from the checkpoint's record."""
    if not stored:
        raise ResumeError(
            f"{path}: this training checkpoint was not written by 'charrnn train' (no command-line "
            f"record); resume it from Python with charrnn.resume()"
        )
    new_budget = bool(BUDGET & explicit)
    for key, value in stored.items():
        if key in BUDGET and new_budget:
            continue
        if not hasattr(args, key):
            continue  # an option this version does not have
        if key in explicit and key not in OVERRIDABLE and getattr(args, key) != value:
            option = "--" + key.replace("_", "-")
            raise ResumeError(
                f"{option} {getattr(args, key)} differs from the {value} the checkpoint was trained with; "
                f"a resumed run keeps its options (only how long it runs, where it writes, what it prints "
                f"and where the data lives may change)"
            )
        if key not in explicit:
            setattr(args, key, value)
    return args


def apply_resumed_args(args: argparse.Namespace, extra: Optional[dict[str, Any]], path: str) -> None:
    """``charrnn train --resume CKPT`` in either mode: the options not typed again come
    from ``extra`` (the checkpoint's ``training`` metadata), the checkpoint is rewritten
    in place unless ``--checkpoint`` says otherwise, and the stored thread count applies."""
    from . import _core
    from .cli import build_parser

    explicit = explicit_options(build_parser(), getattr(args, "_argv", []))
    merge_resumed_args(args, explicit, (extra or {}).get("cli"), path)
    if "checkpoint" not in explicit:
        args.checkpoint = path
    if args.threads:  # main() set the threads before the stored value was known
        _core.set_num_threads(args.threads)
