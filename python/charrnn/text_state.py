"""Resumable text-mode training: where a :func:`charrnn.train_text` run is, in one file.

A *text training checkpoint* is a model checkpoint (:mod:`charrnn.checkpoint`) that also
holds what the text trainer needs to carry on exactly where it stopped:

===========================  =========================================================
tensors ``optimizer.m.*``    Adam's first moments, one per weight, float32
tensors ``optimizer.v.*``    Adam's second moments
tensors ``best.*``           the weights of the best evaluation so far (if any)
tensors ``carried.h``        the state carried into the next batch, ``[L, B, H]``
tensors ``carried.c``        (LSTM) the carried memory cells; both absent at an epoch start
metadata
``text_training_state``      JSON: step, epochs done, batches done of the current epoch,
                             the epoch's running loss, Adam's step count and learning
                             rate, the evaluations so far and which one is kept, the
                             options of the run and a fingerprint (length + SHA-256) of
                             its training, validation and test texts
===========================  =========================================================

The carried state is what makes a text checkpoint different from a names checkpoint:
mid-epoch, the next batch must start from the state the previous batch ended in, not
from zeros.  With one kernel thread a run resumed from any of its checkpoints ends with
bit-for-bit the weights of the run that was never interrupted (dropout masks come from
``(seed, step)``, batches from the stream position, floats are stored exactly).

Python::

    history = charrnn.train_text(model, train, val, test, epochs=40,
                                 checkpoint="run.ckpt.safetensors", checkpoint_every=200)
    # ... interrupted; later, in a new process:
    model, history = charrnn.resume_text("run.ckpt.safetensors", train, val, test)

Command line: ``charrnn train --resume run.ckpt.safetensors`` (the mode, the options and
the text files come from the checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import checkpoint as _ckpt
from .errors import CheckpointError, ResumeError
from .model import CharRNN
from .training_state import BEST_PREFIX, M_PREFIX, V_PREFIX, _dict, _int, _same, _training_extra, read_moments, read_state_entry, resumed_options

__all__ = [
    "TextTrainingState",
    "TEXT_STATE_KEY",
    "TEXT_RESUME_OVERRIDABLE",
    "text_fingerprint",
    "save_text_checkpoint",
    "load_text_checkpoint",
    "is_text_checkpoint",
    "resume_text",
]

TEXT_STATE_KEY = "text_training_state"
TEXT_STATE_VERSION = 1
CARRIED_H, CARRIED_C = "carried.h", "carried.c"

# train_text() arguments a resumed run may change without changing the weights it
# computes: how long it runs, what it reports, where it saves.
TEXT_RESUME_OVERRIDABLE = frozenset(
    {"epochs", "max_steps", "log_every", "progress", "log", "callback", "checkpoint", "checkpoint_every", "resume"}
)


def text_fingerprint(text: Optional[str]) -> Optional[dict[str, Any]]:
    """``{"chars": length, "sha256": hex}`` of a text (None for None or empty)."""
    if not text:
        return None
    return {"chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}


@dataclass
class TextTrainingState:
    """Where a text-mode run is, besides its weights.

    ``epoch`` counts the finished epochs; ``batch`` the batches already done of epoch
    ``epoch + 1``, whose next batch starts from ``carried`` (None: zeros, an epoch start).
    """

    step: int
    epoch: int
    batch: int
    epoch_loss: float
    epoch_chars: int
    optimizer: dict[str, Any]  # t, lr, beta1, beta2, eps
    m: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    params: dict[str, np.ndarray]  # the weights after the last step
    carried: Optional[tuple[np.ndarray, Optional[np.ndarray]]]
    config: dict[str, Any]
    options: dict[str, Any]
    data: dict[str, Any]  # {"train"|"val"|"test": text_fingerprint}
    history: list[dict[str, Any]] = field(default_factory=list)
    best_index: Optional[int] = None
    best_params: Optional[dict[str, np.ndarray]] = None
    stopped_early: bool = False
    finished: bool = False
    seconds: float = 0.0
    step_seconds: float = 0.0
    step_chars: int = 0
    extra: Optional[dict[str, Any]] = None  # the checkpoint's "training" metadata (the CLI's arguments)

    def check_compatible(self, model: CharRNN, options: dict[str, Any], texts: dict[str, Optional[str]]) -> None:
        """Raise :class:`ResumeError` unless ``model``, these options and these texts
        continue the stored run."""
        if model.config != self.config:
            raise ResumeError(f"the model {model.config} is not the checkpoint's {self.config}")
        if list(model.params) != list(self.params) or not all(
            p is self.params[n] or np.array_equal(p, self.params[n]) for n, p in model.params.items()
        ):
            raise ResumeError("the model's weights are not the checkpoint's (pass the model resume_text() loads)")
        for key, value in options.items():
            if key in TEXT_RESUME_OVERRIDABLE or key not in self.options:
                continue
            if not _same(self.options[key], value):
                raise ResumeError(
                    f"{key}={value!r} differs from the checkpoint's {key}={self.options[key]!r}; a resumed run "
                    f"keeps the options it started with (charrnn.resume_text() takes them from the checkpoint)"
                )
        for part, text in texts.items():
            want, got = self.data.get(part), text_fingerprint(text)
            if want != got:
                what = {"train": "training", "val": "validation"}.get(part, part)
                raise ResumeError(
                    f"the {what} text differs from the text this checkpoint was trained on "
                    f"({_describe(want)} then, {_describe(got)} now)"
                )

    def summary(self) -> str:
        return f"step {self.step}, epoch {self.epoch + (1 if self.batch else 0)}" + (
            f" (batch {self.batch} of it, state carried)" if self.batch else " done"
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": TEXT_STATE_VERSION,
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
                "has_best_params": self.best_params is not None,
                "stopped_early": self.stopped_early,
                "finished": self.finished,
                "seconds": self.seconds,
                "step_seconds": self.step_seconds,
                "step_chars": self.step_chars,
            },
            ensure_ascii=False,
            allow_nan=True,
        )

    def tensors(self, names: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in names:
            out[M_PREFIX + name] = self.m[name]
            out[V_PREFIX + name] = self.v[name]
            if self.best_params is not None:
                out[BEST_PREFIX + name] = self.best_params[name]
        if self.carried is not None:
            h, c = self.carried
            out[CARRIED_H] = np.ascontiguousarray(h, dtype=np.float32)
            if c is not None:
                out[CARRIED_C] = np.ascontiguousarray(c, dtype=np.float32)
        return out


def _describe(fp: Optional[dict[str, Any]]) -> str:
    if fp is None:
        return "none"
    return f"{fp.get('chars')} characters, sha256 {str(fp.get('sha256'))[:12]}"


def save_text_checkpoint(path: str | os.PathLike[str], model: CharRNN, state: TextTrainingState) -> None:
    """Write ``model`` (its current weights) and ``state`` to ``path`` atomically."""
    _ckpt.save(
        model,
        path,
        extra=state.extra,
        extra_tensors=state.tensors(list(model.params)),
        extra_metadata={TEXT_STATE_KEY: state.to_json()},
    )


def is_text_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a text training state (read from the header only; False
    when the file cannot be read: loading it reports why)."""
    try:
        from safetensors import safe_open

        with safe_open(os.fspath(path), framework="numpy") as f:
            return TEXT_STATE_KEY in (f.metadata() or {})
    except Exception:  # noqa: BLE001 - the real load reports it
        return False


def load_text_checkpoint(path: str | os.PathLike[str]) -> tuple[CharRNN, TextTrainingState]:
    """The model (weights after the last step) and the :class:`TextTrainingState` of a
    text training checkpoint.  Raises FileNotFoundError, :class:`CheckpointError`
    (damaged, inconsistent) or :class:`ResumeError` (a file without text training state)."""
    path = os.fspath(path)
    model, metadata, tensors, s = read_state_entry(
        path,
        TEXT_STATE_KEY,
        TEXT_STATE_VERSION,
        f"{path}: no text training state, so it cannot be resumed as a text-mode run "
        f"(resume from the .ckpt.safetensors file that 'charrnn train --mode text' writes next to the model)",
    )

    def stored(prefix: str, what: str) -> dict[str, np.ndarray]:
        return read_moments(path, model, tensors, prefix, what)

    try:
        options = _dict(s, "options")
        carried = _carried(path, model, tensors, options)
        state = TextTrainingState(
            step=_int(s, "step"),
            epoch=_int(s, "epoch"),
            batch=_int(s, "batch"),
            epoch_loss=float(s["epoch_loss"]),
            epoch_chars=_int(s, "epoch_chars"),
            optimizer=_dict(s, "optimizer"),
            m=stored(M_PREFIX, "optimizer"),
            v=stored(V_PREFIX, "optimizer"),
            params=dict(model.params),
            carried=carried,
            config=model.config,
            options=options,
            data=_dict(s, "data"),
            history=list(s.get("history") or []),
            best_index=s.get("best_index"),
            best_params=stored(BEST_PREFIX, "best-weights") if s.get("has_best_params") else None,
            stopped_early=bool(s.get("stopped_early", False)),
            finished=bool(s.get("finished", False)),
            seconds=float(s.get("seconds", 0.0)),
            step_seconds=float(s.get("step_seconds", 0.0)),
            step_chars=_int(s, "step_chars", 0),
            extra=_training_extra(path, metadata),
        )
        _int(state.optimizer, "t")
        lr = state.optimizer.get("lr")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"optimizer lr {lr!r}")
        if min(state.batch, state.step, state.epoch) < 0:
            raise ValueError("negative position")
        if (state.batch > 0) != (carried is not None):
            raise ValueError(f"batch {state.batch} of an epoch {'without' if carried is None else 'with'} a carried state")
        if state.best_index is not None and not (0 <= state.best_index < len(state.history)):
            raise ValueError(f"best_index {state.best_index} outside the history")
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad text training state in metadata ({type(e).__name__}: {e})") from None
    return model, state


def _carried(
    path: str, model: CharRNN, tensors: dict[str, np.ndarray], options: dict[str, Any]
) -> Optional[tuple[np.ndarray, Optional[np.ndarray]]]:
    h = tensors.get(CARRIED_H)
    if h is None:
        return None
    streams = options.get("batch_size")
    want = (model.layers, streams, model.hidden)
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
    copy = lambda t: None if t is None else np.array(t, dtype=np.float32, order="C", copy=True)  # noqa: E731
    return copy(h), copy(c)


def resume_text(
    path: str | os.PathLike[str],
    train_text: str,
    val_text: Optional[str] = None,
    test_text: Optional[str] = None,
    **overrides: Any,
):
    """Carry on the text-mode run saved in ``path`` (see the module's documentation).

    The texts must be the run's (checked against the stored fingerprints); the options
    come from the checkpoint, and ``overrides`` may change how long the run goes
    (``epochs``, ``max_steps``), what it reports and where it saves (``checkpoint``,
    default ``path`` itself).  Returns ``(model, history)``, the history covering the
    whole run.
    """
    from .text_training import train_text as _train_text

    model, state = load_text_checkpoint(path)
    options = resumed_options(state.options, overrides, TEXT_RESUME_OVERRIDABLE, path)
    history = _train_text(model, train_text, val_text, test_text, resume=state, **options)
    return model, history
