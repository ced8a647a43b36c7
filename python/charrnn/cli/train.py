"""``charrnn train``: one command for both modes.

    charrnn train                      # bundled Russian first names, about a minute
    charrnn train names.txt --cell gru --epochs 20 --out names.safetensors
    charrnn train --preset ru-first-by-gender --out gender.safetensors --log run.jsonl
    charrnn train input.txt --mode text --out shakespeare.safetensors
    charrnn train --resume names.ckpt.safetensors
    charrnn train surnames.txt --time-budget 5m    # size, schedule, evaluations, stop: planned

Every option the user does not type gets its default from
:meth:`TrainConfig.for_mode` of the mode (or, with ``--resume``, from the checkpoint's
record of the run): the parser's defaults are None, so "typed" is simply "not None".
The best model so far is at ``--out`` as soon as there is one, in both modes; Ctrl-C
leaves it there and saves the resumable state next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Optional, TextIO

from .. import _core, datasets, mixture
from ..budget import BudgetPlan, format_duration
from ..counted import DEFAULT_WEIGHT_POWER, Counted, has_count_header, load_counts, split_weights
from ..data import load_lines, training_split
from ..errors import CharRNNError, DataError, ResumeError, TrainingInterrupted
from ..labelled import Labelled
from ..model import CELLS, DEFAULT_CATEGORY_DIM, CharRNN
from ..ngram import baseline
from ..reading import DEFAULT_MAX_LINE_CHARS
from ..records import EpochRecord, History, TextRecord
from ..sampling import SEEN_KEY, SeenNames
from ..sources import NamesSource, TextSource
from ..text import load_text, text_vocab, training_parts
from ..training import TrainConfig, train, train_text
from ..training.config import REGULARISERS, passes_bucket
from ..training.fitting import budget_choice
from ..training.replay import load_plan as _load_plan
from ..training.replay import recorded_run
from ..training.state import LEGACY_OPTIONS, default_checkpoint_path, load_state
from ..vocab import Vocab
from .args import (
    category_spec,
    clip,
    decay,
    duration,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .common import HelpFormatter, fmt, shown, subcommand

__all__ = ["add_parser", "run", "OVERRIDABLE", "cli_record", "CLI_DEFAULTS"]

NAMES, TEXT = TrainConfig.for_mode("names"), TrainConfig.for_mode("text")
BUNDLED = "bundled Russian first names"
FINAL_SAMPLE_CHARS = 400  # the sample `charrnn train --mode text` prints at the end
# Options that are not hyperparameters of the run: their defaults (the same in both modes).
CLI_DEFAULTS: dict[str, Any] = {
    "mode": "names",
    "samples": 10,
    "out": "charrnn-model.safetensors",
    "max_line_length": DEFAULT_MAX_LINE_CHARS,
    "category_dim": DEFAULT_CATEGORY_DIM,
    "dedupe": False,
    "json": False,
    "weight_power": DEFAULT_WEIGHT_POWER,
}
# CLI option -> TrainConfig field, for the options whose default is the mode's.
CONFIG_FIELDS = {
    "cell": "cell",
    "hidden": "hidden",
    "layers": "layers",
    "embed": "embed",
    "batch": "batch_size",
    "lr": "lr",
    "clip": "clip",
    "dropout": "dropout",
    "variational": "variational",
    "input_dropout": "input_dropout",
    "embed_dropout": "embed_dropout",
    "weight_drop": "weight_drop",
    "seed": "seed",
    "val_fraction": "val_fraction",
    "lr_decay": "lr_decay",
    "lr_decay_every": "lr_decay_every",
    "lr_decay_start": "lr_decay_start",
    "weight_decay": "weight_decay",
    "ema": "ema",
}
TEXT_ONLY = {"seq_len": "--seq-len", "test": "--test", "test_fraction": "--test-fraction", "eval_every": "--eval-every"}
TEXT_ONLY_DEFAULTS = {"seq_len": "seq_len", "test_fraction": "test_fraction"}
NAMES_ONLY = {
    "dedupe": "--dedupe",
    "category": "--category",
    "preset": "--preset",
    "weights": "--weights",
    "weight_power": "--weight-power",
    "mix": "--mix",
}
# With --resume: the options that may differ from the checkpoint's (how long to run, where
# to write, what to print, where the data now lives — the data itself is checked against the
# checkpoint's fingerprint); any other option typed again must equal the stored one.
OVERRIDABLE = frozenset(
    {
        "file",
        "val",
        "test",
        "weights",
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
        "mix",  # what is done with the trained network, not how it is trained
    }
)
BUDGET = frozenset({"epochs", "max_steps"})  # replaced as a whole on resume
SIZE = frozenset({"hidden", "layers"})  # what --size auto chooses
NOT_RECORDED = frozenset({"func", "resume", "command", "typed"})


def _both(field: str) -> str:
    """``(default: N; --mode text: T)`` of a TrainConfig field (one value when they agree)."""
    n, t = getattr(NAMES, field), getattr(TEXT, field)
    return f"(default: {n:g})" if n == t else f"(default: {n:g}; --mode text: {t:g})"


# -- the parser ----------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    p = subcommand(
        sub,
        "train",
        "train a model on a file of names (one per line) or of text (--mode text)",
        "Train a model on FILE (one item per line, UTF-8; with --mode text, the whole file as one "
        "continuous stream) and save it. The best model so far is at --out as soon as there is one.",
        run,
        formatter_class=HelpFormatter,
    )
    p.add_argument("file", metavar="FILE", nargs="?", help=f"training data; default: the {BUNDLED} (male + female)")
    p.add_argument(
        "--mode",
        choices=["names", "text"],
        default=None,
        help="names: one item per line, each a separate sequence (the hidden state starts from zeros in every batch); "
        "text: the whole file is one continuous stream, trained with the state carried between batches "
        "(defaults then follow char-rnn: lstm 2 x 128, embed 32, --batch 50, --seq-len 50, --lr 0.002, --clip 5, "
        "--dropout 0, 30 epochs, --lr-decay 0.97 from epoch 10, --val-fraction 0.05, --test-fraction 0.05) "
        "(default: names)",
    )
    p.add_argument("--val", metavar="FILE", help="validation data (default: a random --val-fraction of FILE)")
    p.add_argument(
        "--val-fraction",
        type=fraction,
        metavar="X",
        help="share of FILE held out for validation when --val is not given " + _both("val_fraction"),
    )
    p.add_argument("--dedupe", action="store_true", default=None, help="drop repeated lines of FILE")
    p.add_argument(
        "--weights",
        metavar="COUNTS",
        help="frequency-aware training: how often each item occurs, a file of 'name<TAB>count' lines (or with a "
        "header naming a 'count' column); items are drawn in proportion to count ** --weight-power, and the "
        "validation NLL is also given per occurrence. Without FILE the items are COUNTS' own. A FILE whose "
        "header has a 'count' column is read this way by itself.",
    )
    p.add_argument(
        "--weight-power",
        type=non_negative_float,
        metavar="X",
        help="with counts: draw items in proportion to count ** X (1: as often as they occur, 0: all alike) "
        f"(default: {DEFAULT_WEIGHT_POWER})",
    )
    p.add_argument("--cell", choices=CELLS, help=f"recurrent cell (default: {NAMES.cell})")
    p.add_argument("--hidden", type=positive_int, metavar="N", help="hidden units per layer " + _both("hidden"))
    p.add_argument("--layers", type=positive_int, metavar="N", help="recurrent layers " + _both("layers"))
    p.add_argument("--embed", type=positive_int, metavar="N", help="character embedding size " + _both("embed"))
    p.add_argument(
        "--batch", type=positive_int, metavar="N", help="items (text: streams) per batch " + _both("batch_size")
    )
    p.add_argument("--lr", type=positive_float, metavar="X", help="Adam learning rate " + _both("lr"))
    p.add_argument(
        "--dropout",
        type=fraction,
        metavar="X",
        help="dropout on the inputs of layers 1.. and of the output layer " + _both("dropout"),
    )
    p.add_argument(
        "--variational",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--dropout draws one mask per sequence, the same at every step, instead of one per position "
        "(variational dropout; default: off; with --time-budget on for text, and for names the budget "
        "goes over 16 times or more; --no-variational: off)",
    )
    for field, what in (
        ("input_dropout", "dropout on each sequence's character embeddings, one mask per sequence"),
        ("embed_dropout", "drops whole characters: rows of the embedding table, one draw per batch"),
        ("weight_drop", "DropConnect on the recurrent weights, one mask per batch"),
    ):
        p.add_argument("--" + field.replace("_", "-"), type=fraction, metavar="X", help=f"{what} {_both(field)}")
    p.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help=f"epochs (default: {NAMES.epochs}; --mode text: {TEXT.epochs}; unlimited when --max-steps is given)",
    )
    p.add_argument("--max-steps", type=positive_int, metavar="N", help="stop after this many optimizer steps")
    p.add_argument(
        "--seed",
        type=non_negative_int,
        metavar="N",
        help=f"seed of the weights, the split, the data order and the samples (default: {NAMES.seed})",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help=f"where to save the model: the best so far, as soon as there is one (default: {CLI_DEFAULTS['out']})",
    )
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="where to keep the resumable training state, rewritten atomically at every evaluation "
        "(default: OUT with .safetensors replaced by .ckpt.safetensors; with --resume: CKPT)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="STEPS",
        help="also write the resumable checkpoint every STEPS optimizer steps",
    )
    p.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue the run saved in CKPT exactly where it stopped (its options and data "
        "come from CKPT, in either mode; --epochs/--max-steps may extend it)",
    )
    p.add_argument(
        "--max-line-length",
        type=non_negative_int,
        metavar="N",
        help=f"refuse data files with an item longer than N characters (0: no limit) (default: {DEFAULT_MAX_LINE_CHARS})",
    )
    p.add_argument(
        "--samples",
        type=non_negative_int,
        metavar="N",
        help=f"names to sample at the end (text: 0 turns the final sample off) (default: {CLI_DEFAULTS['samples']})",
    )
    p.add_argument(
        "--json",
        action="store_true",
        default=None,
        help="print one JSON object per evaluation on stdout and nothing else",
    )

    g = p.add_argument_group(
        "time budget (both modes)",
        "--time-budget 5m plans the whole run to end within 5 minutes, evaluations included: it times its "
        "warm-up steps and one evaluation, then fixes the number of steps, evaluates about 20 times and "
        "lowers the learning rate on a cosine from --lr down to a twentieth of it at the last step; the best "
        "model is at --out. The budget replaces --epochs, --max-steps and the --lr-decay options. Without "
        "--hidden/--layers the size is chosen for the data and the budget (--size auto). The plan is stored "
        "in the checkpoint (--resume runs the steps that were left) and in every --json record.",
    )
    g.add_argument(
        "--time-budget", type=duration, metavar="DURATION", help="train for this long, e.g. 90s, 5m, 1h, 1h30m"
    )
    g.add_argument(
        "--plan",
        metavar="FILE",
        help="follow the plan of an earlier budgeted run instead of timing this one (the same steps on any machine): "
        "a model or checkpoint it saved, a --json line of it, or a JSON file of the plan",
    )
    g.add_argument(
        "--mix",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="names mode, without categories: once trained, mix the best network with a Kneser-Ney n-gram of the "
        "training names, one weight per position fitted on the validation names, and save the mixture in --out "
        "when it beats the network alone on them (cross-fitted); charrnn sample and score then use the mixture "
        "(default: on with --time-budget; --no-mix: off)",
    )
    g.add_argument(
        "--size",
        choices=["auto"],
        help="auto: choose --hidden and --layers for the data and the --time-budget from the measured speed "
        "(the default with --time-budget when neither is given)",
    )

    g = p.add_argument_group(
        "categories (a conditional model: one model for several labelled lists)",
        "The model learns one embedding per category and is then sampled, scored and "
        "classified by category. Validation is a --val-fraction of each category.",
    )
    g.add_argument(
        "--category",
        type=category_spec,
        action="append",
        metavar="NAME=FILE",
        help="a labelled list: the items of FILE belong to category NAME (repeat for each category)",
    )
    g.add_argument(
        "--preset",
        choices=list(datasets.PRESETS),
        help="a labelled set from the bundled names: "
        + "; ".join(f"{name}: {description}" for name, (description, _) in datasets.PRESETS.items()),
    )
    g.add_argument(
        "--category-dim",
        type=positive_int,
        metavar="N",
        help=f"size of the learnt category embedding (default: {DEFAULT_CATEGORY_DIM})",
    )
    g = p.add_argument_group("seeing training")
    g.add_argument(
        "--log",
        metavar="FILE.jsonl",
        help="write every evaluation (train/val NLL, perplexity, step, ...) to FILE as JSON lines; "
        "draw it with 'charrnn plot FILE'",
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar with the live loss and chars/s during each epoch, on stderr "
        "(default: when stderr is a terminal and --json is not given)",
    )

    g = p.add_argument_group("continuous text (--mode text)")
    g.add_argument(
        "--seq-len",
        type=positive_int,
        metavar="N",
        help=f"characters per stream per batch: backpropagation is truncated every N steps (default: {TEXT.seq_len})",
    )
    g.add_argument("--test", metavar="FILE", help="test text (default: the last --test-fraction of FILE)")
    g.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="X",
        help=f"share of FILE held out at its end for testing when --test is not given (default: {TEXT.test_fraction})",
    )
    g.add_argument(
        "--eval-every",
        type=positive_int,
        metavar="STEPS",
        help="also evaluate (validation and test loss, best weights, early stopping) every STEPS steps inside an epoch",
    )

    g = p.add_argument_group(
        "schedule (both modes)",
        "The learning rate is multiplied by --lr-decay at the end of every epoch that is a multiple "
        "of --lr-decay-every and at least --lr-decay-start (char-rnn: --lr-decay 0.97 --lr-decay-start 10, "
        "the text-mode default). --patience N stops after N evaluations in a row without a lower "
        "validation loss; the weights of the best evaluation are the ones saved.",
    )
    g.add_argument("--lr-decay", type=decay, metavar="X", help="learning-rate decay factor " + _both("lr_decay"))
    g.add_argument(
        "--lr-decay-every",
        type=positive_int,
        metavar="N",
        help="decay every N epochs (N > 1: step decay) " + _both("lr_decay_every"),
    )
    g.add_argument(
        "--lr-decay-start",
        type=non_negative_int,
        metavar="N",
        help="first epoch whose end decays the rate " + _both("lr_decay_start"),
    )
    g.add_argument(
        "--patience",
        type=positive_int,
        metavar="N",
        help="stop early after N evaluations without a better validation loss (default: never)",
    )
    g.add_argument(
        "--clip", type=clip, metavar="X", help="clip the global gradient norm to X (0: no clipping) " + _both("clip")
    )

    g = p.add_argument_group(
        "regularisers (both modes)",
        "--weight-decay makes Adam AdamW: every step first multiplies the weight matrices of the recurrent and "
        "output layers (not the biases, not the embeddings) by 1 - lr * WD. --ema keeps an exponential moving "
        "average of the weights (with a warm-up over the first steps); the evaluations, early stopping and the "
        "saved model use the average, training goes on from the raw weights.",
    )
    g.add_argument(
        "--weight-decay",
        type=non_negative_float,
        metavar="WD",
        help="decoupled weight decay of the weight matrices (0: plain Adam) " + _both("weight_decay"),
    )
    g.add_argument(
        "--ema",
        type=fraction,
        metavar="DECAY",
        help="evaluate and save the moving average of the weights with this decay, e.g. 0.999 (0: off) " + _both("ema"),
    )


# -- options: typed, resumed, defaults --------------------------------------------------------


def typed_options(args: argparse.Namespace) -> set[str]:
    """The options the user typed: every train option's parser default is None."""
    return {key for key, value in vars(args).items() if value is not None and key not in NOT_RECORDED}


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
    for key in ("file", "val", "test", "weights"):
        if out.get(key):
            out[key] = os.path.abspath(out[key])
    return out


def apply_resumed(args: argparse.Namespace, typed: set[str], extra: Optional[dict[str, Any]], path: str) -> None:
    """``--resume CKPT``: every option not typed again comes from the checkpoint's record;
    a typed one that is not :data:`OVERRIDABLE` must equal it; the checkpoint is rewritten
    in place unless ``--checkpoint`` says otherwise; the stored thread count applies."""
    stored = (extra or {}).get("cli")
    if not stored:
        raise ResumeError(
            f"{path}: this training checkpoint was not written by 'charrnn train' (no command-line "
            f"record); resume it from Python with charrnn.resume()"
        )
    new_budget = bool(BUDGET & typed)
    # An option the checkpoint's version did not have ran at its value of then.
    stored = {**{k: v for k, v in LEGACY_OPTIONS.items() if hasattr(args, k)}, **stored}
    for key, value in stored.items():
        if (key in BUDGET and new_budget) or not hasattr(args, key):
            continue  # a new budget as a whole; or an option this version does not have
        if key in typed and key not in OVERRIDABLE and getattr(args, key) != value:
            option = "--" + key.replace("_", "-")
            raise ResumeError(
                f"{option} {getattr(args, key)} differs from the {value} the checkpoint was trained with; "
                f"a resumed run keeps its options (only how long it runs, where it writes, what it prints "
                f"and where the data lives may change)"
            )
        if key not in typed:
            setattr(args, key, value)
    if "checkpoint" not in typed:
        args.checkpoint = path
    if args.threads:  # main() set the threads before the stored value was known
        _core.set_num_threads(args.threads)


def fill_defaults(args: argparse.Namespace, typed: set[str]) -> TrainConfig:
    """Every option still None gets the mode's default; options of the other mode typed
    are refused.  Returns the run's :class:`TrainConfig`."""
    mode = args.mode or "names"
    args.mode = mode
    wrong = NAMES_ONLY if mode == "text" else TEXT_ONLY
    used = [flag for key, flag in wrong.items() if key in typed and getattr(args, key) not in (None, False, [])]
    if used and mode == "names":
        raise ValueError(f"{', '.join(used)} only apply to continuous text: add --mode text")
    if used:
        raise ValueError(f"{', '.join(used)} {'does' if len(used) == 1 else 'do'} not apply to --mode text")
    config = TrainConfig.for_mode(mode)  # a budget adds its regularisers once the data is known (apply_budget)
    for dest, field in CONFIG_FIELDS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, getattr(config, field))
    if mode == "text":
        for dest, field in TEXT_ONLY_DEFAULTS.items():
            if getattr(args, dest) is None:
                setattr(args, dest, getattr(config, field))
    for dest, value in CLI_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)
    if args.plan is not None and args.time_budget is None:
        args.time_budget = load_plan(args.plan).seconds
    if args.time_budget is not None:  # the budget replaces epochs and max_steps
        ignored = [f"--{key.replace('_', '-')}" for key in sorted(BUDGET & typed)]
        if ignored:
            print(
                f"warning: {' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored: "
                "the time budget decides how long the run is",
                file=sys.stderr,
            )
        args.epochs = args.max_steps = None
        if args.size is None and not (SIZE & typed):
            args.size = "auto"
    elif args.size is not None:
        raise ValueError("--size auto chooses the size for a --time-budget: give one")
    elif args.epochs is None and not args.max_steps:
        args.epochs = config.epochs
    if args.size is not None and SIZE & typed and args.resume is None:
        raise ValueError("give --size auto or --hidden/--layers, not both")
    if args.lr * args.weight_decay >= 1:  # each step would multiply the weights by 1 - lr * WD <= 0
        raise ValueError(f"--weight-decay {args.weight_decay:g} times --lr {args.lr:g} must be below 1")
    return config


def load_plan(path: str) -> BudgetPlan:
    """The plan of ``--plan FILE`` (:func:`charrnn.training.replay.load_plan`)."""
    return _load_plan(path, "--plan")


def apply_budget(
    args: argparse.Namespace,
    typed: set[str],
    vocab: Vocab,
    make_source: Any,
    chars: int,
    items: Optional[int],
    out: TextIO,
) -> None:
    """What a time budget decides before a new run (:func:`charrnn.training.fitting.budget_choice`,
    as :func:`charrnn.fit` does), into ``args``: with ``--size auto`` the size for this
    machine (the seconds it measured come out of the budget), the regularisers for the
    passes over the ``chars`` training characters of ``items`` names (None: text, or a
    conditional model), options typed winning.  ``--plan`` of a model, checkpoint or record brings
    its run's size and regularisers, and a plan's steps count the passes.  Says on ``out``
    what it chose."""
    if args.time_budget is None or args.resume is not None:  # a resumed run keeps the checkpoint's
        return
    size, recorded = recorded_run(args.plan) if args.plan is not None else (None, None)  # one read of --plan
    planned = size if args.size == "auto" else None
    if planned is not None:  # the size of the run that made the plan, not this machine's choice
        args.hidden, args.layers = planned
        args.size = None
        print(f"size: hidden {args.hidden} x {args.layers} layer(s), as the run that made the plan", file=out)
    choice = budget_choice(
        args.mode,
        vocab,
        make_source,
        chars,
        args.time_budget,
        current=_regulariser_options(args),
        given=typed,
        size=None if args.size == "auto" else (args.hidden, args.layers),
        items=items,
        plan=load_plan(args.plan) if args.plan is not None else None,
        recorded=recorded,
        batch_size=args.batch,
        cell=args.cell,
        embed=args.embed,
    )
    args.hidden, args.layers = choice.hidden, choice.layers
    for key, value in choice.regularisers.items():
        setattr(args, key, value)
    if choice.auto:
        args.time_budget = choice.seconds
        print(
            f"size auto: hidden {args.hidden} x {args.layers} layer(s) for {chars:,} characters "
            f"in {format_duration(choice.seconds + choice.measured)} (measuring took {choice.measured:.1f}s of it)",
            file=out,
            flush=True,
        )
    if args.mode != "names":
        return
    if recorded is not None:
        why = f"of the run that made the plan ({args.plan})"
    elif choice.passes is None:
        why = "for a conditional model (its passes are not measured)"
    else:
        why = f"for about {choice.passes:.1f} passes over the data ({passes_bucket(choice.passes)})"
    print(f"budget: regularisers {why}: {_described_regularisers(args)} (options typed win)", file=out)


# -- the command ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    typed = typed_options(args)
    resumed = None
    if args.resume is not None:  # the run's mode, options and data come from the checkpoint
        resumed = load_state(args.resume)
        apply_resumed(args, typed, resumed[1].extra, args.resume)
        args.mode = args.mode or resumed[1].mode
    fill_defaults(args, typed)
    if "weight_power" in typed and args.weights is None and not (args.file and has_count_header(args.file)):
        raise DataError("--weight-power needs counts: give --weights COUNTS (or a FILE with a 'count' column)")
    # Human-readable text goes to stdout, or to stderr when stdout carries JSON lines.
    out: TextIO = sys.stderr if args.json else sys.stdout
    return (_train_text if args.mode == "text" else _train_names)(args, typed, out, resumed)


def _saved_best(args: argparse.Namespace, best: dict[str, Any]) -> None:
    if best:
        print(f"charrnn: {args.out} holds the best weights so far ({best['what']})", file=sys.stderr)


def _train_names(args: argparse.Namespace, typed: set[str], out: TextIO, resumed: Any) -> int:
    max_chars = args.max_line_length or None
    labelled = _labelled_data(args, max_chars)  # --preset / --category: a conditional model
    counts = _counts(args, labelled is not None)  # --weights, or a FILE with a count column
    if labelled is not None:
        items, source = labelled
    elif args.file is None and counts is not None:
        items, source = counts.items, args.weights
    elif args.file is None:
        items, source = datasets.russian_names("first"), BUNDLED
    elif counts is not None and args.weights is None:
        items, source = counts.items, args.file
    else:
        items, source = load_lines(args.file, dedupe=args.dedupe, max_line_chars=max_chars), args.file
    # --val FILE, or a random --val-fraction (charrnn.data.training_split, shared with `charrnn ngram`).
    given_val = None if args.val is None else load_lines(args.val, dedupe=args.dedupe, max_line_chars=max_chars)
    train_items, val_items, moved = training_split(items, given_val, args.val_fraction, args.seed, args.val)
    weighting: dict[str, Any] = {}
    if counts is not None:
        weighting = split_weights(counts, train_items, val_items, args.weights or args.file)
        weighting["weight_power"] = args.weight_power
    if moved:
        print(f"moved {moved} validation item(s) with characters found in no training item to training", file=out)
    if args.val is None and len(items) == 1:
        print("warning: only 1 item: nothing to hold out, training without validation", file=sys.stderr)
    vocab = Vocab.from_items(train_items)  # the alphabet is the training data's
    if resumed is None:
        labelled = isinstance(train_items, Labelled)
        if labelled:  # a conditional model keeps its size; its passes are not measured
            args.size = None
        chars = sum(len(item) + 1 for item in train_items)  # + the end of each item
        batches = lambda m: NamesSource(m, train_items, batch_size=args.batch, seed=args.seed)  # noqa: E731
        apply_budget(args, typed, vocab, batches, chars, None if labelled else len(train_items), out)
    model = _model(args, vocab, resumed, source, train_items)
    checkpoint = args.checkpoint or default_checkpoint_path(args.out)
    print(f"data: {len(train_items):,} train / {len(val_items):,} val items from {source}", file=out)
    print(f"vocab: {len(vocab)} ids (3 markers + {len(vocab.chars)} characters: {''.join(vocab.chars)})", file=out)
    if isinstance(train_items, Labelled):
        val_counts = val_items.counts() if isinstance(val_items, Labelled) else {}
        parts = [f"{c} {n:,}/{val_counts.get(c, 0):,}" for c, n in train_items.counts().items()]
        print(f"categories (train/val items): {', '.join(parts)}", file=out)
    epochs = args.epochs  # None: only --max-steps counts
    print(
        f"model: {model.cell} hidden {model.hidden} x {model.layers} layer(s), embed {model.embed}, "
        f"{model.num_params:,} parameters; batch {args.batch}, lr {args.lr:g}, {_described_regularisers(args)}, "
        + (f"time budget {format_duration(args.time_budget)}" if args.time_budget else "")
        + (f"{epochs} epochs" if epochs else "")
        + (f"{', ' if epochs else ''}at most {args.max_steps} steps" if args.max_steps else ""),
        file=out,
        flush=True,
    )
    if resumed is not None:
        print(f"resuming from {args.resume} at {resumed[1].summary()}", file=out, flush=True)
    best: dict[str, Any] = {}
    seen = {SEEN_KEY: SeenNames.from_items([*train_items, *(val_items or [])]).to_metadata()}

    def metadata(history: History) -> tuple[dict[str, Any], dict[str, str]]:
        best["what"] = f"epoch {history.best_epoch}" + (
            f", val nll {history.best_val_nll:.4f}" if history.best_val_nll is not None else ""
        )
        extra = {
            "data": source,
            "train_items": len(train_items),
            "val_items": len(val_items),
            "batch_size": args.batch,
            "lr": args.lr,
            **_regulariser_options(args),
            "seed": args.seed,
            "epochs": len(history),
            "steps": history[-1].step if history else 0,
            "best_epoch": history.best_epoch,
            "best_val_nll": history.best_val_nll,
            "history": history.to_dicts(),
            "plan": _plan_of(history),
        }
        return extra, seen  # + the names seen, for sample --novel

    if weighting:
        print(f"frequency-aware: items drawn in proportion to count ** {args.weight_power:g}", file=out)
    # The mixture with the n-gram (--mix; on by default with --time-budget): names without categories.
    mix = args.mix if args.mix is not None else args.time_budget is not None
    if mix and isinstance(train_items, Labelled):
        if args.mix:
            raise DataError("--mix needs a model without categories (not --preset/--category)")
        mix = False
    report = _Reporter(args, out, resumed, _epoch_line, hold=mix)
    history = _run(
        train,
        model,
        checkpoint,
        args,
        out,
        resumed,
        _epoch_line,
        metadata,
        best,
        train_items,
        val_items or None,
        report=report,
        **weighting,
    )
    mixed: dict[str, Any] = {}
    if history.best_val_nll is not None:
        print(f"kept the weights of epoch {history.best_epoch} (val nll {history.best_val_nll:.4f})", file=out)
        if mix:
            mixed = _mix(model, train_items, val_items, history.best_val_nll, args.out, metadata(history), out)
        elif not isinstance(train_items, Labelled):  # the baseline knows no categories
            _print_baseline(history.best_val_nll, train_items, val_items, "names", None, out)
    elif mix:
        print("no mixture: there are no validation names to fit its weights on", file=out)
    report.flush(**mixed)
    if args.samples:
        print("samples:", file=out)
        for name in _final_samples(model, args.samples, args.seed):
            print(f"  {name}", file=out)
    print(f"saved to {args.out} (resumable training state: {checkpoint})", file=out)
    return 0


def _print_baseline(network_nll: float, train_data: Any, val_data: Any, mode: str, vocab: Any, out: TextIO) -> None:
    """The counting baseline on the same split, beside the network's validation NLL: does
    the network beat a Kneser-Ney n-gram model (``charrnn ngram``)?"""
    b = baseline(train_data, val_data, mode=mode, vocab=vocab)
    if b["val_nll"] is not None:
        _baseline_line(network_nll, b["order"], b["val_nll"], out)


def _baseline_line(network_nll: float, order: int, ngram_nll: float, out: TextIO) -> None:
    verdict = "the network is better" if network_nll < ngram_nll else "counting is better"
    print(f"counting baseline: {order}-gram Kneser-Ney val nll {ngram_nll:.4f} on the same split ({verdict})", file=out)


def _mix(
    model: CharRNN,
    train_items: Any,
    val_items: Any,
    network_nll: float,
    path: str,
    saved: tuple[Any, Any],
    out: TextIO,
) -> dict[str, Any]:
    """``--mix``: the baseline line, then the per-position mixture of the best network and
    the n-gram measured on the validation names (cross-fitted) and, when it beats the
    network, fitted on all of them and saved into ``path`` (atomically, with the
    ``saved`` metadata of the network's file).  Returns the fields of the final
    ``--json`` record; a failure leaves ``path`` as it was (the network alone)."""
    if len(val_items) < 2:
        _print_baseline(network_nll, train_items, val_items, "names", model.vocab, out)
        print("no mixture: it needs at least 2 validation names (one half fits it, the other measures it)", file=out)
        return {}
    try:
        found = mixture.mix_if_better(model, train_items, val_items)
        assert found is not None
        _baseline_line(network_nll, found["order"], found["ngram_nll"], out)
        fields: dict[str, Any] = {
            "mix_val_nll": found["position_mixture_nll"],
            "mix_position_val_nll": found["position_mixture_nll"],
            "mix_position_weights": found["position_weights"],
            "network_val_nll": found["network_nll"],
            "ngram_val_nll": found["ngram_nll"],
            "mix_saved": found["mixed"],
        }
        if found["mixed"]:
            fields["mix_fitted_val_nll"] = model.evaluate(val_items)["nll"]
            _save_final(model, path, saved)  # atomic: path holds the network or the mixture, never less
    except (CharRNNError, ValueError, OSError, MemoryError) as e:
        model.drop_mixture()
        print(f"warning: no mixture ({e}); {path} holds the network alone", file=sys.stderr)
        return {}
    where = f"saved in {path}" if found["mixed"] else f"not saved: the network alone is better ({path})"
    print(
        f"mixture of the network and the {found['order']}-gram: val nll {found['position_mixture_nll']:.4f} "
        f"(network {found['network_nll']:.4f}, {found['order']}-gram {found['ngram_nll']:.4f}); {where}",
        file=out,
    )
    return fields


def _train_text(args: argparse.Namespace, typed: set[str], out: TextIO, resumed: Any) -> int:
    if args.file is None:
        raise ValueError("--mode text needs a FILE of text to train on")
    text = load_text(args.file)
    val_fraction = 0.0 if args.val is not None else args.val_fraction
    test_fraction = 0.0 if args.test is not None else args.test_fraction
    train_part, val_part, test_part = training_parts(text, val_fraction, test_fraction, args.val, args.test)
    vocab = text_vocab(text)  # every character of FILE (its held-out parts were cut from it)
    if resumed is None:
        batches = lambda m: TextSource(m, train_part, batch_size=args.batch, seq_len=args.seq_len)  # noqa: E731
        apply_budget(args, typed, vocab, batches, len(train_part), None, out)
    model = _model(args, vocab, resumed, args.file, None)
    checkpoint = args.checkpoint or default_checkpoint_path(args.out)

    def src(path: Optional[str], fraction: float, what: str) -> str:
        return (
            path
            if path is not None
            else (f"the {'last' if what == 'test' else 'next'} {fraction:g} of FILE" if fraction else "none")
        )

    print(
        f"data: {len(train_part):,} train / {len(val_part):,} val / {len(test_part):,} test characters from {args.file} "
        f"(val: {src(args.val, val_fraction, 'val')}; test: {src(args.test, test_fraction, 'test')})",
        file=out,
    )
    print(
        f"vocab: {len(vocab)} ids (3 markers + {len(vocab.chars)} characters: {shown(''.join(vocab.chars))})", file=out
    )
    streams = max(1, (len(train_part) - 1) // args.batch)
    print(
        f"batches: {args.batch} streams of {streams:,} characters, {-(-streams // args.seq_len)} batches of "
        f"{args.seq_len} steps per epoch (state carried from batch to batch, reset at each epoch start)",
        file=out,
    )
    schedule = TrainConfig(
        lr=args.lr, lr_decay=args.lr_decay, lr_decay_every=args.lr_decay_every, lr_decay_start=args.lr_decay_start
    ).schedule
    print(
        f"model: {model.cell} hidden {model.hidden} x {model.layers} layer(s), embed {model.embed}, "
        f"{model.num_params:,} parameters; "
        + (
            f"time budget {format_duration(args.time_budget)}, lr {args.lr:g}"
            if args.time_budget
            else schedule.describe()
        )
        + f", clip {args.clip:g}, {_described_regularisers(args)}"
        + (f", {args.epochs} epochs" if args.epochs else "")
        + (f", at most {args.max_steps} steps" if args.max_steps else "")
        + (f", patience {args.patience}" if args.patience else ""),
        file=out,
        flush=True,
    )
    if resumed is not None:
        print(f"resuming from {args.resume} at {resumed[1].summary()}", file=out, flush=True)
    summary: dict[str, Any] = {
        "mode": "text",
        "data": os.path.abspath(args.file),
        "val": os.path.abspath(args.val) if args.val else None,
        "test": os.path.abspath(args.test) if args.test else None,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "train_chars": len(train_part),
        "val_chars": len(val_part),
        "test_chars": len(test_part),
        "batch_size": args.batch,
        "seq_len": args.seq_len,
        "lr": args.lr,
        "clip": args.clip or None,
        **_regulariser_options(args),
        "seed": args.seed,
        **_schedule_kwargs(args),
    }
    best: dict[str, Any] = {}

    def metadata(history: History) -> tuple[dict[str, Any], None]:
        kept = history.best
        if kept is not None and kept.val_nll is not None:
            best["what"] = f"val nll {kept.val_nll:.4f}"
        return {
            **summary,
            "history": history.to_dicts(),
            "best_epoch": None if kept is None else kept.epoch,
            "best_step": None if kept is None else kept.step,
            "best_val_nll": None if kept is None else kept.val_nll,
            "best_test_nll": None if kept is None else kept.test_nll,
            "plan": _plan_of(history),
        }, None

    result = _run(
        train_text,
        model,
        checkpoint,
        args,
        out,
        resumed,
        _record_line,
        metadata,
        best,
        train_part,
        val_part or None,
        test_part or None,
        seq_len=args.seq_len,
        eval_every=args.eval_every,
    )
    kept = result.best
    if kept is not None and kept.val_nll is not None:
        test = f", test nll {kept.test_nll:.4f} bpc {kept.test_bpc:.3f}" if kept.test_nll is not None else ""
        print(
            f"kept the weights of epoch {kept.epoch} step {kept.step} (val nll {kept.val_nll:.4f} bpc {kept.val_bpc:.3f}{test})",
            file=out,
        )
        _print_baseline(kept.val_nll, train_part, val_part, "text", model.vocab, out)
    if args.samples:
        print("sample:", file=out)
        print("".join(model.generate_text("", FINAL_SAMPLE_CHARS, temperature=0.8, seed=args.seed)), file=out)
    print(f"saved to {args.out} (resumable training state: {checkpoint})", file=out)
    return 0


# -- shared by both modes ----------------------------------------------------------------------


def _run(
    fn: Any,
    model: CharRNN,
    checkpoint: str,
    args: argparse.Namespace,
    out: TextIO,
    resumed: Any,
    line: Any,
    metadata: Any,
    best: dict,
    *data: Any,
    report: Optional[_Reporter] = None,
    **kw: Any,
) -> History:
    """Train with ``fn`` (:func:`charrnn.train` or :func:`charrnn.train_text`) as the
    command line says: the best model at ``--out`` as it comes, the state next to it; on
    Ctrl-C say what ``--out`` holds; at the end, the final model there.  ``report``: the
    callback (default: a :class:`_Reporter` that holds nothing back)."""
    report = report or _Reporter(args, out, resumed, line)
    try:
        history = fn(
            model,
            *data,
            **_train_kwargs(args, args.epochs),
            **kw,
            callback=report,
            checkpoint=checkpoint,
            resume=None if resumed is None else resumed[1],
            checkpoint_info={"cli": cli_record(args)},
            out=args.out,
            out_metadata=metadata,
        )
    except TrainingInterrupted:
        report.flush()
        _saved_best(args, best)
        raise
    except BaseException:
        report.flush()
        raise
    _save_final(model, args.out, metadata(history))
    if history.stopped_early:
        print(f"stopped early: {args.patience} evaluation(s) in a row without a better validation loss", file=out)
    return history


def _plan_of(history: History) -> Optional[dict[str, Any]]:
    """The plan of a budgeted run (None without a budget), as its model file keeps it."""
    return history[-1].plan if history else None


def _model(args: argparse.Namespace, vocab: Vocab, resumed: Any, source: str, train_items: Any) -> CharRNN:
    if resumed is not None:
        if resumed[0].vocab != vocab:
            raise DataError(f"{source}: its alphabet differs from the one the checkpoint {args.resume} was trained on")
        return resumed[0]
    categories = (
        {"categories": train_items.categories, "category_dim": args.category_dim}
        if isinstance(train_items, Labelled)
        else {}
    )
    return CharRNN(
        vocab,
        cell=args.cell,
        hidden=args.hidden,
        layers=args.layers,
        embed=args.embed,
        seed=args.seed,
        mode=args.mode,
        **categories,
    )


def _schedule_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "lr_decay": args.lr_decay,
        "lr_decay_every": args.lr_decay_every,
        "lr_decay_start": args.lr_decay_start,
        "patience": args.patience,
    }


def _regulariser_options(args: argparse.Namespace) -> dict[str, Any]:
    """The dropouts, weight decay and EMA, by their trainer names."""
    return {k: getattr(args, k) for k in REGULARISERS}


def _described_regularisers(args: argparse.Namespace) -> str:
    """``dropout 0.2`` and the other regularisers that are on, for the run's summary line."""
    parts = [f"dropout {args.dropout:g}" + (" (variational)" if args.variational and args.dropout else "")]
    for key, label in (
        ("input_dropout", "input"),
        ("embed_dropout", "embedding"),
        ("weight_drop", "weight drop"),
        ("weight_decay", "weight decay"),
        ("ema", "ema"),
    ):
        if getattr(args, key):
            parts.append(f"{label} {getattr(args, key):g}")
    return ", ".join(parts)


def _train_kwargs(args: argparse.Namespace, epochs: Optional[int]) -> dict[str, Any]:
    """The trainer's options that both modes take from the command line alike."""
    return {
        "epochs": epochs,
        "batch_size": args.batch,
        "lr": args.lr,
        "clip": args.clip or None,
        **_regulariser_options(args),
        "seed": args.seed,
        "max_steps": args.max_steps,
        "checkpoint_every": args.checkpoint_every,
        "progress": False if args.json else args.progress,
        "log": args.log,
        "time_budget": args.time_budget,
        "plan": load_plan(args.plan) if args.plan and args.resume is None else None,
        **_schedule_kwargs(args),
    }


class _Reporter:
    """The callback that prints each evaluation: one JSON object (``--json``) or one line
    (through tqdm, so that a progress bar on stderr is cleared, not garbled), as soon as it
    is made.  With ``hold`` the run's final evaluation (``last``) waits for :meth:`flush`,
    which may add fields to it (the mixture's, measured after training)."""

    def __init__(self, args: argparse.Namespace, out: TextIO, resumed: Any, line: Any, hold: bool = False) -> None:
        history = [] if resumed is None else resumed[1].history
        self.args, self.out, self.line, self.hold = args, out, line, hold and bool(args.json)
        self.best = min((r["val_nll"] for r in history if r.get("val_nll") is not None), default=math.inf)
        self.plan = history[-1].get("plan") if history else None
        self.held: Optional[dict[str, Any]] = None
        self.printed: Optional[dict[str, Any]] = None  # the last JSON object printed

    def __call__(self, record: EpochRecord) -> None:
        from tqdm import tqdm

        args, out = self.args, self.out
        if record.plan is not None and record.plan != self.plan:  # say the plan once it is made
            self.plan = record.plan
            tqdm.write(f"plan: {BudgetPlan.from_dict(record.plan).describe()}", file=out)
        if args.json:
            self.flush()
            if self.hold and record.last:
                self.held = record.to_dict()
            else:
                self._print(record.to_dict())
            return
        improved = record.val_nll is not None and record.val_nll < self.best
        if improved:
            self.best = record.val_nll
        budget = (
            ""
            if record.plan is None
            else f" | step {record.step}/{record.plan['total_steps']}, {format_duration(record.seconds_left or 0)} left"
        )
        tqdm.write(self.line(record, args.epochs, improved) + budget, file=out)
        out.flush()

    def flush(self, **extra: Any) -> None:
        """Print the record held back, with ``extra`` fields (when none was held, because the
        run ended where it had not foreseen, the last one printed again with them, marked
        ``last``)."""
        if self.held is not None:
            self._print({**self.held, **extra})
            self.held = None
        elif extra and self.printed is not None:  # (training is over: that record was its last)
            self._print({**self.printed, "last": True, **extra})

    def _print(self, record: dict[str, Any]) -> None:
        print(json.dumps(record), flush=True)
        self.printed = record


def _epoch_line(record: EpochRecord, epochs: Optional[int], best: bool) -> str:
    of = f"/{epochs}" if epochs else ""
    weighted = "" if record.val_nll_weighted is None else f" weighted {record.val_nll_weighted:.4f}"
    return (
        f"epoch {record.epoch:>3}{of}  step {record.step:>6}  "
        f"train nll {record.train_nll:.4f} ppl {record.train_ppl:6.2f} bpc {record.train_bpc:.3f} | "
        f"val nll {fmt(record.val_nll, '.4f')} ppl {fmt(record.val_ppl, '6.2f')} bpc {fmt(record.val_bpc, '.3f')}"
        f"{weighted}{' *' if best else '  '} | {record.chars_per_sec:>9,.0f} chars/s | {record.seconds:6.1f}s"
    )


def _counts(args: argparse.Namespace, labelled: bool) -> Optional[Counted]:
    """The counts of frequency-aware training: ``--weights COUNTS``, or FILE itself when
    its header names a ``count`` column (None: plain training)."""
    if args.weights is not None:
        if labelled:
            raise DataError("--weights does not go with --category/--preset")
        return load_counts(args.weights)
    if args.file is not None and not labelled and has_count_header(args.file):
        return load_counts(args.file)
    return None


def _record_line(r: TextRecord, epochs: Optional[int], best: bool) -> str:
    of = f"/{epochs}" if epochs else ""
    where = f"epoch {r.epoch:>3}{of}" + ("     " if r.end_of_epoch else f" {r.progress - (r.epoch - 1):4.0%}")
    test = f" | test nll {r.test_nll:.4f} bpc {r.test_bpc:.3f}" if r.test_nll is not None else ""
    return (
        f"{where}  step {r.step:>6}  lr {r.lr:.2e}  train nll {r.train_nll:.4f} | "
        f"val nll {fmt(r.val_nll, '.4f')} ppl {fmt(r.val_ppl, '5.2f')} bpc {fmt(r.val_bpc, '.3f')}"
        f"{' *' if best else '  '}{test} | {r.chars_per_sec:>7,.0f} chars/s | {r.seconds:7.1f}s"
    )


def _save_final(model: CharRNN, path: str, metadata: tuple[Any, Any]) -> None:
    from ..checkpoint import save

    extra, extra_metadata = metadata
    save(model, path, extra=extra, extra_metadata=extra_metadata)


def _final_samples(model: CharRNN, n: int, seed: int) -> list[str]:
    """``n`` names, or ``n`` per category (``[category] name``)."""
    if model.categories is None:
        return model.sample(n=n, seed=seed)
    lines = []
    for k, category in enumerate(model.categories):
        lines += [f"[{category}] {name}" for name in model.sample(n=n, seed=seed + k, category=category)]
    return lines


def _labelled_data(args: argparse.Namespace, max_chars: Optional[int]) -> Optional[tuple[Labelled, str]]:
    """``(items, description)`` of ``--preset`` or ``--category`` (None without either)."""
    specs: list[str] = args.category or []
    name = args.preset
    if not specs and not name:
        return None
    if specs and name:
        raise DataError("give either --preset or --category NAME=FILE options, not both")
    if args.file is not None:
        raise DataError(f"give the training data either as FILE ({args.file}) or with --category/--preset, not both")
    if args.val is not None:
        raise DataError("--val does not go with --category/--preset: validation is a --val-fraction of each category")
    if name:
        train, val, test = datasets.preset_split(name)  # the test names stay unseen: --evaluate measures on them
        return (
            train + val,
            f"the {name} preset ({len(test):,} test names held out: charrnn classify MODEL --evaluate {name})",
        )
    lists: dict[str, list[str]] = {}
    absolute = []
    for spec in specs:
        category, _, path = spec.partition("=")
        category = category.strip()
        if category in lists:
            raise DataError(f"category {category!r} is given twice (--category {spec})")
        lists[category] = load_lines(path, dedupe=args.dedupe, max_line_chars=max_chars)
        absolute.append(f"{category}={os.path.abspath(path)}")
    args.category = absolute  # recorded in training checkpoints: resumable from any folder
    if len(lists) < 2:
        print("warning: only one --category: the model learns a single category", file=sys.stderr)
    return Labelled.from_lists(lists), "; ".join(
        f"{c}: {spec.partition('=')[2]}" for c, spec in zip(lists, specs, strict=True)
    )
