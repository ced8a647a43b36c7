"""The ``charrnn`` command: one small module per subcommand.

    charrnn train                      # bundled Russian first names, about a minute
    charrnn train names.txt --cell gru --epochs 20 --out names.safetensors
    charrnn train input.txt --mode text --out shakespeare.safetensors
    charrnn sample names.safetensors -n 20 --temperature 0.8 --prefix Ан
    charrnn eval names.safetensors held_out.txt --json
    charrnn classify gender.safetensors Саша Евгения --json
    charrnn score names.safetensors Анна Ахтунг --json
    charrnn export names.safetensors --to torch names.torch.safetensors
    charrnn import names.torch.safetensors --out back.safetensors
    charrnn plot run.jsonl --out curves.png
    charrnn ngram names.txt --order 6 --json
    charrnn person -n 5 --gender female --translit icao
    charrnn patronymic Илья Лев Никита

Each module (:mod:`~charrnn.cli.train`, :mod:`~charrnn.cli.sample`, ...) has
``add_parser(subparsers)`` and ``run(args)``.  Errors are one line on stderr
(``charrnn: error: ...``) and exit status 2; Ctrl-C exits with status 130 (during
training, after saving a resumable checkpoint and saying how to resume:
``charrnn train --resume CKPT``; the best model so far stays at ``--out``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from typing import Optional

from .. import _core
from .._version import __version__
from ..errors import CharRNNError, TrainingInterrupted
from . import classify, eval_, export, import_, models, ngram, patronymic, person, plot, sample, score, train
from .args import non_negative_int
from .common import Parser, one_line, subcommand

__all__ = ["main", "build_parser"]

SUBCOMMANDS = (train, sample, eval_, classify, score, export, import_, plot, ngram, person, patronymic, models)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="charrnn",
        description="Character-level RNN/LSTM/GRU language models: learn names, generate more like them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    parser.add_argument(
        "--threads",
        type=non_negative_int,
        metavar="N",
        default=None,
        help="kernel threads (0: one per core; default: 0)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        if hasattr(command, "add_parser"):  # train, sample: their own help formatting
            command.add_parser(sub)
        else:  # NAME, SUMMARY, DESCRIPTION, arguments(p), run(args)
            command.arguments(subcommand(sub, command.NAME, command.SUMMARY, command.DESCRIPTION, command.run))
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.threads:
            _core.set_num_threads(args.threads)
        return args.func(args)
    except TrainingInterrupted as e:
        print(f"charrnn: interrupted at step {e.step} (epoch {e.epoch})", file=sys.stderr)
        if e.checkpoint:
            print(f"charrnn: saved the training state to {e.checkpoint}", file=sys.stderr)
            print(f"charrnn: to continue: charrnn train --resume {shlex.quote(e.checkpoint)}", file=sys.stderr)
        return 128 + (e.signum or 2)
    except KeyboardInterrupt:
        print("charrnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `charrnn sample ... | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CharRNNError, ValueError, OSError, ArithmeticError) as e:
        print(f"charrnn: error: {one_line(e)}", file=sys.stderr)
        return 2
