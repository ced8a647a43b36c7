"""Re-train the pretrained models shipped in the package (``python/charrnn/models/``).

    python data/train_pretrained.py                      # all of them, one thread
    python data/train_pretrained.py ru-first-female      # only some
    python data/train_pretrained.py --steps-scale 0.1    # a quick (worse) run

Each model is a 1-layer LSTM (128 hidden units, embedding 32) trained on the bundled
``russiannames`` tables (``charrnn.datasets.russiannames`` / ``charrnn.datasets.preset``):
the generators frequency-aware (items drawn in proportion to ``count ** 0.5``), the
classifiers (conditional models) on each name once.  10% of the names (types) are held
out; the best epoch by validation NLL is kept.  ``models.json`` beside the models records
what each was trained on and its validation NLL (per type and, for the generators, per
occurrence), which ``charrnn models`` prints.  Deterministic for a given seed and thread
count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import charrnn
from charrnn import datasets
from charrnn.classify import evaluate_classifier
from charrnn.counted import Counted, counted_split

OUT = Path(__file__).resolve().parent.parent / "python" / "charrnn" / "models"
ARCH = {"cell": "lstm", "hidden": 128, "layers": 1, "embed": 32}
BATCH, LR, DROPOUT, SEED, VAL_FRACTION = 64, 3e-3, 0.1, 0, 0.1

# name -> (description, what to train on, minimum count, optimizer steps)
GENERATORS = {
    "ru-first-male": ("Russian male first names", ("first", "male"), 3, 8000),
    "ru-first-female": ("Russian female first names", ("first", "female"), 3, 8000),
    "ru-patronymic-male": ("Russian male patronymics", ("patronymic", "male"), 3, 8000),
    "ru-patronymic-female": ("Russian female patronymics", ("patronymic", "female"), 3, 8000),
    "ru-surname-male": ("Russian male surnames", ("surname", "male"), 10, 12000),
    "ru-surname-female": ("Russian female surnames", ("surname", "female"), 10, 12000),
}
# name -> (description, preset, optimizer steps)
CLASSIFIERS = {
    "ru-first-by-gender": ("Russian first names by gender (classify male/female)", "ru-first-by-gender", 8000),
    "ru-names-by-kind": ("Russian names by kind (classify first/patronymic/surname)", "ru-names-by-kind", 8000),
}


def _train(name: str, train_items, val_items, steps: int, weighted: bool, **model_kw) -> dict:
    vocab = charrnn.Vocab.from_items(list(train_items.items if isinstance(train_items, Counted) else train_items))
    model = charrnn.CharRNN(vocab, seed=SEED, **ARCH, **model_kw)
    start = time.perf_counter()
    history = charrnn.train(
        model,
        train_items,
        val_items,
        epochs=None,
        max_steps=steps,
        batch_size=BATCH,
        lr=LR,
        dropout=DROPOUT,
        seed=SEED,
        log_every=None,
        patience=None,
        out=OUT / f"{name}.safetensors",
    )
    seconds = time.perf_counter() - start
    best = history.best
    model.save(OUT / f"{name}.safetensors")
    n_train = len(train_items.items if isinstance(train_items, Counted) else train_items)
    n_val = len(val_items.items if isinstance(val_items, Counted) else val_items)
    entry = {
        "file": f"{name}.safetensors",
        **ARCH,
        "params": model.num_params,
        "train_items": n_train,
        "val_items": n_val,
        "steps": history[-1].step,
        "best_epoch": history.best_epoch,
        "val_nll": round(history.best_val_nll, 4),
        "train_seconds": round(seconds, 1),
    }
    if weighted and best is not None and best.val_nll_weighted is not None:
        entry["val_nll_weighted"] = round(best.val_nll_weighted, 4)
    return entry


def train_generator(name: str, scale: float) -> dict:
    description, (kind, gender), min_count, steps = GENERATORS[name]
    data = datasets.russiannames(kind, gender, min_count=min_count)
    train_part, val_part = counted_split(data, VAL_FRACTION, SEED)
    entry = _train(name, train_part, val_part, max(1, int(steps * scale)), True)
    return {
        "description": description,
        "data": f"russiannames {kind} names, gender {gender}, count >= {min_count}",
        "kind": kind,
        "gender": gender,
        "weight_power": charrnn.counted.DEFAULT_WEIGHT_POWER,
        **entry,
    }


def train_classifier(name: str, scale: float) -> dict:
    description, preset, steps = CLASSIFIERS[name]
    train_part, val_part, test_part = datasets.preset_split(preset, VAL_FRACTION, SEED)
    categories = list(train_part.categories)
    entry = _train(name, train_part, val_part, max(1, int(steps * scale)), False, categories=categories)
    model = charrnn.load(OUT / f"{name}.safetensors")
    report = evaluate_classifier(model, test_part)
    entry["test"] = {k: report[k] for k in ("items", "accuracy", "ece", "nll", "ending_rule_accuracy") if k in report}
    return {
        "description": description,
        "data": f"the {preset} preset",
        "preset": preset,
        "categories": categories,
        **entry,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="models to train (default: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every model's step budget")
    args = p.parse_args(argv)
    charrnn.set_num_threads(args.threads)
    names = args.names or [*GENERATORS, *CLASSIFIERS]
    unknown = [n for n in names if n not in GENERATORS and n not in CLASSIFIERS]
    if unknown:
        p.error(f"unknown model(s): {', '.join(unknown)}")
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "models.json"
    manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    for name in names:
        entry = (
            train_generator(name, args.steps_scale) if name in GENERATORS else train_classifier(name, args.steps_scale)
        )
        manifest[name] = entry
        print(json.dumps({"name": name, **entry}, ensure_ascii=False), flush=True)
        tmp = manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")
        os.replace(tmp, manifest_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
