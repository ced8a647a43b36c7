"""The figures of the "Names by gender and kind" section of docs/conditional.md, reproducibly.

Trains a gender-conditional model on the bundled first names with a held-out test split
(never trained on, never used to pick the weights), then measures

* the classifier's accuracy on the test split (Bayes' rule, prior from the training counts;
  also with a uniform prior, and the majority-class baseline);
* how often names generated for a gender are classified as that gender (all of them, and
  the new ones only: not in the bundled lists);

and draws the learning curves into docs/curves.png.  Run from the repository's root:

    python docs/gender_report.py            # about 20 s on 2 cores
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

import charrnn
from charrnn.classify import accuracy, predict
from charrnn.plot import plot_log

DOCS = pathlib.Path(__file__).resolve().parent
SEED = 0


def main() -> None:
    # The short lists (408 + 328 names) the ru-first-by-gender preset was made of before it
    # moved to the russiannames tables; the rich preset is measured in docs/names.md.
    lists = {g: charrnn.datasets.russian_names("first", g) for g in ("male", "female")}
    data = charrnn.Labelled.from_lists(lists)
    rest, test = data.split(val_fraction=0.15, seed=SEED + 1)  # the held-out test split
    train_items, val_items = rest.split(val_fraction=0.1, seed=SEED)  # validation picks the epoch
    vocab = charrnn.Vocab.from_items(data)
    model = charrnn.CharRNN(vocab, cell="lstm", hidden=128, layers=1, embed=32, seed=SEED, categories=data.categories)
    log = DOCS / "gender-run.jsonl"
    t0 = time.perf_counter()
    history = charrnn.train(
        model,
        train_items,
        val_items,
        epochs=40,
        batch_size=32,
        lr=3e-3,
        dropout=0.2,
        seed=SEED,
        log=log,
        log_every=None,
    )
    seconds = time.perf_counter() - t0
    plot_log(log, DOCS / "curves.png", title="ru-first-by-gender: LSTM 128, 40 epochs", size=(6.0, 3.6), dpi=90)

    best = history.best
    print(f"train {train_items!r}, val {val_items!r}, test {test!r}; {seconds:.1f} s")
    print(f"best epoch {best.epoch}: val ppl {best.val_ppl:.3f}, train ppl {best.train_ppl:.3f}")
    majority = max(test.counts().values()) / len(test)
    print(f"test accuracy (training prior): {accuracy(model, test):.3f}")
    print(f"test accuracy (uniform prior):  {accuracy(model, test, prior='uniform'):.3f}")
    print(f"majority-class baseline:        {majority:.3f}")

    known = set(data)
    for temperature in (0.8, 1.0):
        for gender in data.categories:
            names = model.sample(1000, category=gender, seed=SEED + 7, temperature=temperature)
            names = [n for n in names if n]
            got = np.array(predict(model, names)) == gender
            new = np.array([n not in known for n in names])
            print(
                f"T={temperature} {gender}: {got.mean():.3f} of {len(names)} generated names classified {gender}; "
                f"{got[new].mean():.3f} of the {new.sum()} new ones"
            )


if __name__ == "__main__":
    main()
