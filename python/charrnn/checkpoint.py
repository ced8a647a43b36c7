"""Checkpoints: one safetensors file per model, no pickle.

The file holds the weights under their PyTorch names (see :mod:`charrnn.model`) and, in
the safetensors metadata (a str -> str map), these entries:

==================  ==============================================================
``format``          ``"charrnn"``
``format_version``  ``"1"``
``vocab``           the vocabulary, :meth:`Vocab.to_json`
``config``          JSON: cell, hidden, layers, embed, vocab_size, seed; ``mode``
                    ``"text"`` for a model trained on continuous text; a conditional
                    model adds categories (the names, in id order), category_dim and
                    category_counts (training items per category, or null)
``seen_items``      optional: what ``charrnn sample --novel`` avoids (see
                    :mod:`charrnn.sampling`), written by ``charrnn train``
``training``        optional JSON: whatever the trainer recorded (epochs, losses, ...)
``mixture``         optional JSON: a names model mixed with an n-gram model
                    (:mod:`charrnn.mixture`): ``weights`` (one per position),
                    ``ngram_config`` and ``ngram_vocab`` (which must be the model's);
                    the n-gram's counts are the tensors ``ngram.order{k}.*``
``charrnn_version`` the version of charrnn that wrote the file
``sha256``          hex SHA-256 of every tensor (name, dtype, shape, bytes) and every
                    other metadata entry: :func:`load` refuses a file without it or that
                    does not match it (a flipped bit anywhere is a :class:`CheckpointError`)
==================  ==============================================================

A training checkpoint (:mod:`charrnn.training_state`) is the same file plus the Adam
moments, best-so-far weights and moving average of the weights as tensors named
``optimizer.m.*``, ``optimizer.v.*``, ``best.*`` and ``ema.*`` and the training
position in a ``training_state`` JSON entry, so it loads as a model too (its current
weights).

Loading reads tensors and JSON only; nothing in the file is ever executed.

Writes are atomic: the file is written to a temporary name in the same folder, flushed,
fsync'ed and renamed over the target, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as _serialize

from ._version import __version__
from .errors import CheckpointError
from .vocab import Vocab

if TYPE_CHECKING:  # only for annotations: the model module imports this one
    from .model import CharRNN

__all__ = ["save", "read_metadata", "read_header", "atomic_write", "FORMAT", "FORMAT_VERSION"]

logger = logging.getLogger(__name__)

FORMAT = "charrnn"
FORMAT_VERSION = "1"
# Tensors of a training checkpoint that are not model weights (see charrnn.training_state
# and charrnn.text_state).
TRAINING_TENSOR_PREFIXES = ("optimizer.", "best.", "ema.", "carried.")
MIXTURE_TENSOR_PREFIX = "ngram."  # the counts of a mixture's n-gram (charrnn.mixture)
# Sanity bounds on a checkpoint's config, checked before any weight is allocated.
_MAX_CONFIG_SIZE = 1 << 20


def save(
    model: CharRNN,
    path: str | os.PathLike[str],
    extra: Optional[dict[str, Any]] = None,
    *,
    extra_tensors: Optional[dict[str, np.ndarray]] = None,
    extra_metadata: Optional[dict[str, str]] = None,
) -> None:
    """Write ``model`` (and ``extra``, any JSON-serialisable dict) to ``path`` atomically.

    ``extra_tensors``/``extra_metadata`` add entries next to the model's (the training
    state uses them); they must not reuse the model's names.
    """
    path = os.fspath(path)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vocab": model.vocab.to_json(),
        "config": json.dumps(model.config),
        "charrnn_version": __version__,
    }
    if extra is not None:
        metadata["training"] = json.dumps(extra, ensure_ascii=False)
    tensors = {name: np.ascontiguousarray(p) for name, p in model.params.items()}
    if model.mixture is not None:  # charrnn.mixture.Mixture.to_checkpoint
        mixture_tensors, mixture_metadata = model.mixture.to_checkpoint()
        tensors.update((name, np.ascontiguousarray(t)) for name, t in mixture_tensors.items())
        metadata.update(mixture_metadata)
    for name, value in (extra_tensors or {}).items():
        if name in tensors:
            raise ValueError(f"extra tensor {name!r} clashes with a model tensor")
        tensors[name] = np.ascontiguousarray(value)
    for key, value in (extra_metadata or {}).items():
        if key in metadata or key == "sha256":
            raise ValueError(f"extra metadata {key!r} clashes with a checkpoint entry")
        metadata[key] = value
    metadata["sha256"] = _digest(metadata, tensors)
    atomic_write(path, _serialize(tensors, metadata))
    logger.info("saved %s (%d parameters) to %s", model, model.num_params, path)


def _digest(metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over every tensor and every metadata entry but ``sha256`` itself."""
    h = hashlib.sha256()
    for key in sorted(k for k in metadata if k != "sha256"):
        for part in (key, metadata[key]):
            raw = part.encode("utf-8", "surrogatepass")
            h.update(len(raw).to_bytes(8, "little") + raw)
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        head = f"{name}|{t.dtype.str}|{t.shape}".encode("utf-8", "surrogatepass")
        h.update(len(head).to_bytes(8, "little") + head)
        h.update(t.tobytes())
    return h.hexdigest()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers only ever see the old or the new file:
    a temporary file in the same folder, flushed, fsync'ed, renamed over ``path``."""
    path = os.fspath(path)
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


def _verify(path: str, metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> None:
    """Check the ``sha256`` entry.  It is required: were files without one accepted, a
    damaged file whose damage includes that entry's name would load unchecked."""
    expected = metadata.get("sha256")
    if expected is None:
        raise CheckpointError(f"{path}: the file is damaged or incomplete (its metadata has no 'sha256' checksum)")
    if _digest(metadata, tensors) != expected:
        raise CheckpointError(f"{path}: the file is damaged (its contents do not match its SHA-256 checksum)")


def _check_format(path: str, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a charrnn checkpoint (metadata 'format' is {metadata.get('format')!r})")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint format version {version!r} (this charrnn reads version {FORMAT_VERSION})"
        )


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's metadata with the JSON entries decoded (vocab, config, training)."""
    path = os.fspath(path)
    metadata, tensors = _read(path)
    _check_format(path, metadata)
    _verify(path, metadata, tensors)
    out: dict[str, Any] = dict(metadata)
    for key in ("vocab", "config", "training"):
        if key in out:
            try:
                out[key] = json.loads(out[key])
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None
    return out


def read_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The raw metadata of a safetensors file, read from its header only (no tensor is
    loaded, nothing is checked: for telling what a file is before loading it)."""
    with safe_open(os.fspath(path), framework="numpy") as f:
        return dict(f.metadata() or {})


def model_arguments(path: str, metadata: dict[str, str], tensors: dict[str, np.ndarray], cells: tuple[str, ...]):
    """``(vocab, config, CharRNN keyword arguments)`` of a checkpoint, checked (format,
    checksum, vocabulary, config against the tensors) before any weight is allocated."""
    _check_format(path, metadata)
    _verify(path, metadata, tensors)
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
    if config.get("cell") not in cells:
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
    _check_config_against_tensors(path, config, tensors)
    try:
        kwargs = dict(
            cell=config["cell"],
            hidden=config["hidden"],
            layers=config["layers"],
            embed=config["embed"],
            seed=config.get("seed", 0),
            mode=config.get("mode", "names"),  # "text" for charrnn.train_text models
            **_category_kwargs(path, config, tensors),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad model config {config!r} ({e})") from None
    return vocab, config, kwargs


def check_weights(path: str, shapes: dict[str, tuple[int, ...]], tensors: dict[str, np.ndarray]) -> None:
    """Every weight of ``shapes`` present in ``tensors``, float32, of its shape and finite;
    a warning for tensors that are neither weights nor training state."""
    for name, shape in shapes.items():
        if name not in tensors:
            raise CheckpointError(f"{path}: tensor {name!r} is missing")
        actual = tensors[name]
        if tuple(actual.shape) != shape:
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(actual.shape)}, expected {shape} for this config"
            )
        if actual.dtype != np.float32:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {actual.dtype}, expected float32")
        if not np.isfinite(actual).all():
            bad = int(np.size(actual) - np.count_nonzero(np.isfinite(actual)))
            raise CheckpointError(f"{path}: tensor {name!r} holds {bad} NaN or infinite values")
    known = (*TRAINING_TENSOR_PREFIXES, MIXTURE_TENSOR_PREFIX)
    unexpected = sorted(name for name in set(tensors) - set(shapes) if not name.startswith(known))
    if unexpected:
        logger.warning("%s: ignoring unexpected tensors %s", path, ", ".join(unexpected))


def _check_config_against_tensors(path: str, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    """Refuse a config that is not plain positive integers or that promises weights the file
    does not hold — before the model (and its weights) is built from it, so a lying
    config cannot make :func:`load` allocate gigabytes."""
    for key in ("hidden", "layers", "embed"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_CONFIG_SIZE:
            raise CheckpointError(f"{path}: config {key!r} must be a positive integer, got {value!r}")
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CheckpointError(f"{path}: config 'seed' must be an integer, got {seed!r}")
    layers = sum(1 for name in tensors if name.startswith("rnn.weight_ih_l"))
    if layers != config["layers"]:
        raise CheckpointError(
            f"{path}: config says {config['layers']} layer(s) but the file holds weights for {layers}"
        )
    for name, axis, key in (("embedding.weight", 1, "embed"), ("fc.weight", 1, "hidden")):
        t = tensors.get(name)
        if t is None:
            raise CheckpointError(f"{path}: tensor {name!r} is missing")
        if t.ndim != 2 or t.shape[axis] != config[key]:
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(t.shape)}, which does not match config {key}={config[key]}"
            )


def _category_kwargs(path: str, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """The conditional part of a config (categories, category_dim, category_counts) as
    ``CharRNN`` arguments, checked against ``category.weight`` before anything is built."""
    if "categories" not in config:
        if "category.weight" in tensors:
            raise CheckpointError(f"{path}: the file holds category.weight but its config names no categories")
        return {}
    categories, dim = config.get("categories"), config.get("category_dim")
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories):
        raise CheckpointError(f"{path}: config 'categories' must be a non-empty list of names, got {categories!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= _MAX_CONFIG_SIZE:
        raise CheckpointError(f"{path}: config 'category_dim' must be a positive integer, got {dim!r}")
    t = tensors.get("category.weight")
    if t is None:
        raise CheckpointError(f"{path}: tensor 'category.weight' is missing")
    if t.shape != (len(categories), dim):
        raise CheckpointError(
            f"{path}: tensor 'category.weight' has shape {tuple(t.shape)}, expected {(len(categories), dim)} for "
            f"{len(categories)} categories of size {dim}"
        )
    return {"categories": categories, "category_dim": dim, "category_counts": config.get("category_counts")}
