"""PyTorch interop: export a model as a PyTorch state dict, import one back.

charrnn's weights already use PyTorch's names, layouts and gate orders, so a model *is*
the state dict of a small ``nn.Module``: ``nn.Embedding`` + ``nn.LSTM``/``nn.GRU``/``nn.RNN``
+ ``nn.Linear`` (and a second ``nn.Embedding`` for the categories of a conditional model).
Its source is :data:`TORCH_MODULE_SOURCE`, printed in the README; :func:`torch_module`
builds it with a model's weights when PyTorch is installed.

:func:`export_torch` writes the state dict as a safetensors file that
``safetensors.torch.load_file`` reads and ``CharRNN(...).load_state_dict`` accepts; its
metadata carries the vocabulary (``vocab``), the model's configuration (``config``) and
the module's constructor arguments (``torch_module``), so :func:`import_torch` needs
nothing else to read it back.  A state dict saved by plain PyTorch
(``safetensors.torch.save_file(model.state_dict(), path)``) has no such metadata: the
vocabulary and, for a conditional model, the category names come from a JSON side file
(see :func:`import_torch`); every size, and the cell, is read off the tensors' shapes.

The ids are charrnn's: 0 is padding, 1 the start marker, 2 the end marker, 3.. the
characters.  Train in PyTorch on ``[1, c1, ..., cn]`` predicting ``[c1, ..., cn, 2]``.
"""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from .checkpoint import _read, atomic_write
from .errors import CheckpointError
from .model import CELLS, GATES, CharRNN
from .vocab import MARKERS, Vocab

__all__ = [
    "TORCH_MODULE_SOURCE",
    "torch_state_dict",
    "torch_module_args",
    "export_torch",
    "import_torch",
    "torch_module",
]

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "charrnn-torch-state-dict"
EXPORT_VERSION = "1"

# The PyTorch module whose state dict a charrnn model is (README shows the same text).
TORCH_MODULE_SOURCE = '''\
import torch
from torch import nn


class CharRNN(nn.Module):
    """charrnn's model in PyTorch: ids [T, B] (time-major) -> logits [T, B, V]."""

    def __init__(self, vocab_size, embed, hidden, layers, cell="lstm", categories=0, category_dim=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        # A conditional model: one learnt vector per category, fed to layer 0 with each character's.
        self.category = nn.Embedding(categories, category_dim) if categories else None
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn(embed + category_dim, hidden, num_layers=layers)
        self.fc = nn.Linear(hidden, vocab_size)

    def forward(self, ids, category=None, state=None):
        x = self.embedding(ids)  # [T, B, E]
        if self.category is not None:  # category: [B] category ids
            c = self.category(category)  # [B, C]
            x = torch.cat([x, c.expand(x.shape[0], -1, -1)], dim=-1)
        out, state = self.rnn(x, state)
        return self.fc(out), state  # logits [T, B, V]; log_softmax gives the log-probabilities
'''

_STRIP_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DistributedDataParallel, torch.compile


def torch_state_dict(model: CharRNN) -> dict[str, np.ndarray]:
    """The model's weights as a PyTorch state dict (name -> float32 array, copies)."""
    return {name: np.array(p, dtype=np.float32, order="C", copy=True) for name, p in model.params.items()}


def torch_module_args(model: CharRNN) -> dict[str, Any]:
    """The keyword arguments of :data:`TORCH_MODULE_SOURCE`'s ``CharRNN`` for ``model``."""
    return {
        "vocab_size": len(model.vocab),
        "embed": model.embed,
        "hidden": model.hidden,
        "layers": model.layers,
        "cell": model.cell,
        "categories": 0 if model.categories is None else len(model.categories),
        "category_dim": model.category_dim,
    }


def export_torch(model: CharRNN, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as a PyTorch state dict in safetensors (atomically), with the
    vocabulary, config and module arguments in its metadata."""
    from safetensors.numpy import save as _serialize

    metadata = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "vocab": model.vocab.to_json(),
        "config": json.dumps(model.config, ensure_ascii=False),
        "torch_module": json.dumps(torch_module_args(model)),
    }
    atomic_write(path, _serialize(torch_state_dict(model), metadata))


# -- import ---------------------------------------------------------------------------


def _vocab_from(value: Any, source: str) -> tuple[Vocab, Optional[np.ndarray]]:
    """``(vocab, permutation)`` from a vocabulary description: a charrnn vocabulary object
    (``{"chars": [...]}``, sorted) or a list of the characters in id order from id 3.
    ``permutation[new_id]`` is the state dict's row of charrnn's id ``new_id`` (None when
    the order already is charrnn's)."""
    if isinstance(value, str):
        try:
            return Vocab.from_json(value), None
        except ValueError as e:
            raise CheckpointError(f"{source}: bad vocabulary ({e})") from None
    if isinstance(value, Mapping):
        if list(value.get("markers", MARKERS)) != list(MARKERS):
            raise CheckpointError(f"{source}: the vocabulary's markers must be {list(MARKERS)} (ids 0, 1, 2)")
        value = value.get("chars")
    if not isinstance(value, list) or not value:
        raise CheckpointError(
            f"{source}: a vocabulary is a JSON list of the characters of ids 3, 4, ... (or charrnn's "
            f'{{"chars": [...]}}), got {type(value).__name__}'
        )
    chars = []
    for c in value:
        if not isinstance(c, str) or len(unicodedata.normalize("NFC", c)) != 1:
            raise CheckpointError(f"{source}: vocabulary entries must be single characters, got {c!r}")
        chars.append(unicodedata.normalize("NFC", c))
    if len(set(chars)) != len(chars):
        raise CheckpointError(f"{source}: the vocabulary repeats a character")
    vocab = Vocab(chars)
    if list(vocab.chars) == chars:
        return vocab, None
    order = {c: i + len(MARKERS) for i, c in enumerate(chars)}  # char -> row in the state dict
    perm = np.array(list(range(len(MARKERS))) + [order[c] for c in vocab.chars], dtype=np.int64)
    return vocab, perm


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{os.fspath(path)}: the {what} is not valid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{os.fspath(path)}: the {what} is not UTF-8 ({e})") from None


def import_torch(
    path: str | os.PathLike[str],
    vocab: Optional[str | os.PathLike[str] | Vocab | list[str]] = None,
    config: Optional[str | os.PathLike[str] | Mapping[str, Any]] = None,
) -> CharRNN:
    """A :class:`CharRNN` from a PyTorch state dict saved as safetensors.

    What the tensors do not say comes from, in this order: ``vocab`` (a :class:`Vocab`, a
    list of characters, or a JSON file holding either a list of the characters of ids
    3, 4, ... or charrnn's ``{"chars": [...]}``), ``config`` (a mapping or a JSON file
    with any of ``vocab``, ``cell``, ``categories`` — the names, in id order —,
    ``category_counts``, ``seed``), then the file's own metadata (written by
    :func:`export_torch`).  Sizes (embed, hidden, layers, category_dim) and the cell are
    read off the shapes; a ``module.`` or ``_orig_mod.`` prefix on every key (DataParallel,
    torch.compile) is dropped; float16/float64 weights become float32.  A vocabulary in
    another order than charrnn's (sorted) is re-sorted, its rows moving with it.
    """
    path = os.fspath(path)
    metadata, tensors = _read(path)
    if metadata.get("format") == "charrnn":
        raise CheckpointError(f"{path}: this is already a charrnn model; load it with charrnn.load")
    tensors = dict(tensors)
    for prefix in _STRIP_PREFIXES:
        if tensors and all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}

    cfg: dict[str, Any] = {}
    if metadata.get("config"):
        try:
            cfg.update(json.loads(metadata["config"]))
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path}: metadata 'config' is not valid JSON ({e})") from None
    cfg_source = path
    if config is not None:
        given = config if isinstance(config, Mapping) else _read_json(config, "config")
        if not isinstance(given, Mapping):
            raise CheckpointError(f"{config}: the config must be a JSON object")
        cfg.update(given)
        cfg_source = "the config" if isinstance(config, Mapping) else os.fspath(config)

    # The vocabulary.
    if vocab is not None:
        if isinstance(vocab, Vocab):
            voc, perm = vocab, None
        elif isinstance(vocab, list):
            voc, perm = _vocab_from(vocab, "the vocabulary")
        else:
            voc, perm = _vocab_from(_read_json(vocab, "vocabulary"), os.fspath(vocab))
    elif "vocab" in cfg:  # only a user's config has it (a model's config does not)
        voc, perm = _vocab_from(cfg["vocab"], cfg_source)
    elif "vocab" in metadata:
        voc, perm = _vocab_from(metadata["vocab"], path)
    else:
        raise CheckpointError(
            f"{path}: the state dict carries no vocabulary; give one (--vocab FILE: a JSON list of the "
            f"characters of ids 3, 4, ...)"
        )

    # Shapes.
    for name in ("embedding.weight", "rnn.weight_hh_l0", "fc.weight", "fc.bias"):
        if name not in tensors:
            raise CheckpointError(
                f"{path}: tensor {name!r} is missing (is this a state dict of the module in the README?)"
            )
    for name, t in tensors.items():
        if t.dtype in (np.float16, np.float64):
            tensors[name] = t.astype(np.float32)
        elif t.dtype != np.float32:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {t.dtype}; save the weights as float32")
    emb, w_hh = tensors["embedding.weight"], tensors["rnn.weight_hh_l0"]
    if emb.ndim != 2 or w_hh.ndim != 2:
        raise CheckpointError(f"{path}: embedding.weight and rnn.weight_hh_l0 must be matrices")
    hidden = int(w_hh.shape[1])
    gates = w_hh.shape[0] // hidden if hidden else 0
    by_gates = {g: c for c, g in GATES.items()}
    cell = cfg.get("cell") or by_gates.get(gates)
    if cell not in CELLS or GATES[cell] * hidden != w_hh.shape[0]:
        raise CheckpointError(
            f"{path}: rnn.weight_hh_l0 is {tuple(w_hh.shape)}, which fits no cell "
            f"(lstm: [4H, H], gru: [3H, H], rnn: [H, H])" + (f" of type {cell!r}" if cell else "")
        )
    layers = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l") and k[len("rnn.weight_ih_l") :].isdigit())
    if emb.shape[0] != len(voc):
        raise CheckpointError(
            f"{path}: embedding.weight has {emb.shape[0]} rows but the vocabulary has {len(voc)} ids "
            f"(3 markers + {len(voc.chars)} characters)"
        )
    categories: Optional[list[str]] = None
    category_dim = 8
    if "category.weight" in tensors:
        cat = tensors["category.weight"]
        categories = cfg.get("categories")
        if categories is None:
            raise CheckpointError(
                f"{path}: the state dict has category.weight ({cat.shape[0]} categories) but no category names; "
                f'give them in the config (--config FILE with {{"categories": [...]}})'
            )
        if not isinstance(categories, list) or cat.ndim != 2 or len(categories) != cat.shape[0]:
            raise CheckpointError(
                f"{path}: category.weight is {tuple(cat.shape)} but the config names categories {categories!r}"
            )
        category_dim = int(cat.shape[1])
    elif cfg.get("categories") and config is not None:
        raise CheckpointError(f"{path}: the config names categories but the state dict has no category.weight")

    if perm is not None:
        for name in ("embedding.weight", "fc.weight", "fc.bias"):
            if tensors[name].shape[0] != len(perm):
                raise CheckpointError(f"{path}: {name} has {tensors[name].shape[0]} rows, expected {len(perm)}")
            tensors[name] = np.ascontiguousarray(tensors[name][perm])
    try:
        model = CharRNN(
            voc,
            cell=cell,
            hidden=hidden,
            layers=layers,
            embed=int(emb.shape[1]),
            seed=int(cfg.get("seed", 0)),
            categories=categories,
            category_dim=category_dim,
            category_counts=cfg.get("category_counts") if categories is not None else None,
            mode=cfg.get("mode", "names"),
        )
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot build a model from it ({e})") from None
    expected = model.param_shapes()
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"{path}: tensors the model does not have: {', '.join(unexpected)} "
            f"(bidirectional or projected RNNs are not supported)"
        )
    for name, shape in expected.items():
        if name not in tensors:
            raise CheckpointError(f"{path}: tensor {name!r} is missing")
        if tuple(tensors[name].shape) != shape:
            raise CheckpointError(f"{path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, expected {shape}")
        if not np.isfinite(tensors[name]).all():
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values")
    model.set_params(tensors)
    return model


def torch_module(model: CharRNN) -> Any:
    """The PyTorch module of :data:`TORCH_MODULE_SOURCE` holding ``model``'s weights
    (needs ``torch``, which charrnn does not depend on)."""
    try:
        import torch
    except ImportError:
        raise ImportError("charrnn.interop.torch_module needs PyTorch: pip install torch") from None
    namespace: dict[str, Any] = {}
    exec(compile(TORCH_MODULE_SOURCE, "<charrnn.interop.TORCH_MODULE_SOURCE>", "exec"), namespace)  # noqa: S102 - our own source
    module = namespace["CharRNN"](**torch_module_args(model))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(model).items()})
    return module.eval()
