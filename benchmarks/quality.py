"""The best model in a given time: val NLL per time budget on the three tasks, beside the
Kneser-Ney counting baseline on the same split — the table of docs/budget.md.

    python benchmarks/quality.py --budgets 1m 2m                  # all three tasks
    python benchmarks/quality.py --tasks first --budgets 1m --schedules   # + cosine/linear, floors
    python benchmarks/quality.py --tasks first --budgets 1m --dropouts 0 0.2 0.4
    python benchmarks/quality.py --sizes --budgets 1m 5m 30m    # what --size auto picks (no training)

Each run is what ``charrnn train FILE --time-budget B`` does with nothing else given (the
mode's defaults, ``--size auto``), through the same functions: names are split by
:func:`charrnn.data.training_split` (a random 10%, seed 0), text by
:func:`charrnn.text.training_parts` (90/5/5, contiguous), and the baseline is
:func:`charrnn.ngram.baseline` on that split (the line ``charrnn train`` prints).  The
first names are ``charrnn.datasets.russiannames("first")`` (~30K names, the stand-in for
the list kept aside), the surnames ``russiannames("surname")``.

``--schedules`` replays each run's plan (the same steps) with other decays: linear
instead of cosine, and floors 0 and 0.2 instead of 0.05; ``--dropouts`` reruns the
budget with other ``--dropout`` values.  Times are wall clock on whatever machine runs
it: the CPU is printed; on a shared machine the runs are slower than alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import subprocess
import time

import charrnn
from charrnn import mixture
from charrnn.budget import auto_size, count_params, format_duration, parse_duration
from charrnn.data import training_split
from charrnn.ngram import DEFAULT_ORDER, NGram, baseline
from charrnn.sources import NamesSource, TextSource
from charrnn.text import load_text, text_vocab, training_parts
from charrnn.training import TrainConfig
from charrnn.training.config import budget_regularisers
from charrnn.training.sizing import choose_size, measure_speed

TASKS = ("first", "patronymics", "surnames", "surnames-198k", "shakespeare")
DEFAULT_SHAKESPEARE = "/work/shared/data/tinyshakespeare.txt"


def task_data(task: str, shakespeare: str):
    """``(mode, train, val, vocab)`` split as ``charrnn train`` splits them by default."""
    if task in ("first", "patronymics", "surnames", "surnames-198k"):
        if task == "surnames-198k":  # the list: the bundled russian-names surnames
            items = charrnn.datasets.russian_names("surnames")
        else:
            kind = {"first": "first", "patronymics": "patronymic", "surnames": "surname"}[task]
            items = charrnn.datasets.russiannames(kind).items
        train, val, _ = training_split(items, None, TrainConfig.for_mode("names").val_fraction, 0)
        return "names", train, val, charrnn.Vocab.from_items(train)
    text = load_text(shakespeare)
    cfg = TrainConfig.for_mode("text")
    parts = training_parts(text, cfg.val_fraction, cfg.test_fraction)
    return "text", parts.train, parts.val, text_vocab(text)


def chars_of(mode: str, train) -> int:
    return len(train) if mode == "text" else sum(len(item) + 1 for item in train)


def make_source(mode, train):
    cfg = TrainConfig.for_mode(mode)
    if mode == "text":
        return lambda m: TextSource(m, train, batch_size=cfg.batch_size, seq_len=cfg.seq_len)
    return lambda m: NamesSource(m, train, batch_size=cfg.batch_size, seed=cfg.seed)


def sizes(task, mode, train, vocab, budgets):
    """What ``--size auto`` picks for each budget, from one speed measurement."""
    cfg = TrainConfig.for_mode(mode)
    speed = measure_speed(mode, vocab, make_source(mode, train), cell=cfg.cell, embed=cfg.embed, dropout=cfg.dropout)
    chars = chars_of(mode, train)
    for budget in budgets:
        seconds = parse_duration(budget)
        hidden, layers = auto_size(mode, chars, seconds, speed, embed=cfg.embed, vocab=len(vocab), cell=cfg.cell)
        params = count_params(hidden, layers, embed=cfg.embed, vocab=len(vocab), cell=cfg.cell)
        seen = 0.85 * seconds / speed(params)
        print(
            f"| {task} | {chars:,} | {format_duration(seconds)} | {hidden} x {layers} | {params:,} | "
            f"{seen / 1e6:.1f}M ({seen / chars:.0f} epochs) |",
            flush=True,
        )


def variant_options(spec: str) -> dict:
    """``default`` -> {}; ``weight_drop=0.3,variational=true`` -> the training keywords."""
    if spec == "default":
        return {}
    out = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        out[key.strip()] = json.loads(value)
    return out


def run(mode, train, val, vocab, seconds, dropout=None, plan=None, size=None, options=None, plain=False, save=None):
    """One budgeted run as ``charrnn train --time-budget`` makes it; returns its summary.
    Precedence: the budget's defaults (the mode's with ``plain``), then ``dropout``, then
    ``options`` (a variant's training keywords)."""
    cfg = TrainConfig.for_mode(mode)
    t0 = time.perf_counter()
    sized = size is None  # --size auto: its measuring comes out of the budget (a size given is timed for free)
    passes = None  # how many times the budget goes over the data: the names' regularisers depend on it
    if plan is None:  # as charrnn train: measured (and sized, without a size given)
        hidden, layers, passes = choose_size(
            mode,
            vocab,
            make_source(mode, train),
            chars_of(mode, train),
            seconds,
            cell=cfg.cell,
            embed=cfg.embed,
            dropout=cfg.dropout if dropout is None else dropout,
            size=size,
        )
        size = (hidden, layers)
    if plan is not None and mode == "names":
        passes = (charrnn.budget.BudgetPlan.from_dict(plan) if isinstance(plan, dict) else plan).passes(
            cfg.batch_size, len(train)
        )
    defaults = {} if plain else budget_regularisers(mode, passes)
    if dropout is not None:
        defaults["dropout"] = dropout
    options = {**defaults, **(options or {})}
    dropout = options.pop("dropout", cfg.dropout)
    # A variant may change the model's shape too (the plan's steps stay): hidden, layers, embed.
    shape = {"hidden": size[0], "layers": size[1], "embed": cfg.embed}
    shape.update({k: int(options.pop(k)) for k in list(shape) if k in options})
    size = (shape["hidden"], shape["layers"])
    left = seconds - (time.perf_counter() - t0) if sized else seconds
    model = charrnn.CharRNN(vocab, cell=cfg.cell, **shape, seed=cfg.seed, mode=mode)
    kw = dict(batch_size=cfg.batch_size, lr=cfg.lr, clip=cfg.clip, dropout=dropout, seed=cfg.seed, log_every=None)
    kw.update(options)
    if plan is not None:
        kw["plan"] = plan
    else:
        kw["time_budget"] = left
    if mode == "text":
        history = charrnn.train_text(model, train, val, seq_len=cfg.seq_len, **kw)
    else:
        history = charrnn.train(model, train, val, **kw)
    last = history[-1]
    if save:  # the model with the best validation NLL (train() keeps it)
        model.save(save)
    mix = None
    if mode == "names":  # the network's and the counts' probabilities mixed (charrnn.mixture)
        counts = NGram.fit(train, order=DEFAULT_ORDER)
        mix = mixture.evaluate(model, counts, val)
    return {
        "mix": mix,
        "hidden": size[0],
        "layers": size[1],
        "embed": shape["embed"],
        "passes": passes,
        "dropout": dropout,
        "options": options,
        "val_nll": history.best_val_nll,
        "best_step": history.best.step if history.best else None,
        "steps": last.step,
        "plan": last.plan,
        "seconds": time.perf_counter() - t0,
    }


def replayed(path: str, task: str, budget: str) -> dict:
    """The last ``default`` row of ``task`` at ``budget`` in a ``--json`` file."""
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    found = [r for r in rows if r["task"] == task and r["budget"] == budget and r["variant"] == "default"]
    if not found:
        raise SystemExit(f"--replay {path}: no default run of {task} at {budget}")
    return found[-1]


def cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
        flags = next((line for line in out.splitlines() if line.startswith("Flags")), "")
        return f"{name or platform.processor()}, {'AVX-512' if 'avx512f' in flags else 'AVX2'}, {os.cpu_count()} cores"
    except OSError:
        return platform.processor()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--budgets", nargs="+", default=["1m", "2m"])
    p.add_argument("--shakespeare", default=DEFAULT_SHAKESPEARE)
    p.add_argument("--schedules", action="store_true", help="also replay each plan with linear decay and floors 0, 0.2")
    p.add_argument(
        "--dropouts", nargs="*", type=float, default=[], help="also run each budget with these --dropout values"
    )
    p.add_argument(
        "--variants",
        nargs="*",
        default=[],
        help="also replay each run's plan (the same size and steps) with these training options, "
        "e.g. variational=true weight_drop=0.3 'weight_drop=0.3,input_dropout=0.1' lr=0.005 "
        "'hidden=384,layers=1' embed=64 (a shape changed costs its own time per step)",
    )
    p.add_argument("--plain", action="store_true", help="the modes' plain defaults, without the budget's regularisers")
    p.add_argument("--sizes", action="store_true", help="only print what --size auto picks for each budget")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", metavar="FILE", help="append one JSON line per run")
    p.add_argument(
        "--save", metavar="DIR", help="save each task and budget's first model in DIR (TASK-BUDGET.safetensors)"
    )
    p.add_argument("--size", metavar="HxL", help="the first run's size (e.g. 384x1) instead of --size auto")
    p.add_argument(
        "--replay",
        metavar="FILE",
        help="take each task and budget's first run from this --json file (its last 'default' row) "
        "instead of running it again: the variants replay its plan",
    )
    args = p.parse_args()
    if args.replay and args.size:
        p.error("--size is the size of a new first run: a --replay run keeps its own")
    if args.threads:
        charrnn.set_num_threads(args.threads)
    print(f"# {cpu()}; charrnn {charrnn.__version__}; {charrnn.get_num_threads()} kernel threads")
    rows = []

    def report(row):
        rows.append(row)
        print(
            f"{row['task']:<13} {row['budget']:>6} {row['variant']:<28} {row['hidden']:>4}x{row['layers']} "
            f"val {row['val_nll']:.4f} (baseline {row['baseline']:.4f}) steps {row['steps']} best@{row['best_step']} "
            f"{row['seconds']:.0f}s"
            + (f" passes {row['passes']:.1f}" if row.get("passes") is not None else "")
            + (
                f" mixture {row['mix']['mixture_nll']:.4f} (w {row['mix']['weight']:.2f})"
                f" per position {row['mix']['position_mixture_nll']:.4f}"
                if row.get("mix")
                else ""
            ),
            flush=True,
        )
        if args.json:
            with open(args.json, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    for task in args.tasks:
        mode, train, val, vocab = task_data(task, args.shakespeare)
        if args.sizes:
            sizes(task, mode, train, vocab, args.budgets)
            continue
        b = baseline(train, val, mode=mode, vocab=vocab if mode == "text" else None)
        base = {"task": task, "baseline": b["val_nll"], "baseline_order": b["order"], "cpu": cpu()}
        for budget in args.budgets:
            seconds = parse_duration(budget)
            if args.replay:
                first = replayed(args.replay, task, format_duration(seconds))
            else:
                given = tuple(int(v) for v in args.size.split("x")) if args.size else None
                saved = os.path.join(args.save, f"{task}-{budget}.safetensors") if args.save else None
                first = run(mode, train, val, vocab, seconds, plain=args.plain, size=given, save=saved)
                report({**base, "budget": format_duration(seconds), "variant": "default", **first})
            size = (first["hidden"], first["layers"])
            plan = charrnn.budget.BudgetPlan.from_dict(first["plan"]) if first["plan"] else None

            # The same task, budget and size, with other options.
            again = functools.partial(run, mode, train, val, vocab, seconds, size=size, plain=args.plain)

            if args.schedules and plan is not None:
                for name, change in (
                    ("linear", {"shape": "linear"}),
                    ("floor 0", {"floor": 0.0}),
                    ("floor 0.2", {"floor": 0.2}),
                ):
                    r = again(plan=dataclasses.replace(plan, **change))
                    report({**base, "budget": format_duration(seconds), "variant": name, **r})
            for spec in args.variants:
                r = again(plan=plan, options=variant_options(spec))
                label = "default (replayed)" if spec == "default" else spec
                report({**base, "budget": format_duration(seconds), "variant": label, **r})
            for d in args.dropouts:
                r = again(dropout=d)
                report({**base, "budget": format_duration(seconds), "variant": f"dropout {d:g}", **r})


if __name__ == "__main__":
    main()
