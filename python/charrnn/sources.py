"""Where training batches come from — and the one thing names and text do differently.

The :class:`~charrnn.training.trainer.Trainer` is the same loop for both modes; it pulls
batches from a :class:`BatchSource`.  There are two, and what sets them apart is one
decision, the attribute ``carries_state``:

**Drop the hidden state** (:class:`NamesSource`, ``carries_state = False``).  A list of
names is a set of *independent* sequences: "Анна" says nothing about the "Борис" that
happens to follow it in the file.  Each batch holds whole items, padded to the longest
(``[BOS] + chars`` in, ``chars + [EOS]`` out), shuffled every epoch, and every batch
starts from a zero state; nothing flows from one batch to the next.

**Carry the hidden state** (:class:`TextSource`, ``carries_state = True``).  A book is
*one* long sequence.  It is cut into ``B`` parallel streams read ``T`` characters at a
time (:class:`~charrnn.text.TextBatches`); row ``k`` of batch ``j + 1`` continues row
``k`` of batch ``j``, so batch ``j + 1`` starts from the state batch ``j`` ended in.  The
values are carried, the gradient is not: backpropagation stops at the batch boundary
(truncated backpropagation through time, TBPTT).  That is how a network with a
``T``-step window learns dependencies longer than ``T``.  The state is reset to zero at
each epoch start.

Everything else — the optimizer, the schedule, evaluation, early stopping, the best
weights, checkpoints, Ctrl-C, NaN handling, progress and logs — is the trainer's, and the
same for both.

A source provides: ``len(source)`` (batches per epoch), ``batches(start)`` (one epoch's
batches from batch ``start`` on), ``train_pass`` (loss, gradients and the final state of
one batch), ``evaluate`` (the held-out NLLs), ``position()``/``set_position()`` (what a
checkpoint must store to reproduce the epoch's batches), ``identity()`` (fingerprints of
the data, checked on resume) and ``record`` (the record of an evaluation).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Optional, Protocol, Union

import numpy as np

from .counted import DEFAULT_WEIGHT_POWER, tempered
from .data import Batch, NameBatches, check_probabilities, describe_unseen, unseen_characters
from .dropout import Dropout
from .labelled import Labelled
from .metrics import nll_per_char, split_metrics
from .model import CharRNN, State
from .records import EpochRecord, History, TextHistory, TextRecord
from .text import TextBatches, evaluate_text, text_pass

__all__ = ["BatchSource", "NamesSource", "TextSource", "fingerprint", "text_fingerprint"]

logger = logging.getLogger(__name__)


def fingerprint(items: Optional[Sequence[str]]) -> Optional[dict[str, Any]]:
    """``{"items": count, "sha256": hex}`` of a list of items (None for None): two lists
    have the same fingerprint when they hold the same items in the same order."""
    if items is None:
        return None
    h = hashlib.sha256()
    for item in items:
        raw = str(item).encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "little") + raw)
    return {"items": len(items), "sha256": h.hexdigest()}


def text_fingerprint(text: Optional[str]) -> Optional[dict[str, Any]]:
    """``{"chars": length, "sha256": hex}`` of a text (None for None or empty)."""
    if not text:
        return None
    return {"chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}


class BatchSource(Protocol):
    """What the trainer needs from the data (see the module's documentation)."""

    mode: str  # "names" or "text": the model's mode and the checkpoint's kind
    carries_state: bool  # THE difference: does batch k+1 start from batch k's final state?
    one_record_per_epoch: bool  # a record cut short by the step budget is replaced on resume
    history_type: type[History]
    record_type: type[EpochRecord]

    def __len__(self) -> int: ...

    def batches(self, start: int) -> Iterator[Batch]: ...

    def train_pass(
        self, model: CharRNN, batch: Batch, state: State, dropout: Union[float, Dropout], seed: int
    ) -> tuple[float, list[np.ndarray], State]: ...

    def evaluate(self, model: CharRNN) -> dict[str, Optional[float]]: ...

    def position(self) -> Optional[dict[str, Any]]: ...

    def set_position(self, position: Optional[dict[str, Any]]) -> None: ...

    def identity(self) -> dict[str, Any]: ...

    def record(
        self, fields: dict[str, Any], evaluation: dict[str, Optional[float]], progress: float, end_of_epoch: bool
    ) -> EpochRecord: ...

    def describe(self) -> str: ...


class _Batches:
    """What both sources do alike: an epoch of ``self._batches``, from any batch on."""

    _batches: Any

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self._batches)

    def batches(self, start: int) -> Iterator[Batch]:
        # Iterating draws the epoch's order (names); skipping `start` batches keeps it.
        return itertools.islice(iter(self._batches), start, None)


class NamesSource(_Batches):
    """Independent items (names), padded into batches, reshuffled every epoch; every batch
    starts from a zero state.  ``val_items`` (optional) are measured at each epoch end.

    Frequency-aware training: with ``weights`` (how often each training item occurs, e.g.
    the counts of :func:`charrnn.load_counts`), an epoch is ``len(train_items)`` draws with
    replacement, item ``i`` with probability proportional to ``weights[i] ** weight_power``
    (1: as often as in the counted population; 0: every item alike, but drawn with
    replacement; the default :data:`DEFAULT_WEIGHT_POWER` is a measured compromise, see
    ``docs/names.md``).  With ``val_weights`` the evaluation also gives the per-occurrence
    NLL (``val_nll_weighted``: each validation item counted as often as it occurs), beside
    the per-type ``val_nll`` (each item once).
    """

    mode = "names"
    carries_state = False  # each item is its own sequence: nothing flows between batches
    one_record_per_epoch = True
    history_type = History
    record_type = EpochRecord

    def __init__(
        self,
        model: CharRNN,
        train_items: Sequence[str],
        val_items: Optional[Sequence[str]] = None,
        batch_size: int = 32,
        seed: int = 0,
        weights: Optional[Sequence[float]] = None,
        val_weights: Optional[Sequence[float]] = None,
        weight_power: float = DEFAULT_WEIGHT_POWER,
    ) -> None:
        if len(train_items) == 0:
            raise ValueError("no training items")
        if val_items is not None and len(val_items) == 0:
            logger.warning("empty validation list: training without validation")
            val_items, val_weights = None, None
        self.train_items, self.val_items, self.batch_size = train_items, val_items, batch_size
        self.weights = (
            None if weights is None else check_probabilities(tempered(weights, weight_power), len(train_items))
        )
        self.val_weights = None
        if val_weights is not None:
            if val_items is None:
                raise ValueError("val_weights given without val_items")
            self.val_weights = check_probabilities(val_weights, len(val_items))
        self._batches = NameBatches(
            train_items, model.vocab, batch_size=batch_size, shuffle=True, seed=seed, probabilities=self.weights
        )
        if model.conditional and isinstance(train_items, Labelled):
            model.category_counts = train_items.counts()  # the prior of charrnn.classify
        if val_items is not None:
            NameBatches(val_items, model.vocab, batch_size=batch_size, shuffle=False)  # fail early on bad chars
            unseen = unseen_characters(train_items, val_items)
            if unseen:
                logger.warning(
                    "%d validation character(s) never occur in the training items, so they stay untrained: %s",
                    len(unseen),
                    describe_unseen(unseen),
                )
        if batch_size > len(train_items):
            logger.warning(
                "batch_size %d is larger than the %d training items: every step sees all of them",
                batch_size,
                len(train_items),
            )
        self._names = list(model.param_shapes())

    def train_pass(
        self, model: CharRNN, batch: Batch, state: State, dropout: Union[float, Dropout], seed: int
    ) -> tuple[float, list[np.ndarray], State]:
        assert state is None  # carries_state is False: the trainer never hands one over
        loss_sum, grads = model.loss_and_grads(batch, dropout=dropout, seed=seed)
        assert grads is not None
        return loss_sum, [grads[name] for name in self._names], None

    def evaluate(self, model: CharRNN) -> dict[str, Optional[float]]:
        if not self.val_items:
            return {"val": None}
        batch_size = max(self.batch_size, 256)
        if self.val_weights is None:
            return {"val": model.evaluate(self.val_items, batch_size=batch_size)["nll"]}
        # One pass gives both: each item once (per type), and each as often as it occurs
        # (per occurrence: the NLL per character of the population).
        log_probs = model.log_probs(self.val_items, batch_size=batch_size)
        chars = np.array([len(model.vocab.encode(item)) + 1 for item in self.val_items], dtype=np.float64)
        return {
            "val": nll_per_char(-float(log_probs.sum()), int(chars.sum())),
            "val_weighted": float(-(self.val_weights @ log_probs) / (self.val_weights @ chars)),
        }

    def position(self) -> Optional[dict[str, Any]]:
        return self._batches.get_state()  # the data-order generator: the next epoch's order

    def set_position(self, position: Optional[dict[str, Any]]) -> None:
        if position is not None:
            self._batches.set_state(position)

    def identity(self) -> dict[str, Any]:
        weights = None if self.weights is None else fingerprint([repr(float(w)) for w in self.weights])
        return {"train": fingerprint(self.train_items), "val": fingerprint(self.val_items), "weights": weights}

    def record(
        self, fields: dict[str, Any], evaluation: dict[str, Optional[float]], progress: float, end_of_epoch: bool
    ) -> EpochRecord:
        return EpochRecord(**fields, val_nll_weighted=evaluation.get("val_weighted"))

    def describe(self) -> str:
        drawn = ", drawn by weight" if self.weights is not None else ""
        return f"{len(self.train_items):,} items in {len(self)} batches of up to {self.batch_size}{drawn}"


class TextSource(_Batches):
    """One continuous text in ``batch_size`` parallel streams of ``seq_len`` steps per
    batch, the state carried from batch to batch (see the module's documentation).
    ``val_text``/``test_text`` (optional) are measured whole at every evaluation, with
    ``eval_batch_size`` streams (default: ``batch_size``)."""

    mode = "text"
    carries_state = True  # the streams continue each other: batch k+1 starts where batch k ended
    one_record_per_epoch = False  # every evaluation is kept, a cut one too
    history_type = TextHistory
    record_type = TextRecord

    def __init__(
        self,
        model: CharRNN,
        train_text: str,
        val_text: Optional[str] = None,
        test_text: Optional[str] = None,
        batch_size: int = 50,
        seq_len: int = 50,
        eval_batch_size: Optional[int] = None,
    ) -> None:
        if model.conditional:
            raise ValueError("text mode does not take a conditional model (categories are for names)")
        if not isinstance(train_text, str):
            raise TypeError(f"train_text must be a string, got {type(train_text).__name__}")
        self.texts = {"train": train_text, "val": val_text, "test": test_text}
        self._batches = TextBatches(train_text, model.vocab, batch_size, seq_len)
        eval_bs = batch_size if eval_batch_size is None else eval_batch_size
        # Held-out texts are encoded up front: a bad character fails before any training.
        self._held_out = {
            part: TextBatches(text, model.vocab, eval_bs, seq_len, whole=True)
            for part, text in (("val", val_text), ("test", test_text))
            if text
        }
        model.mode = "text"

    def train_pass(
        self, model: CharRNN, batch: Batch, state: State, dropout: Union[float, Dropout], seed: int
    ) -> tuple[float, list[np.ndarray], State]:
        loss_sum, grads, final = text_pass(model, batch, state, dropout=dropout, seed=seed)
        assert grads is not None
        return loss_sum, grads, final

    def evaluate(self, model: CharRNN) -> dict[str, Optional[float]]:
        out: dict[str, Optional[float]] = {"val": None}
        for part, batches in self._held_out.items():
            out[part] = evaluate_text(model, batches)["nll"]
        return out

    def position(self) -> Optional[dict[str, Any]]:
        return None  # the batches of an epoch are always the same; the carried state is the trainer's

    def set_position(self, position: Optional[dict[str, Any]]) -> None:
        pass

    def identity(self) -> dict[str, Any]:
        return {part: text_fingerprint(text) for part, text in self.texts.items()}

    def record(
        self, fields: dict[str, Any], evaluation: dict[str, Optional[float]], progress: float, end_of_epoch: bool
    ) -> EpochRecord:
        test = split_metrics("test", evaluation.get("test"))
        return TextRecord(**fields, progress=progress, end_of_epoch=end_of_epoch, **test)

    def describe(self) -> str:
        return f"text mode: {self._batches}; {len(self)} steps per epoch"
