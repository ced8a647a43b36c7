"""Re-create every number the guide quotes (results.json) and draw every figure.

Runs each chapter's code (the English file; the Russian one has the same code, as
tests/test_guide.py checks) at full size, then reads what it computed from its namespace::

    PYTHONPATH=python python docs/guide/make_results.py            # every chapter
    PYTHONPATH=python python docs/guide/make_results.py 03 05      # some chapters
    PYTHONPATH=python python docs/guide/make_results.py --small --out /tmp/r.json   # a quick try

Numbers are rounded here, once, and the chapters quote them exactly as they are written
in results.json (in bold).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import guidecode  # noqa: E402

FIGURES = guidecode.GUIDE / "figures"


def r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


def save(fig, name: str, figdir: Path) -> None:
    fig.tight_layout()
    fig.savefig(figdir / name, dpi=110)
    plt.close(fig)


RESULTS_OF: dict = {}


def chapter(num: str):
    def register(fn):
        RESULTS_OF[num] = fn
        return fn

    return register


@chapter("01")
def ch01(ns, figdir):
    names, vocab = ns["names"], ns["vocab"]
    lengths = np.array([len(n) for n in names])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 2.4]})
    a.hist(lengths, bins=np.arange(lengths.min(), lengths.max() + 2) - 0.5, color="C0")
    a.set_xlabel("characters in the name")
    a.set_ylabel("names")
    counts = {}
    for n in names:
        for c in n.lower():
            counts[c] = counts.get(c, 0) + 1
    chars = sorted(counts, key=counts.get, reverse=True)
    b.bar(range(len(chars)), [counts[c] / sum(counts.values()) for c in chars], color="C1")
    b.set_xticks(range(len(chars)), chars)
    b.set_ylabel("share of characters")
    b.set_title("characters (lower-cased), most frequent first")
    save(fig, "01-data.png", figdir)
    return {
        "n_names": len(names),
        "mean_len": r(lengths.mean(), 2),
        "max_len": int(lengths.max()),
        "vocab_size": len(vocab),
        "n_chars": len(vocab.chars),
        "n_capitals": sum(c.isupper() for c in vocab.chars),
        "untrained_nll": r(ns["per_char"]),
        "log_vocab": r(np.log(len(vocab))),
        "untrained_ppl": r(np.exp(ns["per_char"]), 2),
    }


@chapter("02")
def ch02(ns, figdir):
    kn, history, s_kn, s_history = ns["kn"], ns["history"], ns["s_kn"], ns["s_history"]
    orders = list(kn)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot(orders, [np.exp(kn[k][0]) for k in orders], "o--", color="C0", label="Kneser-Ney n-gram: training")
    a.plot(orders, [np.exp(kn[k][1]) for k in orders], "o-", color="C0", label="Kneser-Ney n-gram: validation")
    a.axhline(history.best.val_ppl, color="C1", label="LSTM (128 units): validation, best epoch")
    a.set_xlabel("order n (the model sees n-1 characters back)")
    a.set_ylabel("perplexity")
    a.set_title(f"first names ({len(ns['train_items'])} to train on)", fontsize=10)
    a.set_ylim(1, 26)
    a.legend(fontsize=8)
    b.plot(list(s_kn), [np.exp(v) for v in s_kn.values()], "o-", color="C0", label="Kneser-Ney n-gram: validation")
    b.axhline(s_history.best.val_ppl, color="C1", label="LSTM (128 units, 10 epochs): validation")
    b.set_xlabel("order n")
    b.set_title(f"surnames ({len(ns['s_train'])} to train on; orders 1-2 above the frame)", fontsize=10)
    b.set_ylim(5.5, 6.6)
    b.legend(fontsize=8)
    save(fig, "02-ngram.png", figdir)
    unseen = {}
    for n in (2, 3, 4, 5):
        seen, held_out = ns["grams"](ns["train_items"], n), ns["grams"](ns["val_items"], n)
        unseen[str(n)] = r(100 * sum(c for g, c in held_out.items() if g not in seen) / sum(held_out.values()), 1)
    best = ns["best_order"]
    return {
        "unseen_percent": unseen,
        "first": {str(k): {"train_ppl": r(np.exp(t), 2), "val_ppl": r(np.exp(v), 2)} for k, (t, v) in kn.items()},
        "best_order": best,
        "lstm_val_ppl": r(history.best.val_ppl, 2),
        "lstm_best_epoch": history.best.epoch,
        "discounts_top": [r(d, 3) for d in ns["baseline"].discounts[-1]],
        "samples": ns["baseline"].sample(10, seed=0),
        "surnames": {
            "train": len(ns["s_train"]),
            "kn_val_ppl": {str(k): r(np.exp(v), 2) for k, v in s_kn.items()},
            "lstm_val_ppl": r(s_history.best.val_ppl, 2),
        },
    }


@chapter("03")
def ch03(ns, figdir):
    losses, history = np.array(ns["losses"]), ns["history"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(np.arange(1, len(losses) + 1), losses, color="C0", alpha=0.25, lw=0.8)
    w = min(50, len(losses))
    smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
    ax.plot(np.arange(w, len(losses) + 1), smooth, color="C0", label=f"numpy RNN, training loss (mean of {w} steps)")
    ax.axhline(ns["numpy_val_nll"], color="C0", ls="--", label="numpy RNN, validation after training")
    ax.plot(
        [r_.step for r_ in history],
        [r_.train_nll for r_ in history],
        "o-",
        color="C1",
        ms=3,
        label="same RNN trained by charrnn.train: training (per epoch)",
    )
    ax.plot(
        [r_.step for r_ in history],
        [r_.val_nll for r_ in history],
        "s--",
        color="C1",
        ms=3,
        label="charrnn.train: validation",
    )
    ax.set_xlabel("step (batch of 32 names)")
    ax.set_ylabel("NLL per character (nats)")
    ax.set_ylim(1.0, 4.3)
    ax.legend(fontsize=8)
    save(fig, "03-training.png", figdir)
    return {
        "grad_check_worst": float(f"{ns['worst']:.1e}"),
        "loss_first10": r(np.mean(losses[:10])),
        "loss_last100": r(np.mean(losses[-100:])),
        "numpy_val_nll": r(ns["numpy_val_nll"]),
        "numpy_val_ppl": r(np.exp(ns["numpy_val_nll"]), 2),
        "rust_same_weights_val_nll": r(ns["rust_val_nll"]),
        "ms_per_step": r(ns["ms_per_step"], 1),
        "rust_trained_val_nll": r(history.best.val_nll, 2),
        "rust_trained_seconds": r(history[-1].seconds, 1),
        "samples": ns["scratch"].sample("rnn", ns["params"], ns["vocab"], n=10, temperature=0.8, seed=0),
    }


def sci(x: float) -> float:
    return float(f"{x:.1e}")


def sig2(x: float) -> float:
    """Two significant digits, written the way results.json writes them."""
    return float(f"{x:.2g}")


@chapter("05")
def ch05(ns, figdir):
    norms, T = ns["norms"], ns["T"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, cell in enumerate(("rnn", "lstm", "gru")):
        ax.semilogy(norms[cell, "trained"], color=f"C{k}", label=f"{cell.upper()}, trained on the text")
        ax.semilogy(norms[cell, "untrained"], color=f"C{k}", ls=":", label=f"{cell.upper()}, untrained")
    ax.set_xlabel("distance k in steps (input x_{T-1-k}, loss read at step T)")
    ax.set_ylabel("‖dL/dx‖ (mean over sequences)")
    ax.set_title("How far back does the gradient reach? (64 hidden units, one layer)")
    ax.legend(fontsize=8)
    save(fig, "05-gradient-distance.png", figdir)
    out = {}
    for cell in ("rnn", "lstm", "gru"):
        for when in ("trained", "untrained"):
            for k in (1, 10, 50):
                out[f"{cell}_{when}_at_{k}"] = sig2(norms[cell, when][min(k, T - 1)])
    at50 = min(50, T - 1)
    for cell in ("lstm", "gru"):  # orders of magnitude: log10 of the ratio
        out[f"{cell}_over_rnn_at_50_log10"] = r(
            np.log10(norms[cell, "trained"][at50] / norms["rnn", "trained"][at50]), 1
        )
    out["kernel_loss_rel"] = sci(ns["loss_rel"])
    out["kernel_grad_rel"] = sci(ns["grad_rel"])
    return out


@chapter("04")
def ch04(ns, figdir):
    runs, stopped = ns["runs"], ns["stopped"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, (dropout, history) in enumerate(runs.items()):
        epochs = [r_.epoch for r_ in history]
        ax.plot(epochs, [r_.train_ppl for r_ in history], color=f"C{k}", ls="--", label=f"dropout {dropout}: training")
        ax.plot(epochs, [r_.val_ppl for r_ in history], color=f"C{k}", label=f"dropout {dropout}: validation")
        best = history.best
        ax.plot([best.epoch], [best.val_ppl], "o", color=f"C{k}", ms=7)
    ax.axvline(len(stopped), color="grey", ls=":", label="early stopping (patience 5) stops here")
    ax.set_yscale("log")
    ax.set_yticks([2, 3, 4, 5, 7, 10, 15], ["2", "3", "4", "5", "7", "10", "15"])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylim(1.5, 16)
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title("2-layer LSTM, 256 units, 662 training names (dot: best validation epoch)")
    ax.legend(fontsize=8)
    save(fig, "04-curves.png", figdir)
    out = {}
    for dropout, history in runs.items():
        key = f"dropout_{dropout}"
        best, last = history.best, history[-1]
        out[key] = {
            "best_epoch": best.epoch,
            "best_val_ppl": r(best.val_ppl, 2),
            "best_train_ppl": r(best.train_ppl, 2),
            "last_epoch": last.epoch,
            "last_train_ppl": r(last.train_ppl, 2),
            "last_val_ppl": r(last.val_ppl, 2),
        }
    model = ns["model"]
    out["num_params"] = model.num_params
    out["early_stopping"] = {
        "epochs_run": len(stopped),
        "best_epoch": stopped.best_epoch,
        "val_ppl": r(model.perplexity(ns["val_items"]), 2),
        "train_ppl": r(model.perplexity(ns["train_items"]), 2),
    }
    return out


@chapter("06")
def ch06(ns, figdir):
    stateful, tbptt, names_runs = ns["stateful"], ns["tbptt"], ns["names_runs"]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(11, 3.6), gridspec_kw={"width_ratios": [4, 6, 2]})
    labels = [
        "train carried\neval carried",
        "train carried\neval reset",
        "train reset\neval carried",
        "train reset\neval reset",
    ]
    keys = [(True, True), (True, False), (False, True), (False, False)]
    a.bar(range(4), [stateful[k] for k in keys], color=["C0", "C0", "C1", "C1"])
    a.set_xticks(range(4), labels, fontsize=7)
    a.set_ylabel("validation NLL per character")
    a.set_title("text: state carried or reset (seq_len 25)", fontsize=9)
    a.set_ylim(1.5, max(stateful.values()) * 1.05)
    width = 0.38
    for k, budget in enumerate(("same characters", "same steps")):
        vals = [tbptt[budget, s][0] for s in (10, 50, 200)]
        b.bar(np.arange(3) + (k - 0.5) * width, vals, width, label=budget, color=f"C{k + 2}")
    b.set_xticks(range(3), ["seq_len 10", "seq_len 50", "seq_len 200"])
    b.set_title("text: truncated BPTT length", fontsize=9)
    b.set_ylim(1.2, max(v for v, _ in tbptt.values()) * 1.05)
    b.legend(fontsize=8)
    c.bar([0, 1], [names_runs[False], names_runs[True]], color=["C0", "C3"])
    c.set_xticks([0, 1], ["zero state\nper batch", "carried\n(wrong)"], fontsize=7)
    c.set_title("names", fontsize=9)
    c.set_ylim(1.5, max(names_runs.values()) * 1.05)
    save(fig, "06-state.png", figdir)
    out = {"text_chars": len(ns["train_text"]), "val_chars": len(ns["val_text"])}
    for (tr, ev), v in stateful.items():
        out[f"train_{'carried' if tr else 'reset'}_eval_{'carried' if ev else 'reset'}"] = r(v)
    for (budget, s_), (v, steps) in tbptt.items():
        out[f"tbptt_{s_}_{budget.replace(' ', '_')}"] = {"val_nll": r(v), "steps": steps}
    out["names_zero_state"] = r(names_runs[False])
    out["names_carried"] = r(names_runs[True])
    return out


@chapter("07")
def ch07(ns, figdir):
    return {
        "torch_version": ns["torch"].__version__,
        "loss_rel": sci(ns["loss_rel"]),
        "grad_rel": sci(ns["grad_diff"]),
        "torch_trained_val_nll": r(ns["torch_val_nll"]),
        "text_steps": ns["STEPS"],
        "text_loss_diff": sci(ns["text_loss_diff"]),
        "samples": ns["imported"].sample(10, temperature=0.8, seed=0),
    }


@chapter("08")
def ch08(ns, figdir):
    first, stats, vocab = ns["first"], ns["stats"], ns["vocab"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    top = np.argsort(-first[1.0])[:15]
    width = 0.27
    for k, t in enumerate(first):
        a.bar(np.arange(15) + (k - 1) * width, first[t][top], width, label=f"T = {t}")
    a.set_xticks(range(15), [vocab.decode([i]) for i in top])
    a.set_ylabel("probability")
    a.set_title("the first character of a name, at three temperatures", fontsize=10)
    a.legend(fontsize=8)
    temps = [float(k[2:]) for k in stats if k.startswith("T=")]
    b.plot(temps, [100 * stats[f"T={t}"]["known"] for t in temps], "o-", label="names that exist (in the data)")
    b.plot(temps, [100 * stats[f"T={t}"]["distinct"] for t in temps], "s-", label="distinct names")
    b.set_xlabel("temperature")
    b.set_ylabel(f"% of {ns['N']} drawn names")
    b.set_title("what temperature does to the names", fontsize=10)
    b.legend(fontsize=8)
    save(fig, "08-sampling.png", figdir)
    return {
        "N": ns["N"],
        "first_A": {str(t): r(first[t][vocab.encode("А")[0]], 3) for t in first},
        "stats": {k: {m: r(100 * v[m], 1) if m != "mean_len" else r(v[m], 2) for m in v} for k, v in stats.items()},
        "examples": ns["examples"],
        "primed": ns["primed"],
        "beam": [[n, r(lp, 3)] for n, lp in ns["beam"]],
    }


def _unit_rows(ax, ns, unit, title):
    """The names of the probe as rows of characters, each on the colour of ``unit``'s value."""
    out, batch, vocab = ns["out"], ns["batch"], ns["vocab"]
    cmap = plt.get_cmap("coolwarm")
    rows = 10
    for b in range(rows):
        n = int(batch.lengths[b]) - 1  # characters of the name (the last input is its last character)
        for t in range(n + 1):
            ch = vocab.decode([int(batch.ids[t, b])]) or "<s>"
            value = float(out[t, b, unit])
            ax.text(
                t,
                -b,
                ch,
                ha="center",
                va="center",
                fontsize=9,
                bbox=dict(boxstyle="square,pad=0.25", fc=cmap(0.5 + 0.5 * value), ec="none"),
            )
    ax.set_xlim(-0.7, batch.ids.shape[0])
    ax.set_ylim(-rows + 0.4, 0.6)
    ax.axis("off")
    ax.set_title(title, fontsize=9)


@chapter("09")
def ch09(ns, figdir):
    xy, lower, vowels = ns["xy"], ns["lower"], ns["vowels"]
    fig, ax = plt.subplots(figsize=(6.4, 5))
    for c, (x, y) in zip(lower, xy, strict=True):
        ax.text(x, y, c, fontsize=13, ha="center", va="center", color="C3" if c in vowels else "C0")
    ax.set_xlim(xy[:, 0].min() - 0.5, xy[:, 0].max() + 0.5)
    ax.set_ylim(xy[:, 1].min() - 0.5, xy[:, 1].max() + 0.5)
    ax.set_xlabel(f"first principal component ({100 * ns['explained'][0]:.0f} % of the variance)")
    ax.set_ylabel(f"second ({100 * ns['explained'][1]:.0f} %)")
    ax.set_title("input embeddings of the lower-case letters (red: vowels)", fontsize=10)
    save(fig, "09-embeddings.png", figdir)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    _unit_rows(a, ns, ns["pos_unit"], f"unit {ns['pos_unit']}: the position in the name (r = {ns['pos_corr']:.2f})")
    _unit_rows(b, ns, ns["end_unit"], f"unit {ns['end_unit']}: the end is coming (r = {ns['end_corr']:.2f})")
    save(fig, "09-units.png", figdir)
    return {
        "train_items": len(ns["train_items"]),
        "val_ppl": r(ns["history"].best.val_ppl, 2),
        "explained_percent": [r(100 * e, 1) for e in ns["explained"]],
        "same_kind_percent": r(100 * ns["same_kind"], 1),
        "pos_unit": ns["pos_unit"],
        "pos_corr": r(ns["pos_corr"], 2),
        "end_unit": ns["end_unit"],
        "end_corr": r(ns["end_corr"], 2),
    }


@chapter("10")
def ch10(ns, figdir):
    sizes, baseline = ns["sizes"], float(np.exp(ns["baseline"]))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    hs = sorted(sizes)
    ax.plot([sizes[h][0] for h in hs], [sizes[h][1] for h in hs], "o-", color="C1", label="LSTM: best validation")
    ax.plot(
        [sizes[h][0] for h in hs],
        [sizes[h][3] for h in hs],
        "s--",
        color="C1",
        alpha=0.6,
        label="LSTM: training, at the last epoch",
    )
    for h in hs:
        ax.annotate(f"H={h}", (sizes[h][0], sizes[h][1]), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.axhline(baseline, color="C0", ls=":", label="best n-gram (Kneser-Ney): validation")
    ax.set_xscale("log")
    ax.set_xlabel("weights")
    ax.set_ylabel("perplexity")
    ax.set_title(f"choosing the size: {len(ns['train_items'])} training names", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, "10-sizes.png", figdir)
    best = ns["text_history"].best
    return {
        "train_items": len(ns["train_items"]),
        "baseline_ppl": r(baseline, 2),
        "sizes": {
            str(h): {"weights": w, "val_ppl": r(v, 2), "epoch": e, "train_ppl": r(t, 2)}
            for h, (w, v, e, t) in sizes.items()
        },
        "best_hidden": ns["best_hidden"],
        "new_names": ns["new"].names if hasattr(ns["new"], "names") else list(ns["new"]),
        "text_chars": len(ns["text"]),
        "text_val_ppl": r(best.val_ppl, 2),
        "text_test_ppl": r(best.test_ppl, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter numbers (default: all)")
    ap.add_argument("--small", action="store_true", help="small sizes (CHARRNN_GUIDE_SMALL=1), for a quick try")
    ap.add_argument("--out", type=Path, default=guidecode.GUIDE / "results.json")
    ap.add_argument("--figures", type=Path, default=FIGURES)
    args = ap.parse_args()
    args.out, args.figures = args.out.resolve(), args.figures.resolve()
    args.figures.mkdir(parents=True, exist_ok=True)
    for path in guidecode.chapters("en"):
        num = path.name[:2]
        if num not in RESULTS_OF or (args.chapters and num not in args.chapters):
            continue
        start = time.perf_counter()
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as scratch_dir:
            os.chdir(scratch_dir)  # files the chapter's code writes land here, not in the repository
            try:
                ns = guidecode.run_chapter(path, small=args.small)
                found = RESULTS_OF[num](ns, args.figures)
            finally:
                os.chdir(here)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s", flush=True)
        # Read the file again just before writing: only this chapter's entry changes.
        results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
        results[num] = found
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
