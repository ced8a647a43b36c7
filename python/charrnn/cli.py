"""The ``charrnn`` command: train, sample, eval.

    charrnn train                      # bundled Russian first names, about a minute
    charrnn train names.txt --cell gru --epochs 20 --out names.safetensors
    charrnn sample names.safetensors -n 20 --temperature 0.8 --prefix Ан
    charrnn eval names.safetensors held_out.txt --json

Errors are one line on stderr (``charrnn: error: ...``) and exit status 2; Ctrl-C exits
with status 130 (during training, after saving a resumable checkpoint and saying how to
resume: ``charrnn train --resume CKPT``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
from typing import Any, Optional, TextIO

from .argtypes import positive_int as _positive_int, non_negative_int as _non_negative_int, positive_float as _positive_float, fraction as _fraction
from . import _core, datasets
from .checkpoint import load
from .cli_resume import apply_resumed_args, cli_record
from .commands import (
    add_commands,
    add_sample_options,
    add_train_options,
    category_args,
    final_samples,
    labelled_data,
    print_category_counts,
    run_sample,
    sample_command_applies,
    save_trained,
)
from .data import load_lines, training_split
from .errors import CharRNNError, DataError, TrainingInterrupted
from .reading import DEFAULT_MAX_LINE_CHARS
from .model import CELLS, DEFAULT_MAX_LEN, CharRNN
from .text_cli import (
    add_schedule_options,
    add_text_sample_options,
    add_text_train_options,
    check_mode_options,
    run_text_eval,
    run_text_sample,
    run_text_train,
    schedule_kwargs,
    text_sample_applies,
)
from .training import EpochRecord, train
from .text_state import is_text_checkpoint
from .training_state import default_checkpoint_path, load_training_checkpoint
from .vocab import Vocab

__all__ = ["main", "build_parser", "TRAIN_DEFAULTS"]

# The defaults of `charrnn train`, chosen so that training on the bundled first names
# takes about a minute on two cores and already gives plausible names.
TRAIN_DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "hidden": 128,
    "layers": 1,
    "embed": 32,
    "batch": 32,
    "lr": 3e-3,
    "dropout": 0.2,
    "epochs": 40,
    "val_fraction": 0.1,
    "seed": 0,
    "samples": 10,
    "out": "charrnn-model.safetensors",
}
BUNDLED = "bundled Russian first names"


def _version() -> str:
    from . import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line, like every other error of the command."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, except where there is nothing worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or not action.option_strings
            or default is None
            or default is False
            or default == ""
            or default == argparse.SUPPRESS
        ):
            return text
        return text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="charrnn",
        description="Character-level RNN/LSTM/GRU language models: learn names, generate more like them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    parser.add_argument(
        "--threads",
        type=_non_negative_int,
        metavar="N",
        default=0,
        help="kernel threads (0: one per core; default: %(default)s)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = TRAIN_DEFAULTS

    p = sub.add_parser(
        "train",
        help="train a model on a file of names (one per line)",
        formatter_class=_HelpFormatter,
        description="Train a model on FILE (one item per line, UTF-8; with --mode text, the whole file as one "
        "continuous stream) and save it.",
    )
    p.add_argument(
        "file", metavar="FILE", nargs="?", help=f"training data; default: the {BUNDLED} (male + female)"
    )
    p.add_argument("--val", metavar="FILE", help="validation data (default: a random --val-fraction of FILE)")
    p.add_argument(
        "--val-fraction",
        type=_fraction,
        metavar="X",
        default=d["val_fraction"],
        help="share of FILE held out for validation when --val is not given",
    )
    p.add_argument("--dedupe", action="store_true", help="drop repeated lines of FILE")
    p.add_argument("--cell", choices=CELLS, default=d["cell"], help="recurrent cell")
    p.add_argument(
        "--hidden", type=_positive_int, metavar="N", default=d["hidden"], help="hidden units per layer"
    )
    p.add_argument("--layers", type=_positive_int, metavar="N", default=d["layers"], help="recurrent layers")
    p.add_argument(
        "--embed", type=_positive_int, metavar="N", default=d["embed"], help="character embedding size"
    )
    p.add_argument("--batch", type=_positive_int, metavar="N", default=d["batch"], help="items per batch")
    p.add_argument("--lr", type=_positive_float, metavar="X", default=d["lr"], help="Adam learning rate")
    p.add_argument(
        "--dropout",
        type=_fraction,
        metavar="X",
        default=d["dropout"],
        help="dropout on the inputs of layers 1.. and of the output layer",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        default=None,
        help=f"epochs (default: {d['epochs']}, or unlimited when --max-steps is given)",
    )
    p.add_argument(
        "--max-steps",
        type=_positive_int,
        metavar="N",
        default=None,
        help="stop after this many optimizer steps",
    )
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="N",
        default=d["seed"],
        help="seed of the weights, the split, the data order and the samples",
    )
    p.add_argument("--out", metavar="PATH", default=d["out"], help="where to save the model")
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        default=None,
        help="where to keep the resumable training state, rewritten atomically at every epoch end "
        "(text mode: at every evaluation) "
        "(default: OUT with .safetensors replaced by .ckpt.safetensors; with --resume: CKPT)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        metavar="STEPS",
        default=None,
        help="also write the resumable checkpoint every STEPS optimizer steps",
    )
    p.add_argument(
        "--resume",
        metavar="CKPT",
        default=None,
        help="continue the run saved in CKPT exactly where it stopped (its options and data "
        "come from CKPT, in either mode; --epochs/--max-steps may extend it)",
    )
    p.add_argument(
        "--max-line-length",
        type=_non_negative_int,
        metavar="N",
        default=DEFAULT_MAX_LINE_CHARS,
        help="refuse data files with an item longer than N characters (0: no limit)",
    )
    p.add_argument(
        "--samples",
        type=_non_negative_int,
        metavar="N",
        default=d["samples"],
        help="names to sample at the end",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object per epoch on stdout and nothing else"
    )
    add_train_options(p)  # --category/--preset/--category-dim, --log, --progress (charrnn.commands)
    add_text_train_options(p)  # --mode, --seq-len, --test, --test-fraction, --eval-every (charrnn.text_cli)
    add_schedule_options(p)  # --lr-decay*, --patience, --clip (charrnn.text_cli)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "sample",
        help="generate names with a trained model",
        formatter_class=_HelpFormatter,
        description="Generate names with MODEL, one per line.",
    )
    p.add_argument("model", metavar="MODEL", help="a checkpoint written by 'charrnn train'")
    p.add_argument("-n", type=_positive_int, metavar="N", default=10, help="how many names")
    p.add_argument(
        "--temperature", type=float, metavar="T", default=1.0, help="< 1: safer names, > 1: wilder names"
    )
    p.add_argument(
        "--top-k",
        type=_positive_int,
        metavar="K",
        default=None,
        help="draw only from the K most likely characters (1: greedy)",
    )
    p.add_argument(
        "--top-p",
        type=float,
        metavar="P",
        default=None,
        help="draw only from the most likely characters that make up probability P (nucleus sampling)",
    )
    p.add_argument("--prefix", metavar="TEXT", default="", help="every name starts with this text")
    p.add_argument(
        "--max-len",
        type=_positive_int,
        metavar="N",
        default=DEFAULT_MAX_LEN,
        help="maximum characters per name, prefix included (longer names are cut; with --novel, "
        "--exclude or --min-len they are drawn again)",
    )
    p.add_argument(
        "--seed", type=_non_negative_int, metavar="N", default=0, help="the same seed gives the same names"
    )
    add_sample_options(p)  # --category, --novel, --exclude, --min-len, --beam, --json (charrnn.commands)
    add_text_sample_options(p)  # --prime, --length: text models (charrnn.text_cli)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "eval",
        help="measure a model on a file of names",
        description="NLL per character (nats), perplexity and bits per character of MODEL on FILE.",
    )
    p.add_argument("model", metavar="MODEL", help="a checkpoint written by 'charrnn train'")
    p.add_argument("file", metavar="FILE", help="one item per line, UTF-8")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--category", metavar="NAME", default=None, help="the category of FILE's items (conditional models)")
    p.set_defaults(func=cmd_eval)
    add_commands(sub)  # classify, score, export, import, plot (charrnn.commands)
    return parser


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _epoch_line(record: EpochRecord, epochs: Optional[int], best: bool) -> str:
    of = f"/{epochs}" if epochs else ""
    return (
        f"epoch {record.epoch:>3}{of}  step {record.step:>6}  "
        f"train nll {record.train_nll:.4f} ppl {record.train_ppl:6.2f} bpc {record.train_bpc:.3f} | "
        f"val nll {_fmt(record.val_nll, '.4f')} ppl {_fmt(record.val_ppl, '6.2f')} bpc {_fmt(record.val_bpc, '.3f')}"
        f"{' *' if best else '  '} | {record.chars_per_sec:>9,.0f} chars/s | {record.seconds:6.1f}s"
    )


def cmd_train(args: argparse.Namespace) -> int:
    if getattr(args, "mode", "names") == "text" or (args.resume is not None and is_text_checkpoint(args.resume)):
        return run_text_train(args)  # continuous text: charrnn.text_cli
    check_mode_options(args)
    resumed = None
    if args.resume is not None:  # the run's options and data come from the checkpoint
        resumed_model, resumed = load_training_checkpoint(args.resume)
        apply_resumed_args(args, resumed.extra, args.resume)
    # Human-readable text goes to stdout, or to stderr when stdout carries JSON lines.
    out: TextIO = sys.stderr if args.json else sys.stdout
    max_chars = args.max_line_length or None
    labelled = labelled_data(args, max_chars)  # --preset / --category: a conditional model
    if labelled is not None:
        items, source = labelled
    elif args.file is None:
        items, source = datasets.russian_names("first"), BUNDLED
    else:
        items, source = load_lines(args.file, dedupe=args.dedupe, max_line_chars=max_chars), args.file
    # --val FILE, or a random --val-fraction (charrnn.data.training_split, shared with `charrnn ngram`).
    given_val = None if args.val is None else load_lines(args.val, dedupe=args.dedupe, max_line_chars=max_chars)
    train_items, val_items, moved = training_split(items, given_val, args.val_fraction, args.seed, args.val)
    if moved:
        print(f"moved {moved} validation item(s) with characters found in no training item to training", file=out)
    if args.val is None and len(items) == 1:
        print("warning: only 1 item: nothing to hold out, training without validation", file=sys.stderr)
    # The alphabet is the training data's (see above for the validation data).
    vocab = Vocab.from_items(train_items)
    if resumed is not None:
        if resumed_model.vocab != vocab:
            raise DataError(f"{source}: its alphabet differs from the one the checkpoint {args.resume} was trained on")
        model = resumed_model
    else:
        model = CharRNN(
            vocab,
            cell=args.cell,
            hidden=args.hidden,
            layers=args.layers,
            embed=args.embed,
            seed=args.seed,
            **category_args(args, train_items),
        )
    checkpoint = args.checkpoint or default_checkpoint_path(args.out)
    epochs = (
        args.epochs if args.epochs is not None else (None if args.max_steps else TRAIN_DEFAULTS["epochs"])
    )

    chars = "".join(vocab.chars)
    print(f"data: {len(train_items):,} train / {len(val_items):,} val items from {source}", file=out)
    print(f"vocab: {len(vocab)} ids (3 markers + {len(vocab.chars)} characters: {chars})", file=out)
    print_category_counts(train_items, val_items, out)
    print(
        f"model: {model.cell} hidden {model.hidden} x {model.layers} layer(s), embed {model.embed}, "
        f"{model.num_params:,} parameters; batch {args.batch}, lr {args.lr:g}, dropout {args.dropout:g}, "
        + (f"{epochs} epochs" if epochs else "")
        + (f"{', ' if epochs else ''}at most {args.max_steps} steps" if args.max_steps else ""),
        file=out,
        flush=True,
    )
    if resumed is not None:
        print(f"resuming from {args.resume} at {resumed.summary()}", file=out, flush=True)
    best_so_far = [math.inf if resumed is None or resumed.best_val_nll is None else resumed.best_val_nll]

    def report(record: EpochRecord) -> None:
        if args.json:
            print(json.dumps(record.to_dict()), flush=True)
            return
        best = record.val_nll is not None and record.val_nll < best_so_far[0]
        if best:
            best_so_far[0] = record.val_nll
        print(_epoch_line(record, epochs, best), file=out, flush=True)

    history = train(
        model,
        train_items,
        val_items or None,
        epochs=epochs,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        max_steps=args.max_steps,
        callback=report,
        dropout=args.dropout,
        clip=args.clip or None,
        **schedule_kwargs(args),
        checkpoint=checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=resumed,
        checkpoint_info={"cli": cli_record(args)},
        progress=False if args.json else args.progress,
        log=args.log,
    )
    extra = {
        "data": source,
        "train_items": len(train_items),
        "val_items": len(val_items),
        "batch_size": args.batch,
        "lr": args.lr,
        "dropout": args.dropout,
        "seed": args.seed,
        "epochs": len(history),
        "steps": history[-1].step if history else 0,
        "best_epoch": history.best_epoch,
        "best_val_nll": history.best_val_nll,
        "history": history.to_dicts(),
    }
    save_trained(model, args.out, extra, train_items, val_items)  # + the names seen, for sample --novel
    if history.stopped_early:
        print(f"stopped early: {args.patience} epoch(s) in a row without a better validation loss", file=out)
    if history.best_val_nll is not None:
        print(
            f"kept the weights of epoch {history.best_epoch} (val nll {history.best_val_nll:.4f})", file=out
        )
    if args.samples:
        print("samples:", file=out)
        for name in final_samples(model, args.samples, args.seed):
            print(f"  {name}", file=out)
    print(f"saved to {args.out} (resumable training state: {checkpoint})", file=out)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    if text_sample_applies(args):  # a text model, or --prime/--length (charrnn.text_cli)
        return run_text_sample(args)
    if sample_command_applies(args):  # categories, filters, beam search, JSON
        return run_sample(args)
    model = load(args.model)
    names = model.sample(
        n=args.n,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        prefix=args.prefix,
        seed=args.seed,
        max_len=args.max_len,
    )
    for name in names:
        print(name)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.mode == "text":  # the file is one stream (charrnn.text_cli)
        return run_text_eval(args, model)
    items = load_lines(args.file)
    if model.categories is not None and args.category is None:
        raise ValueError(f"this model is conditional: give the category of the items with --category ({', '.join(model.categories)})")
    result = model.evaluate(items, category=args.category)
    if args.json:
        print(json.dumps({**result, "items": len(items)}))
    else:
        print(
            f"nll {result['nll']:.4f} nats/char  ppl {result['ppl']:.3f}  bpc {result['bpc']:.4f}  "
            f"({result['chars']:,} chars in {len(items):,} items)"
        )
    return 0


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {os.fsdecode(error.filename)}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # to tell typed options from defaults
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
        print(f"charrnn: error: {_one_line(e)}", file=sys.stderr)
        return 2
