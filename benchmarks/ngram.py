"""The n-gram baseline on the three tasks: val NLL (nats/char) per order, fit and
evaluation time — the table of docs/ngram.md.

    python benchmarks/ngram.py                         # orders 1..8, all three tasks
    python benchmarks/ngram.py --tasks surnames --orders 6,7 --json out.jsonl
    python benchmarks/ngram.py --shakespeare PATH      # where tinyshakespeare.txt is

Each task is split exactly as ``charrnn train`` splits it with its defaults (seed 0):
names by :func:`charrnn.data.training_split` (a random 10% for validation), text by
:func:`charrnn.text.training_parts` (90/5/5, contiguous; the alphabet is every character
of the file).  ``mkn`` is interpolated modified Kneser-Ney (the default of
:class:`charrnn.ngram.NGram`), ``kn`` the original interpolated Kneser-Ney with one discount
per order.  Times are wall-clock seconds of one run on a shared machine: read them as
orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import charrnn
from charrnn.data import training_split
from charrnn.ngram import NGram
from charrnn.text import load_text, text_vocab, training_parts

TASKS = ("first", "surnames", "shakespeare", "speed")
DEFAULT_SHAKESPEARE = "/work/shared/data/tinyshakespeare.txt"


def task_data(task: str, shakespeare: str):
    """``(train, val, mode, vocab)`` as ``charrnn train`` would split them."""
    if task in ("first", "surnames"):
        train, val, _ = training_split(charrnn.datasets.russian_names(task), None, 0.1, 0)
        return train, val, "names", None
    text = load_text(shakespeare)
    parts = training_parts(text, 0.05, 0.05)
    return parts.train, parts.val, "text", text_vocab(text)


def cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    parser.add_argument("--orders", default="1,2,3,4,5,6,7,8", help="comma-separated orders")
    parser.add_argument("--smoothing", default="mkn,kn", help="mkn (modified Kneser-Ney), kn (original)")
    parser.add_argument("--shakespeare", default=DEFAULT_SHAKESPEARE, help="path of tinyshakespeare.txt")
    parser.add_argument("--json", metavar="FILE", default=None, help="also append one JSON line per row to FILE")
    args = parser.parse_args()
    orders = [int(x) for x in args.orders.split(",")]
    print(f"# {cpu()}; load average {os.getloadavg()[0]:.1f}; charrnn {charrnn.__version__}")
    print("| task | order | smoothing | train nll | val nll | fit s (cpu s) | eval s (cpu s) | n-grams |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    rows = []
    for task in args.tasks.split(","):
        if task == "speed":  # order 7 on the surnames twice over: ~400K items, ~4M symbols
            train, _, _, _ = task_data("surnames", args.shakespeare)
            items = train * 2
            started, cpu_started = time.perf_counter(), time.process_time()
            model = NGram.fit(items, order=7)
            fit, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            started, cpu_started = time.perf_counter(), time.process_time()
            model.nll(items)
            wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            print(
                f"| speed: surnames x2 ({len(items):,} items) | 7 | mkn | | | {fit:.2f} (cpu {fit_cpu:.2f}) "
                f"| {wall:.2f} (cpu {cpu_s:.2f}) | {sum(model.ngram_counts):,} |"
            )
            continue
        train, val, mode, vocab = task_data(task, args.shakespeare)
        for order in orders:
            for smoothing in args.smoothing.split(","):
                started, cpu_started = time.perf_counter(), time.process_time()
                model = NGram.fit(train, order=order, mode=mode, vocab=vocab, modified=smoothing == "mkn")
                fit, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
                started, cpu_started = time.perf_counter(), time.process_time()
                train_nll, val_nll = model.nll(train), model.nll(val)
                seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
                row = {
                    "task": task,
                    "order": order,
                    "smoothing": smoothing,
                    "train_nll": train_nll,
                    "val_nll": val_nll,
                    "fit_seconds": fit,
                    "fit_cpu_seconds": fit_cpu,
                    "eval_seconds": seconds,
                    "eval_cpu_seconds": cpu_s,
                    "ngrams": sum(model.ngram_counts),
                }
                rows.append(row)
                print(
                    f"| {task} | {order} | {smoothing} | {train_nll:.4f} | {val_nll:.4f} | {fit:.2f} ({fit_cpu:.2f}) "
                    f"| {seconds:.2f} ({cpu_s:.2f}) | {row['ngrams']:,} |",
                    flush=True,
                )
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
