"""The figures of docs/names.md on the shipped models ("Pretrained models" and "The
classifiers"), reproducibly (after data/train_pretrained.py, or on the installed ones):

* each model's size and validation NLL (from charrnn/models/models.json);
* how plausible the generators are: of N names each first-name model writes, the share
  that are real names (in the russiannames table, any count; and seen >= 3 times), beside
  the table source of `charrnn person` (which only draws real names);
* the classifiers on their preset's held-out test names (never trained on, never used to
  pick the weights): accuracy, the а/я rule's accuracy on the same names (gender),
  expected calibration error and the reliability table.

    python benchmarks/pretrained_report.py [-n 2000]
"""

from __future__ import annotations

import argparse
import json

import charrnn
from charrnn.classify import evaluate_classifier
from charrnn.names import tables
from charrnn.pretrained import shipped_models


def real_share(names: list[str], real: set[str]) -> float:
    return sum(n in real for n in names) / len(names)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    charrnn.set_num_threads(1)
    models = shipped_models()
    out: dict = {"models": {}, "generators": {}, "classifiers": {}}
    for name, m in models.items():
        out["models"][name] = {k: m.get(k) for k in ("params", "bytes", "val_nll", "val_nll_weighted", "train_seconds")}
    for gender in ("male", "female"):
        rows = tables.first_names(gender)
        real_any = {r.name for r in tables.first_names()}
        real_3 = {r.name for r in rows if r.count >= 3}
        names = charrnn.pretrained(f"ru-first-{gender}").sample(args.n, seed=1)
        out["generators"][f"ru-first-{gender}"] = {
            "samples": args.n,
            "real_any_count": round(real_share(names, real_any), 4),
            "real_count_ge_3": round(real_share(names, real_3), 4),
            "distinct": len(set(names)),
            "first_20": names[:20],
        }
    for name in ("ru-first-by-gender", "ru-names-by-kind"):
        if name not in models:
            continue
        test = charrnn.datasets.preset_split(models[name]["preset"])[2]
        out["classifiers"][name] = evaluate_classifier(charrnn.pretrained(name), test)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return
    print("model                  params   KiB  val nll  weighted")
    for name, m in out["models"].items():
        w = m["val_nll_weighted"]
        print(
            f"{name:<22} {m['params']:>7,} {m['bytes'] / 1024:>5.0f}  {m['val_nll']:.4f}  {'-' if w is None else f'{w:.4f}'}"
        )
    for name, g in out["generators"].items():
        print(
            f"{name}: of {g['samples']} names written, {g['real_any_count']:.1%} are in the table "
            f"({g['real_count_ge_3']:.1%} seen >= 3 times), {g['distinct']} distinct; e.g. {' '.join(g['first_20'][:10])}"
        )
    for name, r in out["classifiers"].items():
        rule = f"; the а/я rule {r['ending_rule_accuracy']:.4f}" if "ending_rule_accuracy" in r else ""
        print(f"{name} on {r['items']} held-out test names: accuracy {r['accuracy']:.4f}{rule}; ECE {r['ece']:.4f}")
        for b in r["reliability"]:
            print(
                f"   {b['low']:.1f}-{b['high']:.1f}  n {b['n']:>5}  confidence {b['confidence']:.3f}  accuracy {b['accuracy']:.3f}"
            )


if __name__ == "__main__":
    main()
