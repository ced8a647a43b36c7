"""The pretrained models shipped in the package, and the one function that turns a model
argument — a file, or the name of a shipped model such as ``ru-first-female`` — into a
path (:func:`resolve_model`: :func:`charrnn.load` and every command that takes a model use it).

The models live in ``charrnn/models/NAME.safetensors``; ``charrnn/models/models.json``
says what each was trained on and its validation NLL (written by
``data/train_pretrained.py``, which re-trains them).
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Any

__all__ = ["shipped_models", "resolve_model", "model_path"]

MANIFEST = "models.json"


@functools.lru_cache(maxsize=1)
def _manifest() -> dict[str, dict[str, Any]]:
    resource = resources.files("charrnn") / "models" / MANIFEST
    try:
        return json.loads(resource.read_text("utf-8"))
    except FileNotFoundError:
        return {}


def shipped_models() -> dict[str, dict[str, Any]]:
    """Name -> what ``models.json`` says of it (description, data, architecture, ``val_nll``,
    ...) plus ``path`` and ``bytes`` (the file's size), for every shipped model present."""
    out: dict[str, dict[str, Any]] = {}
    for name, entry in sorted(_manifest().items()):
        path = str(resources.files("charrnn") / "models" / entry["file"])
        if os.path.isfile(path):
            out[name] = {**entry, "path": path, "bytes": os.path.getsize(path)}
    return out


def model_path(name: str) -> str:
    """The file of the shipped model ``name``; FileNotFoundError naming the shipped ones."""
    models = shipped_models()
    if name not in models:
        raise FileNotFoundError(
            f"{name!r} is not a model shipped with charrnn; the shipped models are "
            f"{', '.join(models) or '(none installed)'} (charrnn models lists them)"
        )
    return models[name]["path"]


def resolve_model(spec: str | os.PathLike[str]) -> str:
    """The path of a model argument: ``spec`` itself when it is an existing file (a file
    wins over a shipped model of the same name), else the shipped model called ``spec``.
    Something that is neither and looks like a model name (no directory, no extension)
    raises FileNotFoundError naming the shipped models; other paths are returned as they
    are, for the loader to report."""
    path = os.fspath(spec)
    if os.path.exists(path):
        return path
    if path in _manifest():
        return model_path(path)
    if os.sep not in path and "/" not in path and "." not in path:
        model_path(path)  # raises, listing what there is
    return path
