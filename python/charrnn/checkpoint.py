"""Checkpoints: one safetensors file per model, no pickle.

The file holds the weights under their PyTorch names (see :mod:`charrnn.model`) and, in
the safetensors metadata (a str -> str map), these entries:

==================  ==============================================================
``format``          ``"charrnn"``
``format_version``  ``"1"``
``vocab``           the vocabulary, :meth:`Vocab.to_json`
``config``          JSON: cell, hidden, layers, embed, vocab_size, seed
``training``        optional JSON: whatever the trainer recorded (epochs, losses, ...)
``charrnn_version`` the version of charrnn that wrote the file
==================  ==============================================================

Writes are atomic: the file is written to a temporary name in the same folder, flushed,
fsync'ed and renamed over the target, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from typing import Any, Optional

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as _serialize

from .errors import CheckpointError
from .model import CELLS, CharRNN
from .vocab import Vocab

__all__ = ["save", "load", "read_metadata", "FORMAT", "FORMAT_VERSION"]

logger = logging.getLogger(__name__)

FORMAT = "charrnn"
FORMAT_VERSION = "1"


def _version() -> str:
    from . import __version__

    return __version__


def save(model: CharRNN, path: str | os.PathLike[str], extra: Optional[dict[str, Any]] = None) -> None:
    """Write ``model`` (and ``extra``, any JSON-serialisable dict) to ``path`` atomically."""
    path = os.fspath(path)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vocab": model.vocab.to_json(),
        "config": json.dumps(model.config),
        "charrnn_version": _version(),
    }
    if extra is not None:
        metadata["training"] = json.dumps(extra, ensure_ascii=False)
    data = _serialize({name: np.ascontiguousarray(p) for name, p in model.params.items()}, metadata)

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
    logger.info("saved %s (%d parameters) to %s", model, model.num_params, path)


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable (best effort: not every OS can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(path: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such checkpoint", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "a checkpoint must be a file, not a folder", path)
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except OSError:
        raise
    except Exception as e:  # safetensors raises its own SafetensorError for bad files
        raise CheckpointError(f"{path}: not a valid safetensors file ({e})") from None
    return metadata, tensors


def _check_format(path: str, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a charrnn checkpoint (metadata 'format' is {metadata.get('format')!r})"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint format version {version!r} (this charrnn reads version {FORMAT_VERSION})"
        )


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's metadata with the JSON entries decoded (vocab, config, training)."""
    path = os.fspath(path)
    metadata, _ = _read(path)
    _check_format(path, metadata)
    out: dict[str, Any] = dict(metadata)
    for key in ("vocab", "config", "training"):
        if key in out:
            try:
                out[key] = json.loads(out[key])
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None
    return out


def load(path: str | os.PathLike[str]) -> CharRNN:
    """Read a model written by :func:`save`, checking everything it can.

    Raises FileNotFoundError (no file) or :class:`CheckpointError` (not safetensors,
    truncated, not a charrnn checkpoint, unknown format version, bad metadata, missing or
    mis-shaped tensors).
    """
    path = os.fspath(path)
    metadata, tensors = _read(path)
    _check_format(path, metadata)
    try:
        vocab = Vocab.from_json(metadata["vocab"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: bad or missing vocabulary in metadata ({e})") from None
    try:
        config = json.loads(metadata["config"])
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: bad or missing model config in metadata ({e})") from None
    if config.get("cell") not in CELLS:
        raise CheckpointError(f"{path}: config has unknown cell {config.get('cell')!r}")
    if config.get("vocab_size", len(vocab)) != len(vocab):
        raise CheckpointError(
            f"{path}: config says vocab_size {config.get('vocab_size')} but the vocabulary has {len(vocab)} ids"
        )
    emb = tensors.get("embedding.weight")
    if emb is not None and emb.ndim == 2 and emb.shape[0] != len(vocab):
        raise CheckpointError(
            f"{path}: embedding.weight has {emb.shape[0]} rows but the vocabulary has {len(vocab)} ids"
        )
    try:
        model = CharRNN(
            vocab,
            cell=config["cell"],
            hidden=config["hidden"],
            layers=config["layers"],
            embed=config["embed"],
            seed=config.get("seed", 0),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad model config {config!r} ({e})") from None

    for name, shape in model.param_shapes().items():
        if name not in tensors:
            raise CheckpointError(f"{path}: tensor {name!r} is missing")
        actual = tensors[name]
        if tuple(actual.shape) != shape:
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(actual.shape)}, expected {shape} for this config"
            )
        if actual.dtype != np.float32:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {actual.dtype}, expected float32")
    unexpected = sorted(set(tensors) - set(model.param_shapes()))
    if unexpected:
        logger.warning("%s: ignoring unexpected tensors %s", path, ", ".join(unexpected))
    model.set_params(tensors)
    return model
