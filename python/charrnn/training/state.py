"""Resumable training: the whole state of a run, in one checkpoint file, for both modes.

A *training checkpoint* is a model checkpoint (:mod:`charrnn.checkpoint`: safetensors,
JSON metadata, SHA-256, atomic write) that also holds everything the
:class:`~charrnn.training.trainer.Trainer` needs to carry on exactly where it stopped:

============================  ========================================================
tensors ``optimizer.m.*``     Adam's first moments, one per weight, float32
tensors ``optimizer.v.*``     Adam's second moments
tensors ``best.*``            the weights of the best evaluation so far (if any)
tensors ``ema.*``             with ``ema``: the moving average of the weights
tensors ``carried.h``/``.c``  text mode, mid-epoch: the state carried into the next
                              batch, ``[L, B, H]`` (``c``: LSTM only)
metadata ``training_state``   JSON (names mode; ``text_training_state`` in text mode):
                              step, epochs done, batches done in the current epoch, the
                              epoch's running loss, Adam's step count and learning rate,
                              the records so far and which one is kept, names mode's
                              data-order generator state, the options of the run and a
                              fingerprint (count + SHA-256) of its data
============================  ========================================================

The two modes differ in one thing only, what the position in the data is: a names run
stores the data-order generator's state at the start of the epoch (batches are shuffled
and each starts from zeros), a text run the hidden state the next batch starts from
(batches continue each other).  The entry's name says the mode, so each file loads only
as what it is (:func:`load_training_checkpoint`, :func:`load_text_checkpoint`;
:func:`load_state` reads either).

The model tensors hold the weights *after* the last step, so the file also loads with
:func:`charrnn.load`.  With one kernel thread (``charrnn._core.set_num_threads(1)``) a
run resumed from any of its checkpoints ends with bit-for-bit the weights of the run that
was never interrupted: the dropout masks are derived from ``(seed, step)``, the data
order from the stored generator state, and every float is stored exactly (tensors as
float32, JSON numbers with ``repr``).

Python::

    history = charrnn.train(model, train_items, val_items, epochs=20,
                            checkpoint="run.ckpt.safetensors", checkpoint_every=500)
    # ... interrupted; later, in a new process:
    model, history = charrnn.resume("run.ckpt.safetensors", train_items, val_items)

Command line: ``charrnn train --resume run.ckpt.safetensors`` (either mode).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .. import checkpoint as _ckpt
from ..errors import CheckpointError, ResumeError
from ..model import CharRNN, State, model_from_checkpoint

__all__ = [
    "TrainingState",
    "TextTrainingState",
    "save_state",
    "save_training_checkpoint",
    "save_text_checkpoint",
    "load_state",
    "load_training_checkpoint",
    "load_text_checkpoint",
    "is_text_checkpoint",
    "default_checkpoint_path",
    "resumed_options",
    "STATE_KEY",
    "TEXT_STATE_KEY",
    "STATE_VERSION",
    "RESUME_OVERRIDABLE",
]

STATE_KEY = "training_state"  # names mode
TEXT_STATE_KEY = "text_training_state"  # text mode
STATE_KEYS = {"names": STATE_KEY, "text": TEXT_STATE_KEY}
STATE_VERSION = 1
M_PREFIX, V_PREFIX, BEST_PREFIX, EMA_PREFIX = "optimizer.m.", "optimizer.v.", "best.", "ema."
CARRIED_H, CARRIED_C = "carried.h", "carried.c"

# Trainer arguments a resumed run may change without changing the weights it computes:
# how long it runs, what it reports, where it saves. The same in both modes.
RESUME_OVERRIDABLE = frozenset(
    {
        "epochs",
        "max_steps",
        "log_every",
        "progress",
        "log",
        "callback",
        "checkpoint",
        "checkpoint_every",
        "out",
        "resume",
    }
)
# Options added after checkpoints were first written, with the value every run before them
# had: a checkpoint without one ran with that value, and a resumed run keeps it.
LEGACY_OPTIONS: dict[str, Any] = {
    "variational": False,
    "input_dropout": 0.0,
    "embed_dropout": 0.0,
    "weight_drop": 0.0,
    "weight_decay": 0.0,
    "ema": 0.0,
}
# What each mode's resume function is called (for messages).
_RESUME_FUNCTION = {"names": "charrnn.resume()", "text": "charrnn.resume_text()"}


def default_checkpoint_path(out: str | os.PathLike[str]) -> str:
    """Where ``charrnn train --out OUT`` keeps its resumable state: ``OUT`` with
    ``.safetensors`` replaced by ``.ckpt.safetensors``."""
    out = os.fspath(out)
    stem = out[: -len(".safetensors")] if out.endswith(".safetensors") else out
    return stem + ".ckpt.safetensors"


@dataclass
class TrainingState:
    """Where a training run is, besides its weights (see the module's documentation).

    ``epoch`` counts the epochs finished; ``batch`` the batches already done of epoch
    ``epoch + 1``.  Names mode: that epoch's data order comes from ``order_state``, and
    ``partial_recorded`` says that the budget cut it and its record is in ``history``
    (resuming with more steps replaces it).  Text mode: its next batch starts from
    ``carried`` (None: zeros, an epoch start).
    """

    mode: str  # "names" or "text"
    step: int
    epoch: int
    batch: int
    epoch_loss: float
    epoch_chars: int
    optimizer: dict[str, Any]  # t, lr, beta1, beta2, eps, weight_decay
    m: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    params: dict[str, np.ndarray]  # the weights after the last step
    config: dict[str, Any]
    options: dict[str, Any]
    data: dict[str, Any]  # part ("train", "val", "test") -> fingerprint
    history: list[dict[str, Any]] = field(default_factory=list)
    best_index: Optional[int] = None
    best_epoch: Optional[int] = None
    best_val_nll: Optional[float] = None
    best_params: Optional[dict[str, np.ndarray]] = None
    ema: Optional[dict[str, np.ndarray]] = None  # the moving average of the weights (ema > 0)
    order_state: Optional[dict[str, Any]] = None  # names mode
    carried: State = None  # text mode
    partial_recorded: bool = False
    stopped_early: bool = False
    finished: bool = False
    seconds: float = 0.0
    step_seconds: float = 0.0
    step_chars: int = 0
    extra: Optional[dict[str, Any]] = None  # the checkpoint's "training" metadata (the CLI's arguments)
    plan: Optional[dict[str, Any]] = None  # a time-budgeted run's plan (charrnn.budget.BudgetPlan.to_dict)

    # -- the resume check ------------------------------------------------------------

    def check_compatible(self, model: CharRNN, options: dict[str, Any], data: dict[str, Any]) -> None:
        """Raise :class:`ResumeError` unless resuming with ``model``, these trainer
        ``options`` and this ``data`` (part -> fingerprint) continues the stored run.
        Only the options in :data:`RESUME_OVERRIDABLE` may differ."""
        if model.config != self.config:
            raise ResumeError(f"the model {model.config} is not the checkpoint's {self.config}")
        if list(model.params) != list(self.params) or not all(
            p is self.params[n] or np.array_equal(p, self.params[n]) for n, p in model.params.items()
        ):
            raise ResumeError(
                f"the model's weights are not the checkpoint's (pass the model {_RESUME_FUNCTION[self.mode]} loads)"
            )
        for key, value in options.items():
            if key in RESUME_OVERRIDABLE or (key not in self.options and key not in LEGACY_OPTIONS):
                continue
            stored = self.options.get(key, LEGACY_OPTIONS.get(key))
            if not _same(stored, value):
                raise ResumeError(
                    f"{key}={value!r} differs from the checkpoint's {key}={stored!r}; a resumed run "
                    f"keeps the options it started with ({_RESUME_FUNCTION[self.mode]} takes them from the checkpoint)"
                )
        for part, got in data.items():
            want = self.data.get(part)
            if want != got:
                what = {"train": "training", "val": "validation"}.get(part, part)
                noun = "text" if self.mode == "text" else "data"
                raise ResumeError(
                    f"the {what} {noun} differs from the {noun} this checkpoint was trained on "
                    f"({_describe(want)} then, {_describe(got)} now)"
                )

    def restore(self, model: CharRNN, optimizer: Any) -> Optional[dict[str, np.ndarray]]:
        """Put the stored weights and Adam state back; returns a copy of the best weights
        (None if there are none)."""
        for name, p in model.params.items():
            if p is not self.params[name]:
                np.copyto(p, self.params[name])
        names = list(model.params)
        optimizer.load(self.optimizer, [self.m[n] for n in names], [self.v[n] for n in names])
        if self.best_params is None:
            return None
        return {name: p.copy() for name, p in self.best_params.items()}

    def summary(self) -> str:
        where = f"step {self.step}, epoch {self.epoch + (1 if self.batch else 0)}"
        if not self.batch:
            return where + " done"
        return where + f" (batch {self.batch} of it{', state carried' if self.carried is not None else ''})"

    # -- serialisation ---------------------------------------------------------------

    @property
    def key(self) -> str:
        return STATE_KEYS[self.mode]

    def to_json(self) -> str:
        entry: dict[str, Any] = {
            "version": STATE_VERSION,
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "epoch_loss": self.epoch_loss,
            "epoch_chars": self.epoch_chars,
            "optimizer": self.optimizer,
            "options": self.options,
            "data": self.data,
            "history": self.history,
            "best_index": self.best_index,
            "best_epoch": self.best_epoch,
            "best_val_nll": self.best_val_nll,
            "has_best_params": self.best_params is not None,
            "has_ema": self.ema is not None,
            "stopped_early": self.stopped_early,
            "finished": self.finished,
            "seconds": self.seconds,
            "step_seconds": self.step_seconds,
            "step_chars": self.step_chars,
        }
        if self.plan is not None:
            entry["plan"] = self.plan
        if self.mode == "names":
            entry["order_state"] = self.order_state
            entry["partial_recorded"] = self.partial_recorded
        return json.dumps(entry, ensure_ascii=False, allow_nan=True)

    def tensors(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in self.params:
            out[M_PREFIX + name] = self.m[name]
            out[V_PREFIX + name] = self.v[name]
            if self.best_params is not None:
                out[BEST_PREFIX + name] = self.best_params[name]
            if self.ema is not None:
                out[EMA_PREFIX + name] = self.ema[name]
        if self.carried is not None:
            h, c = self.carried
            out[CARRIED_H] = np.ascontiguousarray(h, dtype=np.float32)
            if c is not None:
                out[CARRIED_C] = np.ascontiguousarray(c, dtype=np.float32)
        return out


TextTrainingState = TrainingState  # one state for both modes (the old name of the text one)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _describe(fp: Optional[dict[str, Any]]) -> str:
    if fp is None:
        return "none"
    size = f"{fp.get('chars')} characters" if "chars" in fp else f"{fp.get('items')} items"
    return f"{size}, sha256 {str(fp.get('sha256'))[:12]}"


def save_state(path: str | os.PathLike[str], model: CharRNN, state: TrainingState) -> None:
    """Write ``model`` (its current weights) and ``state`` to ``path``, atomically: an
    interrupted or failed write leaves the previous file as it was."""
    _ckpt.save(
        model, path, extra=state.extra, extra_tensors=state.tensors(), extra_metadata={state.key: state.to_json()}
    )


save_training_checkpoint = save_text_checkpoint = save_state


def is_text_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a text training state (read from the header only; False
    when the file cannot be read: loading it reports why)."""
    return checkpoint_kind(path) == "text"


def checkpoint_kind(path: str | os.PathLike[str]) -> Optional[str]:
    """``"names"`` or ``"text"``: the mode of the training state in ``path``, read from
    its header only (None: no training state, or unreadable — loading it says why)."""
    try:
        metadata = _ckpt.read_header(path)
    except Exception:  # noqa: BLE001 - the real load reports it
        return None
    for mode, key in STATE_KEYS.items():
        if key in metadata:
            return mode
    return None


_MISSING = {
    "names": "{path}: a model without training state, so it cannot be resumed "
    "(resume from the .ckpt.safetensors file that training writes next to it)",
    "text": "{path}: no text training state, so it cannot be resumed as a text-mode run "
    "(resume from the .ckpt.safetensors file that 'charrnn train --mode text' writes next to the model)",
}


def load_training_checkpoint(path: str | os.PathLike[str]) -> tuple[CharRNN, TrainingState]:
    """The model (with the weights after the last step) and the :class:`TrainingState` of
    a names-mode training checkpoint.

    Raises FileNotFoundError, :class:`CheckpointError` (damaged, inconsistent) or
    :class:`ResumeError` (a model file without training state, e.g. the final ``--out``).
    """
    return _load(os.fspath(path), "names")


def load_text_checkpoint(path: str | os.PathLike[str]) -> tuple[CharRNN, TrainingState]:
    """The model (weights after the last step) and the :class:`TrainingState` of a text
    training checkpoint.  Raises FileNotFoundError, :class:`CheckpointError` (damaged,
    inconsistent) or :class:`ResumeError` (a file without text training state)."""
    return _load(os.fspath(path), "text")


def load_state(path: str | os.PathLike[str]) -> tuple[CharRNN, TrainingState]:
    """The model and state of a training checkpoint of either mode."""
    return load_text_checkpoint(path) if is_text_checkpoint(path) else load_training_checkpoint(path)


def _load(path: str, mode: str) -> tuple[CharRNN, TrainingState]:
    key = STATE_KEYS[mode]
    metadata, tensors = _ckpt._read(path)
    model = model_from_checkpoint(path, metadata, tensors)
    raw = metadata.get(key)
    if raw is None:
        raise ResumeError(_MISSING[mode].format(path=path))
    try:
        s = json.loads(raw)
        if not isinstance(s, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        raise CheckpointError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None
    if s.get("version") != STATE_VERSION:
        raise CheckpointError(
            f"{path}: unsupported {key.replace('_', ' ')} version {s.get('version')!r} (this charrnn reads {STATE_VERSION})"
        )

    def stored(prefix: str, what: str) -> dict[str, np.ndarray]:
        return _read_moments(path, model, tensors, prefix, what)

    what = "text training state" if mode == "text" else "training state"
    try:
        options = _dict(s, "options")
        history = list(s.get("history") or [])
        state = TrainingState(
            mode=mode,
            step=_int(s, "step"),
            epoch=_int(s, "epoch"),
            batch=_int(s, "batch"),
            epoch_loss=float(s["epoch_loss"]),
            epoch_chars=_int(s, "epoch_chars"),
            optimizer=_dict(s, "optimizer"),
            m=stored(M_PREFIX, "optimizer"),
            v=stored(V_PREFIX, "optimizer"),
            params=dict(model.params),
            config=model.config,
            options=options,
            data=_dict(s, "data"),
            history=history,
            best_index=s.get("best_index"),
            best_epoch=s.get("best_epoch"),
            best_val_nll=s.get("best_val_nll"),
            best_params=stored(BEST_PREFIX, "best-weights") if s.get("has_best_params") else None,
            ema=stored(EMA_PREFIX, "moving-average") if s.get("has_ema") else None,
            order_state=_dict(s, "order_state") if mode == "names" else None,
            carried=_carried(path, model, tensors, options) if mode == "text" else None,
            partial_recorded=bool(s.get("partial_recorded", False)),
            stopped_early=bool(s.get("stopped_early", False)),
            finished=bool(s.get("finished", False)),
            seconds=float(s.get("seconds", 0.0)),
            step_seconds=float(s.get("step_seconds", 0.0)),
            step_chars=_int(s, "step_chars", 0),
            extra=_training_extra(metadata),
            plan=_plan(s.get("plan")),
        )
        _int(state.optimizer, "t")
        lr = state.optimizer.get("lr")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"optimizer lr {lr!r}")
        if min(state.batch, state.step, state.epoch) < 0:
            raise ValueError("negative position")
        if state.best_index is not None and not (0 <= state.best_index < len(history)):
            raise ValueError(f"best_index {state.best_index} outside the history")
        if mode == "text":
            if (state.batch > 0) != (state.carried is not None):
                raise ValueError(
                    f"batch {state.batch} of an epoch {'without' if state.carried is None else 'with'} a carried state"
                )
            if state.best_index is not None and "best_epoch" not in s:  # written before both modes shared a state
                state.best_epoch, state.best_val_nll = (
                    history[state.best_index]["epoch"],
                    history[state.best_index]["val_nll"],
                )
        elif state.best_index is None and state.best_epoch is not None:  # written before both modes shared a state
            state.best_index = max(
                (i for i, r in enumerate(history) if r.get("epoch") == state.best_epoch), default=None
            )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad {what} in metadata ({type(e).__name__}: {e})") from None
    return model, state


def _read_moments(
    path: str, model: CharRNN, tensors: dict[str, np.ndarray], prefix: str, what: str
) -> dict[str, np.ndarray]:
    """The tensors ``prefix + name`` of a checkpoint, one per weight of ``model``, checked
    (present, float32, the weight's shape) and copied."""
    out = {}
    for name, shape in model.param_shapes().items():
        t = tensors.get(prefix + name)
        if t is None:
            raise CheckpointError(f"{path}: {what} tensor {prefix + name!r} is missing")
        if tuple(t.shape) != shape or t.dtype != np.float32:
            raise CheckpointError(
                f"{path}: {what} tensor {prefix + name!r} is {t.dtype}{tuple(t.shape)}, expected float32{shape}"
            )
        out[name] = np.array(t, dtype=np.float32, order="C", copy=True)
    return out


def _carried(path: str, model: CharRNN, tensors: dict[str, np.ndarray], options: dict[str, Any]) -> State:
    h = tensors.get(CARRIED_H)
    if h is None:
        return None
    want = (model.layers, options.get("batch_size"), model.hidden)
    c = tensors.get(CARRIED_C)
    for name, t in ((CARRIED_H, h), (CARRIED_C, c)):
        if t is None:
            continue
        if tuple(t.shape) != want or t.dtype != np.float32:
            raise CheckpointError(f"{path}: tensor {name!r} is {t.dtype}{tuple(t.shape)}, expected float32{want}")
        if not np.isfinite(t).all():
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values")
    if model.cell == "lstm" and c is None:
        raise CheckpointError(f"{path}: an LSTM's carried state needs {CARRIED_C!r}")
    if model.cell != "lstm" and c is not None:
        raise CheckpointError(f"{path}: a {model.cell.upper()} has no {CARRIED_C!r}")
    return (
        np.array(h, dtype=np.float32, order="C", copy=True),
        None if c is None else np.array(c, dtype=np.float32, order="C", copy=True),
    )


def _plan(value: Any) -> Optional[dict[str, Any]]:
    """A stored time-budget plan, checked (ValueError when it is not one)."""
    if value is None:
        return None
    from ..budget import BudgetPlan

    if not isinstance(value, dict):
        raise ValueError(f"plan must be a JSON object, got {value!r}")
    return BudgetPlan.from_dict(value).to_dict()


def _training_extra(metadata: dict[str, str]) -> Optional[dict[str, Any]]:
    raw = metadata.get("training")
    if raw is None:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("metadata 'training' is not a JSON object")
    return value


def _int(d: dict[str, Any], key: str, default: Optional[int] = None) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = d.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a JSON object, got {value!r}")
    return value


def resumed_options(stored: dict[str, Any], overrides: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """The trainer's arguments to resume a run: the ``stored`` options with ``overrides``
    applied (only :data:`RESUME_OVERRIDABLE` ones may differ: :class:`ResumeError`
    otherwise), writing the checkpoint back to ``path`` unless the overrides say where."""
    options = {k: v for k, v in stored.items() if k != "checkpoint"}
    for key, value in overrides.items():
        if key in RESUME_OVERRIDABLE or key not in options:
            options[key] = value
        elif not _same(options[key], value):
            raise ResumeError(f"{key}={value!r} differs from the checkpoint's {key}={options[key]!r}")
    options.setdefault("checkpoint", os.fspath(path))
    return options
