"""How far constrained sampling (masking, local renormalisation) is from the model's
distribution conditioned on the constraint, measured against rejection sampling on a
constraint that rejection can afford.

    python benchmarks/constraint_bias.py [--n 20000] [--epochs 8]

It trains a small LSTM on the bundled female surnames, then draws names that end in
"-ская" with 8 to 10 letters two ways:

* **rejection**: draw freely, keep the names that meet the constraint — exactly
  ``p(x | C)``, at the price of the rejected draws;
* **masking**: ``charrnn``'s constrained sampler — ``q(x) = p(x) / ∏ Z_t``.

It prints the acceptance rate and speed of each, and three distances between the two
samples: total variation over the first letter and over the length, and over the 200
most frequent names; next to each, the same distance between two independent rejection
samples (the noise floor of the sample size).  The mean log-probability under the model
shows the direction of the bias: masking draws names the model finds less likely.
"""

from __future__ import annotations

import argparse
import collections
import re
import time

import numpy as np

import charrnn
from charrnn import _core, constraints
from charrnn.constraints import NameConstraint

PATTERN = re.compile(r".*ская")
MIN_LEN, MAX_LEN = 8, 10


def tv(a: list[str], b: list[str], key) -> float:
    """Total variation distance between the empirical distributions of key(x)."""
    ca, cb = collections.Counter(map(key, a)), collections.Counter(map(key, b))
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))


def tv_top(a: list[str], b: list[str], top: int = 200) -> float:
    """Total variation restricted to the ``top`` most frequent names of both (the rest one bin)."""
    common = {k for k, _ in (collections.Counter(a) + collections.Counter(b)).most_common(top)}
    return tv(a, b, lambda x: x if x in common else "<other>")


def draw(model, n: int, seed: int, constraint=None, max_steps: int = MAX_LEN + 1, resample: int = 1) -> list[str]:
    params, category_embedding = model._core_params()
    ids, log_w = _core.sample(
        model.cell,
        params,
        n * resample,
        model.vocab.bos_id,
        model.vocab.eos_id,
        max_steps,
        seed=seed,
        banned=[model.vocab.pad_id, model.vocab.bos_id],
        constraint=constraint,
        log_weights=True,
    )
    if resample > 1:
        ids = constraints.resample(ids, log_w, resample, seed)
    return [model.vocab.decode(s) for s in ids]


def rejection(model, n: int, seed: int) -> tuple[list[str], int]:
    """``n`` names meeting the constraint by rejection, and how many draws it took."""
    kept, drawn, batch = [], 0, 4 * n
    while len(kept) < n:
        names = draw(model, batch, seed, max_steps=40)
        seed += 1
        drawn += batch
        kept.extend(x for x in names if PATTERN.fullmatch(x) and MIN_LEN <= len(x) <= MAX_LEN)
    return kept[:n], drawn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="names per sample")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--resample", type=int, nargs="+", default=[1, 4, 16, 64], help="candidates per name")
    args = ap.parse_args()

    names = charrnn.datasets.russian_names("surnames", gender="female")
    train_items, val_items = charrnn.split(names, val_fraction=0.05, seed=0)
    model = charrnn.CharRNN(charrnn.Vocab.from_items(names), cell="lstm", hidden=128, layers=1, embed=32, seed=0)
    history = charrnn.train(model, train_items, val_items, epochs=args.epochs, batch_size=128, lr=3e-3)
    print(f"model: LSTM 1x128 on {len(train_items)} female surnames, val NLL {history.best_val_nll:.3f} nats/char")

    constraint = NameConstraint(ends_with="ская", min_len=MIN_LEN, max_len=MAX_LEN).compile(model.vocab, MAX_LEN)
    t = time.perf_counter()
    exact, drawn = rejection(model, args.n, 1000)
    t_rejection = time.perf_counter() - t
    exact2, _ = rejection(model, args.n, 500000)
    print(f"rejection: {drawn:,} draws for {args.n:,} names (acceptance {args.n / drawn:.1%}), {t_rejection:.2f} s")
    measures = [
        ("first letter", lambda a, b: tv(a, b, lambda x: x[0])),
        ("length", lambda a, b: tv(a, b, len)),
        ("top-200 names", tv_top),
    ]
    lp_exact = float(np.mean(model.log_probs(exact[:4000])))
    print("total variation distance to a rejection sample (noise floor: rejection vs rejection)")
    print(f"{'sampler':<24}{'seconds':>8}" + "".join(f"{m:>15}" for m, _ in measures) + f"{'mean log p':>12}")
    print(
        f"{'rejection (2nd sample)':<24}{t_rejection:>8.2f}"
        + "".join(f"{f(exact2, exact):>15.3f}" for _, f in measures)
        + f"{lp_exact:>12.2f}"
    )
    for k in args.resample:
        t = time.perf_counter()
        masked = draw(model, args.n, 1, constraint, resample=k)
        seconds = time.perf_counter() - t
        assert all(PATTERN.fullmatch(x) and MIN_LEN <= len(x) <= MAX_LEN for x in masked)
        name = "masking" if k == 1 else f"masking + resample k={k}"
        lp = float(np.mean(model.log_probs(masked[:4000])))
        print(
            f"{name:<24}{seconds:>8.2f}" + "".join(f"{f(masked, exact):>15.3f}" for _, f in measures) + f"{lp:>12.2f}"
        )


if __name__ == "__main__":
    main()
