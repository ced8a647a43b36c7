"""``charrnn ngram``: the counting baseline on the split ``charrnn train`` would use.

    charrnn ngram                                  # bundled Russian first names
    charrnn ngram surnames.txt --order 7 --json
    charrnn ngram input.txt --mode text --order 7
    charrnn ngram names.txt --val held_out.txt --out names.ngram.safetensors

It fits an interpolated Kneser-Ney n-gram model (:mod:`charrnn.ngram`) on the training
part and prints its NLL per character on train and validation (and test, for text), the
numbers a network trained with the same options must beat.  The split is ``charrnn
train``'s, made by the same functions with the same ``--val``, ``--val-fraction`` and
``--seed`` (and ``--test``/``--test-fraction`` in text mode) and the same defaults per mode.
With ``--json``, one JSON object on stdout (``train_nll``, ``val_nll``, ... as ``charrnn
train`` names them) and nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Optional, TextIO

from .. import datasets, mixture
from ..data import load_lines, training_split
from ..metrics import split_metrics
from ..model import load
from ..ngram import DEFAULT_ORDER, NGram
from ..reading import DEFAULT_MAX_LINE_CHARS
from ..text import load_text, text_vocab, training_parts
from ..training import TrainConfig
from .args import fraction, non_negative_int, positive_int
from .train import BUNDLED

TEXT_DEFAULTS = TrainConfig.for_mode("text")
NAMES_DEFAULTS = TrainConfig.for_mode("names")

__all__ = ["add_parser", "run"]

SAMPLE_CHARS = 400  # characters of text printed at the end in text mode
TEXT_ONLY = {"test": "--test", "test_fraction": "--test-fraction"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``charrnn ngram`` on the ``subparsers`` of the ``charrnn`` parser."""
    p = subparsers.add_parser(
        "ngram",
        help="the counting baseline: an n-gram model with Kneser-Ney smoothing, on the split 'train' would use",
        description="Fit a character n-gram model with interpolated modified Kneser-Ney smoothing on FILE "
        "and print its NLL per character (nats) on the training and validation parts, split as "
        "'charrnn train' splits them with the same options: the number a network must beat.",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="training data, one item per line (with --mode text: one continuous text); "
        "default: the bundled Russian first names",
    )
    p.add_argument("--val", metavar="FILE", help="validation data (default: a random --val-fraction of FILE)")
    p.add_argument(
        "--val-fraction",
        type=fraction,
        metavar="X",
        default=None,
        help="share of FILE held out for validation when --val is not given "
        f"(default: as charrnn train: 0.1 for names, {TEXT_DEFAULTS.val_fraction} for text)",
    )
    p.add_argument(
        "--order",
        type=positive_int,
        metavar="N",
        default=DEFAULT_ORDER,
        help=f"n: each character is predicted from the n-1 before it (default: {DEFAULT_ORDER})",
    )
    p.add_argument(
        "--mode",
        choices=["names", "text"],
        default="names",
        help="names: one item per line, each its own sequence ending with an end marker; "
        "text: the whole file is one continuous stream (default: names)",
    )
    p.add_argument(
        "--seed", type=non_negative_int, metavar="N", default=0, help="seed of the split and the samples (default: 0)"
    )
    p.add_argument("--dedupe", action="store_true", help="drop repeated lines of FILE (names mode)")
    p.add_argument(
        "--max-line-length",
        type=non_negative_int,
        metavar="N",
        default=DEFAULT_MAX_LINE_CHARS,
        help=f"refuse data files with an item longer than N characters, 0: no limit (default: {DEFAULT_MAX_LINE_CHARS})",
    )
    p.add_argument(
        "--test", metavar="FILE", default=None, help="text mode: test text (default: the last --test-fraction of FILE)"
    )
    p.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="X",
        default=None,
        help="text mode: share of FILE held out at its end for testing when --test is not given "
        f"(default: {TEXT_DEFAULTS.test_fraction})",
    )
    p.add_argument("--out", metavar="PATH", default=None, help="also save the model (safetensors) to PATH")
    p.add_argument(
        "--mix",
        metavar="MODEL",
        default=None,
        help="names mode: also measure the mixture of MODEL (a model file or a shipped model's name) and the "
        "n-gram on the validation part, its weight fitted on one half and measured on the other",
    )
    p.add_argument(
        "--samples",
        type=non_negative_int,
        metavar="N",
        default=10,
        help=f"names to sample at the end (text mode: N > 0 prints {SAMPLE_CHARS} characters) (default: 10)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else")
    p.set_defaults(func=run)
    return p


def _split(args: argparse.Namespace, out: TextIO) -> tuple[Any, Any, Optional[str], str, Any]:
    """``(train, val, test, source, vocab)`` split as ``charrnn train`` splits them; ``vocab``
    is the alphabet ``charrnn train`` gives the model (None: the training part's)."""
    if args.mode == "text":
        if args.file is None:
            raise ValueError("--mode text needs a FILE of text")
        if args.dedupe:
            raise ValueError("--dedupe does not apply to --mode text")
        val_fraction = TEXT_DEFAULTS.val_fraction if args.val_fraction is None else args.val_fraction
        test_fraction = TEXT_DEFAULTS.test_fraction if args.test_fraction is None else args.test_fraction
        text = load_text(args.file)
        train, val, test = training_parts(text, val_fraction, test_fraction, args.val, args.test)
        # As `charrnn train --mode text`: the alphabet is every character of FILE.
        return train, val, test, args.file, text_vocab(text)
    used = [flag for key, flag in TEXT_ONLY.items() if getattr(args, key) is not None]
    if used:
        raise ValueError(
            f"{', '.join(used)} only appl{'y' if len(used) > 1 else 'ies'} to continuous text: add --mode text"
        )
    max_chars = args.max_line_length or None
    if args.file is None:
        items, source = datasets.russian_names("first"), str(BUNDLED)
    else:
        items, source = load_lines(args.file, dedupe=args.dedupe, max_line_chars=max_chars), str(args.file)
    val_fraction = NAMES_DEFAULTS.val_fraction if args.val_fraction is None else args.val_fraction
    given_val = None if args.val is None else load_lines(args.val, dedupe=args.dedupe, max_line_chars=max_chars)
    train_items, val_items, moved = training_split(items, given_val, val_fraction, args.seed, args.val)
    if moved:
        print(f"moved {moved} validation item(s) with characters found in no training item to training", file=out)
    return train_items, val_items, None, source, None


def _has(part: Any, mode: str) -> bool:
    """Whether a held-out part has anything to predict."""
    return part is not None and (len(part) >= 2 if mode == "text" else len(part) > 0)


def run(args: argparse.Namespace) -> int:
    """``charrnn ngram``: fit, measure, print (and save with ``--out``)."""
    out: TextIO = sys.stderr if args.json else sys.stdout  # the JSON line alone on stdout
    if args.mix is not None and args.mode != "names":
        raise ValueError("--mix applies to names mode only")
    network = None if args.mix is None else load(args.mix)  # a bad MODEL fails before the counting
    train, val, test, source, vocab = _split(args, out)
    started = time.perf_counter()
    model = NGram.fit(train, order=args.order, mode=args.mode, vocab=vocab)
    fit_seconds = time.perf_counter() - started
    parts = {"train": train, "val": val, "test": test}
    results = {name: model.evaluate(part) if _has(part, args.mode) else None for name, part in parts.items()}
    seconds = time.perf_counter() - started
    unit = "characters" if args.mode == "text" else "items"
    record: dict[str, Any] = {
        "mode": args.mode,
        "order": args.order,
        "smoothing": "interpolated modified Kneser-Ney",
        "data": source,
        f"train_{unit}": len(train),
        f"val_{unit}": len(val),
    }
    for name, result in results.items():
        if name == "test" and args.mode != "text":
            continue
        record.update(split_metrics(name, None if result is None else result["nll"]))
        record[f"{name}_chars"] = 0 if result is None else result["chars"]  # the predicted characters
    record.update({"ngrams": model.ngram_counts, "fit_seconds": fit_seconds, "seconds": seconds})
    mixed = None if network is None else mixture.evaluate(network, model, val)
    if mixed is not None:
        record.update(
            {
                "mix_weight": mixed["weight"],
                "mix_val_nll": mixed["mixture_nll"],
                "network_val_nll": mixed["network_nll"],
                "mix_position_weights": mixed["position_weights"],
                "mix_position_val_nll": mixed["position_mixture_nll"],
            }
        )
    if args.out:
        model.save(args.out)
        record["out"] = args.out
    if args.json:
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return 0

    def shown(name: str) -> str:
        r = results[name]
        return f"{name} -" if r is None else f"{name} nll {r['nll']:.4f} ppl {r['ppl']:.2f} bpc {r['bpc']:.3f}"

    held_out = f" / {len(test or ''):,} test" if args.mode == "text" else ""
    print(f"data: {len(train):,} train / {len(val):,} val{held_out} {unit} from {source}", file=out)
    print(
        f"model: {args.order}-gram, interpolated modified Kneser-Ney, {sum(model.ngram_counts):,} n-grams, "
        f"alphabet of {len(model.vocab.chars)} characters; fitted in {fit_seconds:.2f}s",
        file=out,
    )
    names = ["train", "val"] + (["test"] if args.mode == "text" else [])
    print(" | ".join(shown(name) for name in names) + " (nats per character)", file=out)
    if mixed is not None:
        print(
            f"mixture with {args.mix}: val nll {mixed['mixture_nll']:.4f} (network {mixed['network_nll']:.4f}, "
            f"n-gram {mixed['ngram_nll']:.4f}), weight {mixed['weight']:.3f} on the network",
            file=out,
        )
        print(
            f"mixture with a weight per position: val nll {mixed['position_mixture_nll']:.4f}, weights "
            + " ".join(f"{w:.2f}" for w in mixed["position_weights"])
            + f" (positions 0..{mixture.POSITIONS - 2}, then the rest)",
            file=out,
        )
    if args.samples:
        if args.mode == "text":
            print("sample:", file=out)
            print(model.generate(SAMPLE_CHARS, seed=args.seed), file=out)
        else:
            print("samples:", file=out)
            for name in model.sample(args.samples, seed=args.seed):
                print(f"  {name}", file=out)
    if args.out:
        print(f"saved to {args.out}", file=out)
    return 0
