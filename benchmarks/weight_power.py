"""Which ``--weight-power`` to default to: train the same model on the russiannames first
names (one gender, seen >= 3 times) drawing items in proportion to count ** power, and
measure the validation NLL per type (each held-out name once) and per occurrence (each as
often as it occurs), and the per-occurrence NLL of the training names themselves
("population": how well the model has learnt which names are common — the held-out names
are unseen types, so frequency cannot help on them).  Also the plain run (each name once
per epoch, no counts).

    python benchmarks/weight_power.py [--steps 4000] [--gender female]
"""

from __future__ import annotations

import argparse
import json
import time

import charrnn
from charrnn import datasets
from charrnn.counted import counted_split


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--gender", default="female")
    p.add_argument("--kind", default="first")
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument("--powers", default="plain,0,0.25,0.5,0.75,1")
    args = p.parse_args()
    charrnn.set_num_threads(1)
    data = datasets.russiannames(args.kind, args.gender, args.min_count)
    train, val = counted_split(data, 0.1, 0)
    for power in args.powers.split(","):
        model = charrnn.CharRNN(
            charrnn.Vocab.from_items(train.items), cell="lstm", hidden=128, layers=1, embed=32, seed=0
        )
        weighting = {} if power == "plain" else {"weights": train.counts, "weight_power": float(power)}
        t0 = time.perf_counter()
        history = charrnn.train(
            model,
            train.items,
            val.items,
            val_weights=val.counts,
            epochs=None,
            max_steps=args.steps,
            batch_size=64,
            lr=3e-3,
            dropout=0.1,
            seed=0,
            log_every=None,
            **weighting,
        )
        best = history.best
        lp = model.log_probs(train.items)
        chars = [len(x) + 1 for x in train.items]
        population = -sum(c * lp_i for c, lp_i in zip(train.counts, lp)) / sum(
            c * n for c, n in zip(train.counts, chars)
        )
        print(
            json.dumps(
                {
                    "kind": args.kind,
                    "gender": args.gender,
                    "power": power,
                    "steps": args.steps,
                    "train_items": len(train.items),
                    "val_items": len(val.items),
                    "best_epoch": history.best_epoch,
                    "val_nll": round(best.val_nll, 4),
                    "val_nll_weighted": round(best.val_nll_weighted, 4),
                    "train_nll_weighted": round(population, 4),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
