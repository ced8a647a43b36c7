"""charrnn's benchmark suite: training throughput and sampling speed against a plain numpy
implementation of the same model and, when it is installed, PyTorch.

    python benchmarks/bench.py                 # every case, all cores
    python benchmarks/bench.py --threads 1 --cases names-small,sample-batch
    python benchmarks/bench.py --json results.jsonl

Each (case, implementation) runs in its own subprocess, so that thread pools and peak
memory do not leak between them; all use the same number of threads, the same weights and
the same batches. Times are the median of several timed windows after a warm-up; ratios
are against the baselines measured in the same run (the machines are shared and noisy:
absolute numbers mean little, the ratios are what to read).

FLOP count per character (a training step counted as 3x its forward multiplies):
6*(In+H)*G*H per recurrent layer (G = 4 LSTM, 3 GRU, 1 RNN; the first layer's input term
dropped, its input being an embedding row gather) plus 6*H*V for the output layer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

# (dataset, cell, embed, hidden, layers, batch, seq_len or None)
TRAIN_CASES = {
    "names-small": ("surnames", 32, 128, 1, 64, None),
    "names-first": ("first", 32, 128, 2, 32, None),
    "text-default": ("text", 32, 128, 2, 50, 50),
    "text-large": ("text", 32, 512, 2, 64, 100),
}
SAMPLE_CASES = {"sample-loop": False, "sample-batch": True}


def set_threads_env(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(threads)


# --------------------------------------------------------------------------- data


def load_names(kind: str) -> list[str]:
    import unicodedata

    files = {
        "surnames": ["surnames_male.txt", "surnames_female.txt"],
        "first": ["first_names_male.txt", "first_names_female.txt"],
    }[kind]
    seen, out = set(), []
    for f in files:
        for line in (ROOT / "data" / f).read_text(encoding="utf-8").splitlines():
            name = unicodedata.normalize("NFC", line.strip())
            if name and name not in seen:
                seen.add(name)
                out.append(name)
    return out


def name_batches(names: list[str], batch: int, seed: int = 0):
    """Padded time-major batches (input = start + name, target = name + end)."""
    import numpy as np

    chars = sorted({c for n in names for c in n})
    ids = {c: i + 3 for i, c in enumerate(chars)}
    order = np.random.default_rng(seed).permutation(len(names))
    batches = []
    for s in range(0, len(order) - batch + 1, batch):
        items = [names[i] for i in order[s : s + batch]]
        steps = max(len(n) for n in items) + 1
        x = np.zeros((steps, batch), np.int32)
        y = np.zeros((steps, batch), np.int32)
        lengths = np.array([len(n) + 1 for n in items], np.int32)
        for b, n in enumerate(items):
            enc = [ids[c] for c in n]
            x[: len(n) + 1, b] = [1] + enc
            y[: len(n) + 1, b] = enc + [2]
        batches.append((x, y, lengths))
    return len(chars) + 3, batches


def text_batches(text: str, batch: int, seq_len: int):
    """B parallel streams; batch k is the k-th chunk of seq_len characters of every stream."""
    import numpy as np

    chars = sorted(set(text))
    ids = np.array([{c: i for i, c in enumerate(chars)}[c] for c in text], np.int32)
    per_stream = (len(ids) - 1) // batch
    x_all = ids[: per_stream * batch].reshape(batch, per_stream)
    y_all = ids[1 : per_stream * batch + 1].reshape(batch, per_stream)
    batches = []
    for s in range(0, per_stream - seq_len + 1, seq_len):
        x = np.ascontiguousarray(x_all[:, s : s + seq_len].T)
        y = np.ascontiguousarray(y_all[:, s : s + seq_len].T)
        batches.append((x, y, np.full(batch, seq_len, np.int32)))
    return len(chars), batches


def flops_per_char(cell: str, vocab: int, embed: int, hidden: int, layers: int) -> float:
    g = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    total = 6 * hidden * g * hidden  # layer 0: recurrent term only
    total += (layers - 1) * 6 * (hidden + hidden) * g * hidden
    return float(total + 6 * hidden * vocab)


# --------------------------------------------------------------------------- workers


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss() -> float:
    """Resets the kernel's peak-RSS mark (Linux) and returns the current RSS in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    return _status_mib("VmHWM")


def timed_windows(step, budget: float, windows: int = 5):
    """Runs `step()` (returns units of work) in `windows` timed windows within `budget`
    seconds after one warm-up call; returns the median rate."""
    step()
    rates = []
    for _ in range(windows):
        work, t0 = 0, time.perf_counter()
        while True:
            work += step()
            elapsed = time.perf_counter() - t0
            if elapsed >= budget / windows:
                break
        rates.append(work / elapsed)
    rates.sort()
    return rates[len(rates) // 2]


def worker_train(case: str, cell: str, impl: str, seconds: float, threads: int) -> dict:
    sys.path.insert(0, str(HERE))

    from models import TRAINERS, init_params

    dataset, embed, hidden, layers, batch, seq_len = TRAIN_CASES[case]
    if dataset == "text":
        vocab, batches = text_batches(SHAKESPEARE.read_text(encoding="utf-8"), batch, seq_len)
    else:
        vocab, batches = name_batches(load_names(dataset), batch)
    _set_impl_threads(impl, threads)
    params = init_params(cell, vocab, embed, hidden, layers)
    rss0 = reset_peak_rss()
    trainer = TRAINERS[impl](cell, params, stateful=dataset == "text")
    cursor = [0]

    def step() -> int:
        x, y, lengths = batches[cursor[0] % len(batches)]
        cursor[0] += 1
        trainer.step(x, y, lengths)
        return int(lengths.sum())

    rate = timed_windows(step, seconds)
    padded = sum(x.size for x, _, _ in batches)
    real = sum(int(lengths.sum()) for _, _, lengths in batches)
    return {
        "chars_per_sec": rate,
        "gflops": rate * flops_per_char(cell, vocab, embed, hidden, layers) / 1e9,
        "peak_mib": peak_rss_mib() - rss0,
        "padding_fraction": 1 - real / padded,
        "flops_per_char": flops_per_char(cell, vocab, embed, hidden, layers),
    }


def worker_sample(case: str, cell: str, impl: str, seconds: float, threads: int) -> dict:
    sys.path.insert(0, str(HERE))
    from models import init_params
    from sampling import SAMPLERS

    names = load_names("first")
    vocab = len({c for n in names for c in n}) + 3
    _set_impl_threads(impl, threads)
    params = init_params(cell, vocab, 32, 128, 2, seed=1)
    batch = SAMPLE_CASES[case]
    n = 1000
    seed = [0]
    counts = []

    def run() -> int:
        seed[0] += 1
        steps = SAMPLERS[impl](cell, params, n, batch, 20, seed[0])
        counts.append(steps)
        return n

    names_per_sec = timed_windows(run, seconds, windows=3)
    steps_per_name = sum(counts) / (len(counts) * n)
    return {"names_per_sec": names_per_sec, "us_per_char": 1e6 / (names_per_sec * steps_per_name)}


def _set_impl_threads(impl: str, threads: int) -> None:
    if impl in ("charrnn", "numpy"):
        from charrnn import _core

        _core.set_num_threads(threads)
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)


def matmul_peak(threads: int) -> dict:
    """Measured single-precision matrix-multiply rate (large square matrices)."""
    import numpy as np

    out = {}
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    t = time.perf_counter()
    for _ in range(5):
        a @ a
    out["numpy"] = 5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9
    try:
        import torch

        torch.set_num_threads(threads)
        ta = torch.from_numpy(a)
        ta @ ta
        t = time.perf_counter()
        for _ in range(5):
            ta @ ta
        out["torch"] = 5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9
    except ImportError:
        pass
    return out


# --------------------------------------------------------------------------- driver


def run_worker(kind: str, case: str, cell: str, impl: str, seconds: float, threads: int) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", kind, case, cell, impl, str(seconds), "--threads", str(threads)]
    env = dict(os.environ, PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"  {impl}: failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join([*TRAIN_CASES, *SAMPLE_CASES]))
    ap.add_argument("--cells", default="lstm,gru,rnn", help="cells for the training cases (sampling uses lstm)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seconds", type=float, default=6.0, help="timed budget per measurement")
    ap.add_argument("--numpy-seconds", type=float, default=4.0)
    ap.add_argument("--json", help="append one JSON object per measurement to this file")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    set_threads_env(args.threads)
    if args.worker:
        kind, case, cell, impl, seconds = args.worker
        fn = worker_train if kind == "train" else worker_sample
        print(json.dumps(fn(case, cell, impl, float(seconds), args.threads)))
        return

    try:
        import torch  # noqa: F401

        have_torch = True
        torch_line = f"PyTorch {torch.__version__}"
    except ImportError:
        have_torch = False
        torch_line = "PyTorch not installed: its baseline is skipped (pip install torch to include it)"
    import platform

    import numpy as np

    print(
        f"charrnn benchmark — {time.strftime('%Y-%m-%d')} — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; threads = {args.threads} for every implementation"
    )
    print(f"numpy {np.__version__}; {torch_line}")
    peak = matmul_peak(args.threads)
    print("f32 matmul peak (2048^2): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items()))
    if not SHAKESPEARE.exists():
        print(f"{SHAKESPEARE} not found: text cases are skipped")
    out = open(args.json, "a") if args.json else None
    for case in args.cases.split(","):
        if case in TRAIN_CASES and TRAIN_CASES[case][0] == "text" and not SHAKESPEARE.exists():
            continue
        cells = args.cells.split(",") if case in TRAIN_CASES else ["lstm"]
        for cell in cells:
            kind = "train" if case in TRAIN_CASES else "sample"
            impls = ["charrnn", "numpy", "torch"] if kind == "train" else ["charrnn", "torch"]
            results = {}
            print(f"\n{case} [{cell}]")
            for impl in impls:
                if impl == "torch" and not have_torch:
                    print("  torch: skipped (not installed)")
                    continue
                budget = args.numpy_seconds if impl == "numpy" else args.seconds
                r = run_worker(kind, case, cell, impl, budget, args.threads)
                if r is None:
                    continue
                results[impl] = r
                if kind == "train":
                    line = (
                        f"  {impl:8s} {r['chars_per_sec']:>10,.0f} chars/s  {r['gflops']:6.1f} GFLOP/s  "
                        f"peak +{r['peak_mib']:.0f} MiB"
                    )
                else:
                    line = f"  {impl:8s} {r['names_per_sec']:>10,.0f} names/s  {r['us_per_char']:8.2f} µs/char"
                print(line, flush=True)
            key = "chars_per_sec" if kind == "train" else "names_per_sec"
            if "charrnn" in results:
                for base in ("numpy", "torch"):
                    if base in results:
                        print(f"  charrnn / {base}: {results['charrnn'][key] / results[base][key]:.2f}x")
            if kind == "train" and "charrnn" in results:
                r = results["charrnn"]
                print(
                    f"  ({r['flops_per_char'] / 1e6:.2f} MFLOP/char; padding {100 * r['padding_fraction']:.0f}% of the padded batch)"
                )
            if out:
                out.write(json.dumps({"case": case, "cell": cell, "threads": args.threads, "results": results}) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
