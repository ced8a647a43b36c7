"""What every subcommand module shares: the parser classes, the one-line error format,
small formatting helpers."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Optional

from ..checkpoint import read_header
from ..pretrained import resolve_model

__all__ = [
    "subcommand",
    "Parser",
    "HelpFormatter",
    "intermixed",
    "one_line",
    "fmt",
    "shown",
    "checkpoint_mode",
    "model_file",
]


def subcommand(sub: Any, name: str, summary: str, description: str, run: Any, **kw: Any) -> argparse.ArgumentParser:
    """Register subcommand ``name`` (``summary`` in ``charrnn --help``) that runs ``run(args)``."""
    p = sub.add_parser(name, help=summary, description=description, **kw)
    p.set_defaults(func=run)
    return p


class Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line, like every other error of the command."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, except where there is nothing worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default:" in text
            or not action.option_strings
            or default is None
            or default is False
            or default == ""
            or default == argparse.SUPPRESS
        ):
            return text
        return text + " (default: %(default)s)"


class _IntermixedParser(Parser):
    """Lets options and a list of positionals mix (``score MODEL --category f Анна Яна``),
    which plain ``parse_args`` refuses once a ``nargs="*"`` positional was matched empty."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inside:  # parse_known_intermixed_args calls parse_known_args itself
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def intermixed(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.__class__ = _IntermixedParser
    return p


def one_line(error: BaseException) -> str:
    """An exception as the one line ``charrnn: error: ...`` shows."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {os.fsdecode(error.filename)}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def shown(chars: str) -> str:
    """Characters with the invisible ones escaped, for one line of output."""
    return chars.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def model_file(spec: str) -> str:
    """The ``MODEL`` argument of every command: a file, or the name of a shipped model
    (:func:`charrnn.pretrained.resolve_model`); what resolves to nothing is kept as given,
    for loading to report in one line."""
    try:
        return resolve_model(spec)
    except FileNotFoundError:
        return spec


MODEL_HELP = "a checkpoint written by 'charrnn train', or a shipped model such as ru-first-female (charrnn models)"


def add_model_argument(p: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    """The ``MODEL`` positional argument, as every command that reads a model takes it."""
    p.add_argument("model", metavar="MODEL", type=model_file, help=help)


def checkpoint_mode(path: str) -> str:
    """The mode recorded in a checkpoint's config, read from its header only (``names``
    when absent or unreadable: loading the file reports a damaged one properly)."""
    try:
        config = json.loads(read_header(path).get("config", "{}"))
        mode = config.get("mode", "names") if isinstance(config, dict) else "names"
        return mode if mode in ("names", "text") else "names"
    except Exception:  # noqa: BLE001 - the real load reports it
        return "names"
