"""Resumable training: the whole state of a run in one checkpoint file.

A *training checkpoint* is a model checkpoint (:mod:`charrnn.checkpoint`: safetensors,
JSON metadata, SHA-256, atomic write) that also holds everything else the trainer needs
to carry on exactly where it stopped:

=========================  ===========================================================
tensors ``optimizer.m.*``  Adam's first moments, one per weight, float32
tensors ``optimizer.v.*``  Adam's second moments
tensors ``best.*``         the weights of the best validation epoch so far (if any)
metadata ``training_state``  JSON: step, epochs done, batches done in the current epoch,
                           the data-order generator's state at the start of that epoch,
                           the epoch's running loss, Adam's step count and learning rate,
                           the best epoch and its validation NLL, the history, the
                           options of the run and a fingerprint (count + SHA-256) of its
                           training and validation items
=========================  ===========================================================

The model tensors hold the weights *after* the last step, so the file also loads with
:func:`charrnn.load` (for sampling from a run in progress).  With one kernel thread
(``charrnn._core.set_num_threads(1)``) a run resumed from any of its checkpoints ends
with bit-for-bit the weights of the run that was never interrupted: the dropout masks
are derived from ``(seed, step)``, the data order from the stored generator state, and
every float is stored exactly (tensors as float32, JSON numbers with ``repr``).

Python::

    history = charrnn.train(model, train_items, val_items, epochs=20,
                            checkpoint="run.ckpt.safetensors", checkpoint_every=500)
    # ... interrupted; later, in a new process:
    model, history = charrnn.resume("run.ckpt.safetensors", train_items, val_items)

Command line: ``charrnn train --resume run.ckpt.safetensors``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import checkpoint as _ckpt
from .errors import CheckpointError, ResumeError
from .model import CharRNN

__all__ = [
    "TrainingState",
    "save_training_checkpoint",
    "load_training_checkpoint",
    "resume",
    "fingerprint",
    "default_checkpoint_path",
    "STATE_KEY",
    "STATE_VERSION",
    "RESUME_OVERRIDABLE",
]

logger = logging.getLogger(__name__)

STATE_KEY = "training_state"
STATE_VERSION = 1
M_PREFIX, V_PREFIX, BEST_PREFIX = "optimizer.m.", "optimizer.v.", "best."

# train() arguments that are not stored, or that a resumed run may change without
# changing what it computes: how long it runs, what it reports, where it saves.
NOT_STORED = frozenset({"model", "train_items", "val_items", "callback", "resume", "checkpoint", "checkpoint_every"})
RESUME_OVERRIDABLE = frozenset({"epochs", "max_steps", "log_every", "progress", "log"}) | NOT_STORED


def default_checkpoint_path(out: str | os.PathLike[str]) -> str:
    """Where ``charrnn train --out OUT`` keeps its resumable state: ``OUT`` with
    ``.safetensors`` replaced by ``.ckpt.safetensors``."""
    out = os.fspath(out)
    stem = out[: -len(".safetensors")] if out.endswith(".safetensors") else out
    return stem + ".ckpt.safetensors"


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


def capture_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The JSON-representable arguments of a ``train()`` call that define the run."""
    out = {}
    for key, value in arguments.items():
        if key in NOT_STORED or key.startswith("_"):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
            out[key] = list(value)
    return out


@dataclass
class TrainingState:
    """Where a training run is, besides its weights (see the module's documentation).

    ``epoch`` counts the epochs whose record is written; ``batch`` the batches already
    done of epoch ``epoch + 1``, whose data order comes from ``order_state``.
    """

    step: int
    epoch: int
    batch: int
    order_state: dict[str, Any]
    epoch_loss: float
    epoch_chars: int
    optimizer: dict[str, Any]  # t, lr, beta1, beta2, eps
    m: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    params: dict[str, np.ndarray]  # the weights after the last step
    config: dict[str, Any]
    options: dict[str, Any]
    data: dict[str, Any]  # {"train": fingerprint, "val": fingerprint or None}
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: Optional[int] = None
    best_val_nll: Optional[float] = None
    best_params: Optional[dict[str, np.ndarray]] = None
    partial_recorded: bool = False  # epoch `epoch + 1` was cut by max_steps and has a record
    finished: bool = False
    seconds: float = 0.0
    step_seconds: float = 0.0
    step_chars: int = 0
    extra: Optional[dict[str, Any]] = None  # the checkpoint's "training" metadata (the CLI's arguments)

    # -- checks before resuming ------------------------------------------------------

    def check_compatible(
        self,
        model: CharRNN,
        options: dict[str, Any],
        train_items: Sequence[str],
        val_items: Optional[Sequence[str]],
    ) -> None:
        """Raise :class:`ResumeError` unless resuming with ``model``, these ``train()``
        options and this data continues the stored run."""
        if model.config != self.config:
            raise ResumeError(f"the model {model.config} is not the checkpoint's {self.config}")
        if list(model.params) != list(self.params):
            raise ResumeError("the model's weights are not the checkpoint's")
        for key, value in options.items():
            if key in RESUME_OVERRIDABLE or key not in self.options:
                continue
            stored = self.options[key]
            if not _same(stored, value):
                raise ResumeError(
                    f"{key}={value!r} differs from the checkpoint's {key}={stored!r}; "
                    f"a resumed run keeps the options it started with (charrnn.resume() takes them from the checkpoint)"
                )
        for part, items in (("training", train_items), ("validation", val_items)):
            key = "train" if part == "training" else "val"
            want, got = self.data.get(key), fingerprint(items)
            if want != got:
                raise ResumeError(
                    f"the {part} data differs from the data this checkpoint was trained on "
                    f"({_describe_fp(want)} then, {_describe_fp(got)} now)"
                )

    # -- serialisation ---------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "step": self.step,
                "epoch": self.epoch,
                "batch": self.batch,
                "order_state": self.order_state,
                "epoch_loss": self.epoch_loss,
                "epoch_chars": self.epoch_chars,
                "optimizer": self.optimizer,
                "options": self.options,
                "data": self.data,
                "history": self.history,
                "best_epoch": self.best_epoch,
                "best_val_nll": self.best_val_nll,
                "has_best_params": self.best_params is not None,
                "partial_recorded": self.partial_recorded,
                "finished": self.finished,
                "seconds": self.seconds,
                "step_seconds": self.step_seconds,
                "step_chars": self.step_chars,
            },
            ensure_ascii=False,
            allow_nan=True,
        )

    def tensors(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in self.params:
            out[M_PREFIX + name] = self.m[name]
            out[V_PREFIX + name] = self.v[name]
            if self.best_params is not None:
                out[BEST_PREFIX + name] = self.best_params[name]
        return out

    def summary(self) -> str:
        return f"step {self.step}, epoch {self.epoch + (1 if self.batch else 0)}" + (
            f" (batch {self.batch} of it)" if self.batch else " done"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _describe_fp(fp: Optional[dict[str, Any]]) -> str:
    if fp is None:
        return "none"
    return f"{fp.get('items')} items, sha256 {str(fp.get('sha256'))[:12]}"


def save_training_checkpoint(
    path: str | os.PathLike[str], model: CharRNN, state: TrainingState, extra: Optional[dict[str, Any]] = None
) -> None:
    """Write ``model`` (its current weights) and ``state`` to ``path``, atomically: an
    interrupted or failed write leaves the previous file as it was."""
    _ckpt.save(
        model,
        path,
        extra=state.extra if extra is None else extra,
        extra_tensors=state.tensors(),
        extra_metadata={STATE_KEY: state.to_json()},
    )


def load_training_checkpoint(path: str | os.PathLike[str]) -> tuple[CharRNN, TrainingState]:
    """The model (with the weights after the last step) and the :class:`TrainingState` of
    a training checkpoint.

    Raises FileNotFoundError, :class:`CheckpointError` (damaged, inconsistent) or
    :class:`ResumeError` (a model file without training state, e.g. the final ``--out``).
    """
    path = os.fspath(path)
    model, metadata, tensors, s = read_state_entry(
        path,
        STATE_KEY,
        STATE_VERSION,
        f"{path}: a model without training state, so it cannot be resumed "
        f"(resume from the .ckpt.safetensors file that training writes next to it)",
    )

    def moments(prefix: str, what: str) -> dict[str, np.ndarray]:
        return read_moments(path, model, tensors, prefix, what)

    try:
        state = TrainingState(
            step=_int(s, "step"),
            epoch=_int(s, "epoch"),
            batch=_int(s, "batch"),
            order_state=_dict(s, "order_state"),
            epoch_loss=float(s["epoch_loss"]),
            epoch_chars=_int(s, "epoch_chars"),
            optimizer=_dict(s, "optimizer"),
            m=moments(M_PREFIX, "optimizer"),
            v=moments(V_PREFIX, "optimizer"),
            params={name: p for name, p in model.params.items()},
            config=model.config,
            options=_dict(s, "options"),
            data=_dict(s, "data"),
            history=list(s.get("history") or []),
            best_epoch=s.get("best_epoch"),
            best_val_nll=s.get("best_val_nll"),
            best_params=moments(BEST_PREFIX, "best-weights") if s.get("has_best_params") else None,
            partial_recorded=bool(s.get("partial_recorded", False)),
            finished=bool(s.get("finished", False)),
            seconds=float(s.get("seconds", 0.0)),
            step_seconds=float(s.get("step_seconds", 0.0)),
            step_chars=_int(s, "step_chars", 0),
            extra=_training_extra(path, metadata),
        )
        opt = state.optimizer
        _int(opt, "t")
        if not (isinstance(opt.get("lr"), (int, float)) and opt["lr"] > 0):
            raise ValueError(f"optimizer lr {opt.get('lr')!r}")
        if state.batch < 0 or state.step < 0 or state.epoch < 0:
            raise ValueError("negative position")
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad training state in metadata ({type(e).__name__}: {e})") from None
    return model, state


def read_state_entry(
    path: str, key: str, version: int, missing: str
) -> tuple[CharRNN, dict[str, str], dict[str, np.ndarray], dict[str, Any]]:
    """Read the checkpoint ``path``: its model, metadata, tensors and the JSON object of
    metadata ``key`` (a :class:`ResumeError` saying ``missing`` without it; a
    :class:`CheckpointError` if it is not JSON or not of this ``version``)."""
    metadata, tensors = _ckpt._read(path)
    model = _ckpt._model_from(path, metadata, tensors)
    raw = metadata.get(key)
    if raw is None:
        raise ResumeError(missing)
    try:
        s = json.loads(raw)
        if not isinstance(s, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        raise CheckpointError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None
    if s.get("version") != version:
        raise CheckpointError(
            f"{path}: unsupported {key.replace('_', ' ')} version {s.get('version')!r} (this charrnn reads {version})"
        )
    return model, metadata, tensors, s


def read_moments(
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


def restore_weights_and_optimizer(
    stored: Any, model: CharRNN, optimizer: Any
) -> Optional[dict[str, np.ndarray]]:
    """Put ``stored``'s weights and Adam state (its ``params``, ``optimizer``, ``m``,
    ``v``) back; returns a copy of its best weights (None if it has none)."""
    for name, p in model.params.items():
        if p is not stored.params[name]:
            np.copyto(p, stored.params[name])
    names = list(model.params)
    optimizer.load(stored.optimizer, [stored.m[n] for n in names], [stored.v[n] for n in names])
    if stored.best_params is None:
        return None
    return {name: p.copy() for name, p in stored.best_params.items()}


def _training_extra(path: str, metadata: dict[str, str]) -> Optional[dict[str, Any]]:
    raw = metadata.get("training")
    if raw is None:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("metadata 'training' is not a JSON object")
    return value


def restore_into(state: TrainingState, model: CharRNN, optimizer: Any, batches: Any) -> Optional[dict[str, np.ndarray]]:
    """Put the stored weights, Adam state and data order back; returns a copy of the best
    weights (None without validation)."""
    best = restore_weights_and_optimizer(state, model, optimizer)
    batches.set_state(state.order_state)
    return best


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


def resumed_options(
    stored: dict[str, Any], overrides: dict[str, Any], overridable: frozenset[str], path: str | os.PathLike[str]
) -> dict[str, Any]:
    """The trainer's arguments to resume a run: the ``stored`` options with ``overrides``
    applied (only ``overridable`` ones may differ: :class:`ResumeError` otherwise), writing
    the checkpoint back to ``path`` unless the overrides say where."""
    options = {k: v for k, v in stored.items() if k != "checkpoint"}
    for key, value in overrides.items():
        if key in overridable or key not in options:
            options[key] = value
        elif not _same(options[key], value):
            raise ResumeError(f"{key}={value!r} differs from the checkpoint's {key}={options[key]!r}")
    options.setdefault("checkpoint", os.fspath(path))
    return options


def resume(
    path: str | os.PathLike[str],
    train_items: Sequence[str],
    val_items: Optional[Sequence[str]] = None,
    **overrides: Any,
):
    """Carry on the training run saved in the training checkpoint ``path``.

    ``train_items``/``val_items`` must be the run's data (checked against the stored
    fingerprints).  The run's options (batch size, learning rate, seed, ...) come from the
    checkpoint; ``overrides`` may change how long it runs (``epochs``, ``max_steps``),
    ``callback``, ``log_every``, ``checkpoint`` (default: ``path`` itself) and
    ``checkpoint_every``; any other option given must equal the stored one.  Returns
    ``(model, history)``, the history covering the whole run.
    """
    from .training import train

    model, state = load_training_checkpoint(path)
    options = resumed_options(state.options, overrides, RESUME_OVERRIDABLE, path)
    history = train(model, train_items, val_items, resume=state, **options)
    return model, history
