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
import sys
import time
from pathlib import Path

import matplotlib

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


@chapter("03")
def ch03(ns, figdir):
    losses, history = np.array(ns["losses"]), ns["history"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(np.arange(1, len(losses) + 1), losses, color="C0", alpha=0.25, lw=0.8)
    w = min(50, len(losses))
    smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
    ax.plot(np.arange(w, len(losses) + 1), smooth, color="C0", label=f"numpy RNN, training loss (mean of {w} steps)")
    ax.axhline(ns["numpy_val_nll"], color="C0", ls="--", label="numpy RNN, validation after training")
    ax.plot([r_.step for r_ in history], [r_.train_nll for r_ in history], "o-", color="C1", ms=3,
            label="same RNN trained by charrnn.train: training (per epoch)")
    ax.plot([r_.step for r_ in history], [r_.val_nll for r_ in history], "s--", color="C1", ms=3,
            label="charrnn.train: validation")
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
        out[f"{cell}_over_rnn_at_50_log10"] = r(np.log10(norms[cell, "trained"][at50] / norms["rnn", "trained"][at50]), 1)
    out["kernel_loss_rel"] = sci(ns["loss_rel"])
    out["kernel_grad_rel"] = sci(ns["grad_rel"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter numbers (default: all)")
    ap.add_argument("--small", action="store_true", help="small sizes (CHARRNN_GUIDE_SMALL=1), for a quick try")
    ap.add_argument("--out", type=Path, default=guidecode.GUIDE / "results.json")
    ap.add_argument("--figures", type=Path, default=FIGURES)
    args = ap.parse_args()
    args.figures.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    for path in guidecode.chapters("en"):
        num = path.name[:2]
        if num not in RESULTS_OF or (args.chapters and num not in args.chapters):
            continue
        start = time.perf_counter()
        ns = guidecode.run_chapter(path, small=args.small)
        results[num] = RESULTS_OF[num](ns, args.figures)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s", flush=True)
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
