"""The command line of continuous text: ``charrnn train --mode text``, text ``sample`` and
``eval``, and the schedule options both modes share.  :mod:`charrnn.cli` adds these
options to its parser and hands text-mode commands over to the functions here.

    charrnn train input.txt --mode text --out shakespeare.safetensors
    charrnn train input.txt --mode text --cell gru --dropout 0.2 --patience 3 --eval-every 200
    charrnn sample shakespeare.safetensors --prime "ROMEO:" --length 2000 --temperature 0.8
    charrnn eval shakespeare.safetensors held_out.txt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Optional, TextIO

from .argtypes import positive_int as _positive_int, non_negative_int as _non_negative_int, fraction as _fraction
from .checkpoint import load, save
from .errors import DataError, TrainingInterrupted
from .model import CharRNN
from .text import load_text, text_vocab, training_parts
from .cli_resume import apply_resumed_args, cli_record
from .text_state import TextTrainingState, load_text_checkpoint
from .text_training import TEXT_DEFAULTS, TextRecord, train_text
from .training_state import default_checkpoint_path

__all__ = [
    "add_schedule_options",
    "add_text_train_options",
    "add_text_sample_options",
    "check_mode_options",
    "schedule_kwargs",
    "run_text_train",
    "text_sample_applies",
    "run_text_sample",
    "run_text_eval",
    "checkpoint_mode",
]

# `charrnn train` options whose default differs in text mode (cli dest -> TEXT_DEFAULTS key).
TEXT_OVERRIDES = {
    "cell": "cell",
    "hidden": "hidden",
    "layers": "layers",
    "embed": "embed",
    "batch": "batch",
    "lr": "lr",
    "clip": "clip",
    "dropout": "dropout",
    "val_fraction": "val_fraction",
    "lr_decay": "lr_decay",
    "lr_decay_every": "lr_decay_every",
    "lr_decay_start": "lr_decay_start",
}
# Options that only mean something for one mode; given with the other, they are an error.
TEXT_ONLY = {"seq_len": "--seq-len", "test": "--test", "test_fraction": "--test-fraction", "eval_every": "--eval-every"}
NAMES_ONLY_TRAIN = {
    "dedupe": "--dedupe",
    "category": "--category",
    "preset": "--preset",
}
NAMES_ONLY_SAMPLE = {
    "n": "-n",
    "max_len": "--max-len",
    "category": "--category",
    "novel": "--novel",
    "exclude": "--exclude",
    "min_len": "--min-len",
    "max_draws": "--max-draws",
    "beam": "--beam",
}
DEFAULT_LENGTH = 1000  # characters `charrnn sample --length` writes for a text model
STREAM_CHUNK = 16  # characters per write (and flush) when streaming a sample to stdout
FINAL_SAMPLE_CHARS = 400  # the sample `charrnn train --mode text` prints at the end


def _decay(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _clip(text: str) -> float:
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number >= 0 (0: no clipping), got {text}")
    return value


# -- parser -------------------------------------------------------------------------------


def add_schedule_options(p: argparse.ArgumentParser) -> None:
    """Learning-rate decay, early stopping and clipping: ``charrnn train`` in both modes."""
    g = p.add_argument_group(
        "schedule (both modes)",
        "The learning rate is multiplied by --lr-decay at the end of every epoch that is a multiple "
        "of --lr-decay-every and at least --lr-decay-start (char-rnn: --lr-decay 0.97 --lr-decay-start 10, "
        "the text-mode default). --patience N stops after N evaluations in a row without a lower "
        "validation loss; the weights of the best evaluation are the ones saved.",
    )
    g.add_argument("--lr-decay", type=_decay, metavar="X", default=1.0, help="learning-rate decay factor")
    g.add_argument(
        "--lr-decay-every", type=_positive_int, metavar="N", default=1, help="decay every N epochs (N > 1: step decay)"
    )
    g.add_argument(
        "--lr-decay-start", type=_non_negative_int, metavar="N", default=0, help="first epoch whose end decays the rate"
    )
    g.add_argument(
        "--patience",
        type=_positive_int,
        metavar="N",
        default=None,
        help="stop early after N evaluations without a better validation loss (default: never)",
    )
    g.add_argument(
        "--clip", type=_clip, metavar="X", default=5.0, help="clip the global gradient norm to X (0: no clipping)"
    )


def add_text_train_options(p: argparse.ArgumentParser) -> None:
    """``--mode`` and the continuous-text options of ``charrnn train``."""
    p.add_argument(
        "--mode",
        choices=["names", "text"],
        default="names",
        help="names: one item per line, each a separate sequence; text: the whole file is one continuous "
        "stream, trained with the state carried between batches (defaults then follow char-rnn: "
        "lstm 2 x 128, embed 32, --batch 50, --seq-len 50, --lr 0.002, --clip 5, --dropout 0, 30 epochs, "
        "--lr-decay 0.97 from epoch 10, --val-fraction 0.05, --test-fraction 0.05)",
    )
    g = p.add_argument_group("continuous text (--mode text)")
    g.add_argument(
        "--seq-len",
        type=_positive_int,
        metavar="N",
        default=None,
        help=f"characters per stream per batch: backpropagation is truncated every N steps (default: {TEXT_DEFAULTS['seq_len']})",
    )
    g.add_argument("--test", metavar="FILE", default=None, help="test text (default: the last --test-fraction of FILE)")
    g.add_argument(
        "--test-fraction",
        type=_fraction,
        metavar="X",
        default=None,
        help=f"share of FILE held out at its end for testing when --test is not given (default: {TEXT_DEFAULTS['test_fraction']})",
    )
    g.add_argument(
        "--eval-every",
        type=_positive_int,
        metavar="STEPS",
        default=None,
        help="also evaluate (validation and test loss, best weights, early stopping) every STEPS steps inside an epoch",
    )


def add_text_sample_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("text models (trained with --mode text)")
    g.add_argument(
        "--prime",
        metavar="TEXT",
        default=None,
        help="warm the state on TEXT, print it, then continue it (default: start as after a newline)",
    )
    g.add_argument(
        "--length",
        type=_positive_int,
        metavar="N",
        default=None,
        help=f"characters to generate after the prime, streamed as they come (default: {DEFAULT_LENGTH})",
    )


# -- mode checks ----------------------------------------------------------------------------


def _typed(args: argparse.Namespace) -> Optional[set[str]]:
    """The options typed on the command line (None when unknown: not run through main())."""
    argv = getattr(args, "_argv", None)
    if argv is None:
        return None
    from .cli import build_parser
    from .cli_resume import explicit_options

    return explicit_options(build_parser(), argv)


def _given(args: argparse.Namespace, key: str, typed: Optional[set[str]]) -> bool:
    value = getattr(args, key, None)
    if typed is not None:
        return key in typed
    return value not in (None, False, [], 0) if key != "n" else False


def check_mode_options(args: argparse.Namespace) -> None:
    """Refuse text-only options in names mode (``charrnn train``)."""
    if getattr(args, "mode", "names") == "text":
        return
    used = [flag for key, flag in TEXT_ONLY.items() if getattr(args, key, None) is not None]
    if used:
        raise ValueError(f"{', '.join(used)} only apply to continuous text: add --mode text")


def schedule_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The schedule arguments of :func:`charrnn.train` / :func:`charrnn.train_text`."""
    return {
        "lr_decay": args.lr_decay,
        "lr_decay_every": args.lr_decay_every,
        "lr_decay_start": args.lr_decay_start,
        "patience": args.patience,
    }


def checkpoint_mode(path: str) -> str:
    """The mode recorded in a checkpoint's config, read from its header only (``names``
    when absent or unreadable: :func:`charrnn.load` reports a damaged file properly)."""
    try:
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:
            config = json.loads((f.metadata() or {}).get("config", "{}"))
        mode = config.get("mode", "names") if isinstance(config, dict) else "names"
        return mode if mode in ("names", "text") else "names"
    except Exception:  # noqa: BLE001 - the real load reports it
        return "names"


# -- train ----------------------------------------------------------------------------------


def _apply_text_defaults(args: argparse.Namespace) -> None:
    typed = _typed(args)
    from .cli import TRAIN_DEFAULTS

    names_defaults = {**TRAIN_DEFAULTS, "clip": 5.0, "lr_decay": 1.0, "lr_decay_every": 1, "lr_decay_start": 0}
    for dest, key in TEXT_OVERRIDES.items():
        if typed is not None:
            if dest not in typed:
                setattr(args, dest, TEXT_DEFAULTS[key])
        elif getattr(args, dest) == names_defaults.get(dest):  # not run through main(): best guess
            setattr(args, dest, TEXT_DEFAULTS[key])
    if args.seq_len is None:
        args.seq_len = TEXT_DEFAULTS["seq_len"]
    if args.test_fraction is None:
        args.test_fraction = TEXT_DEFAULTS["test_fraction"]
    if args.epochs is None and not args.max_steps:
        args.epochs = TEXT_DEFAULTS["epochs"]
    used = [flag for key, flag in NAMES_ONLY_TRAIN.items() if _given(args, key, typed)]
    if used:
        raise ValueError(f"{', '.join(used)} {'does' if len(used) == 1 else 'do'} not apply to --mode text")


def _shown(chars: str) -> str:
    return chars.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _record_line(r: TextRecord, epochs: Optional[int], best: bool) -> str:
    of = f"/{epochs}" if epochs else ""
    where = f"epoch {r.epoch:>3}{of}" + ("     " if r.end_of_epoch else f" {r.progress - (r.epoch - 1):4.0%}")
    test = f" | test nll {r.test_nll:.4f} bpc {r.test_bpc:.3f}" if r.test_nll is not None else ""
    return (
        f"{where}  step {r.step:>6}  lr {r.lr:.2e}  train nll {r.train_nll:.4f} | "
        f"val nll {_fmt(r.val_nll, '.4f')} ppl {_fmt(r.val_ppl, '5.2f')} bpc {_fmt(r.val_bpc, '.3f')}"
        f"{' *' if best else '  '}{test} | {r.chars_per_sec:>7,.0f} chars/s | {r.seconds:7.1f}s"
    )


def run_text_train(args: argparse.Namespace) -> int:
    """``charrnn train FILE --mode text`` (and ``--resume CKPT`` of such a run)."""
    resumed: Optional[tuple[CharRNN, TextTrainingState]] = None
    if getattr(args, "resume", None) is not None:
        resumed = load_text_checkpoint(args.resume)
        apply_resumed_args(args, resumed[1].extra, args.resume)
    else:
        _apply_text_defaults(args)
    out: TextIO = sys.stderr if args.json else sys.stdout
    if args.file is None:
        raise ValueError("--mode text needs a FILE of text to train on")
    text = load_text(args.file)
    val_fraction = 0.0 if args.val is not None else args.val_fraction
    test_fraction = 0.0 if args.test is not None else args.test_fraction
    train_part, val_part, test_part = training_parts(text, val_fraction, test_fraction, args.val, args.test)
    # The alphabet: every character of FILE (its held-out parts were cut from it).
    vocab = text_vocab(text)
    if resumed is not None:
        model, state = resumed
        if model.vocab != vocab:
            raise DataError(f"{args.file}: its alphabet differs from the one the checkpoint {args.resume} was trained on")
    else:
        model = CharRNN(
            vocab, cell=args.cell, hidden=args.hidden, layers=args.layers, embed=args.embed, seed=args.seed, mode="text"
        )
    clip = args.clip or None
    checkpoint = args.checkpoint or default_checkpoint_path(args.out)

    def src(path: Optional[str], fraction: float, what: str) -> str:
        return path if path is not None else (f"the {'last' if what == 'test' else 'next'} {fraction:g} of FILE" if fraction else "none")

    print(
        f"data: {len(train_part):,} train / {len(val_part):,} val / {len(test_part):,} test characters from {args.file} "
        f"(val: {src(args.val, val_fraction, 'val')}; test: {src(args.test, test_fraction, 'test')})",
        file=out,
    )
    print(f"vocab: {len(vocab)} ids (3 markers + {len(vocab.chars)} characters: {_shown(''.join(vocab.chars))})", file=out)
    streams = max(1, (len(train_part) - 1) // args.batch)
    print(
        f"batches: {args.batch} streams of {streams:,} characters, {-(-streams // args.seq_len)} batches of "
        f"{args.seq_len} steps per epoch (state carried from batch to batch, reset at each epoch start)",
        file=out,
    )
    from .schedule import LRSchedule

    schedule = LRSchedule(args.lr, args.lr_decay, args.lr_decay_every, args.lr_decay_start)
    print(
        f"model: {model.cell} hidden {model.hidden} x {model.layers} layer(s), embed {model.embed}, "
        f"{model.num_params:,} parameters; {schedule.describe()}, clip {args.clip:g}, dropout {args.dropout:g}"
        + (f", {args.epochs} epochs" if args.epochs else "")
        + (f", at most {args.max_steps} steps" if args.max_steps else "")
        + (f", patience {args.patience}" if args.patience else ""),
        file=out,
        flush=True,
    )
    if resumed is not None:
        print(f"resuming from {args.resume} at {resumed[1].summary()}", file=out, flush=True)
    best = [math.inf]
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
        "clip": clip,
        "dropout": args.dropout,
        "seed": args.seed,
        **schedule_kwargs(args),
    }
    history: list[dict[str, Any]] = [] if resumed is None else [dict(r) for r in resumed[1].history]
    if resumed is not None:
        best[0] = min((r["val_nll"] for r in history if r.get("val_nll") is not None), default=math.inf)

    def extra(best_record: Optional[TextRecord]) -> dict[str, Any]:
        return {
            **summary,
            "history": history,
            "best_epoch": None if best_record is None else best_record.epoch,
            "best_step": None if best_record is None else best_record.step,
            "best_val_nll": None if best_record is None else best_record.val_nll,
            "best_test_nll": None if best_record is None else best_record.test_nll,
        }

    def report(record: TextRecord) -> None:
        history.append(record.to_dict())
        val = record.val_nll
        improved = val is not None and val < best[0]
        if val is not None and improved:
            best[0] = val
            save(model, args.out, extra=extra(record))  # the weights just evaluated: the best so far
        if args.json:
            print(json.dumps(record.to_dict()), flush=True)
        else:  # through tqdm: a progress bar on stderr (--progress) is cleared, not garbled
            from tqdm import tqdm

            tqdm.write(_record_line(record, args.epochs, improved), file=out)
            out.flush()

    try:
        result = train_text(
            model,
            train_part,
            val_part or None,
            test_part or None,
            epochs=args.epochs,
            batch_size=args.batch,
            seq_len=args.seq_len,
            lr=args.lr,
            clip=clip,
            dropout=args.dropout,
            seed=args.seed,
            max_steps=args.max_steps,
            eval_every=args.eval_every,
            callback=report,
            progress=False if args.json else args.progress,
            log=args.log,
            checkpoint=checkpoint,
            checkpoint_every=args.checkpoint_every,
            resume=None if resumed is None else resumed[1],
            checkpoint_info={"cli": cli_record(args)},
            **schedule_kwargs(args),
        )
    except TrainingInterrupted:
        if math.isfinite(best[0]):
            print(f"charrnn: {args.out} holds the best weights so far (val nll {best[0]:.4f})", file=sys.stderr)
        raise
    kept = result.best
    save(model, args.out, extra=extra(kept))
    if result.stopped_early:
        print(f"stopped early: {args.patience} evaluation(s) in a row without a better validation loss", file=out)
    if kept is not None and kept.val_nll is not None:
        test = f", test nll {kept.test_nll:.4f} bpc {kept.test_bpc:.3f}" if kept.test_nll is not None else ""
        print(
            f"kept the weights of epoch {kept.epoch} step {kept.step} (val nll {kept.val_nll:.4f} bpc {kept.val_bpc:.3f}{test})",
            file=out,
        )
    if args.samples:
        print("sample:", file=out)
        print("".join(model.generate_text("", FINAL_SAMPLE_CHARS, temperature=0.8, seed=args.seed)), file=out)
    print(f"saved to {args.out} (resumable training state: {checkpoint})", file=out)
    return 0


# -- sample ---------------------------------------------------------------------------------


def text_sample_applies(args: argparse.Namespace) -> bool:
    """Whether ``charrnn sample`` writes text: a text-mode model, or --prime/--length given
    (which a names model refuses in :func:`run_text_sample`)."""
    return args.prime is not None or args.length is not None or checkpoint_mode(args.model) == "text"


def run_text_sample(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.mode != "text":
        raise ValueError(
            f"{args.model} is a names model (trained on one item per line); --prime/--length are for text models "
            f"(charrnn train FILE --mode text): use --prefix"
        )
    typed = _typed(args)
    used = [flag for key, flag in NAMES_ONLY_SAMPLE.items() if _given(args, key, typed)]
    if used:
        raise ValueError(f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} for names models; {args.model} writes text (use --length)")
    prime = args.prime if args.prime is not None else args.prefix
    length = args.length if args.length is not None else DEFAULT_LENGTH
    chunks = model.generate_text(
        prime,
        length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        chunk=STREAM_CHUNK,
    )
    if getattr(args, "json", False):
        text = "".join(chunks)
        print(json.dumps({"prime": prime, "text": text, "length": len(text), "seed": args.seed}, ensure_ascii=False))
        return 0
    stdout = sys.stdout
    stdout.write(prime)
    stdout.flush()
    last = prime[-1:] or "\n"
    for chunk in chunks:
        stdout.write(chunk)
        stdout.flush()
        last = chunk[-1:] or last
    if last != "\n":
        stdout.write("\n")
    stdout.flush()
    return 0


# -- eval -----------------------------------------------------------------------------------


def run_text_eval(args: argparse.Namespace, model: CharRNN) -> int:
    """``charrnn eval MODEL FILE`` for a text model: the whole file as one stream."""
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
