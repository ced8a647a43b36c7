"""A recorded run, read back from its files: the plan of a time-budgeted run (from its model,
its training checkpoint, a ``--json`` record or a JSON file of the plan), and the size and the
regularisers of the run that made it (recorded in a model or checkpoint, and in the plan of a
``--json`` record) — what ``charrnn train --plan FILE`` and :func:`charrnn.fit` (``plan=``) replay."""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Union

from ..budget import BudgetPlan
from ..checkpoint import read_header
from ..errors import CheckpointError, DataError
from .config import REGULARISERS
from .state import STATE_KEYS

__all__ = ["load_plan", "plan_of", "plan_size", "plan_regularisers", "recorded_run"]

PathLike = Union[str, "os.PathLike[str]"]


def _run_records(path: PathLike) -> dict[str, Any]:
    """What a model or checkpoint file records of its run, by metadata key: ``config`` (the
    model's shape), ``training`` and the training state (raises OSError/ValueError)."""
    try:
        metadata = read_header(path)  # the metadata alone: no tensor is loaded
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error for a file that is not one
        raise CheckpointError(f"{os.fspath(path)}: not a valid safetensors file ({e})") from None
    return {key: json.loads(metadata[key]) for key in ("config", "training", *STATE_KEYS.values()) if key in metadata}


def _recorded(path: PathLike) -> Optional[dict[str, Any]]:
    """:func:`_run_records` of a ``--plan`` that is a model or checkpoint, else None (a JSON
    plan, or a file that cannot be read: :func:`load_plan` says what is wrong with it)."""
    if not os.fspath(path).endswith(".safetensors"):
        return None
    try:
        return _run_records(path)
    except (OSError, ValueError):
        return None


def _entries(path: PathLike) -> list[Any]:
    """What may hold a plan in ``path``: a model's or checkpoint's run records, the records
    of a ``--json`` output (JSON lines) or one JSON object (raises OSError/ValueError)."""
    if os.fspath(path).endswith(".safetensors"):
        records = _run_records(path)
        return [records[key] for key in ("training", *STATE_KEYS.values()) if key in records]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _plan_entry(entries: list[Any]) -> Optional[dict[str, Any]]:
    """The last plan among ``entries``: a record's ``plan``, or an object that is one."""
    for entry in reversed(entries):
        if isinstance(entry, dict) and isinstance(entry.get("plan"), dict):
            entry = entry["plan"]
        if isinstance(entry, dict) and "total_steps" in entry:
            return entry
    return None


def _json_plan(source: Union[PathLike, dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The plan of a JSON ``--plan`` (a file, or the dict itself), or None (a model or
    checkpoint, a file that cannot be read, or none in it)."""
    if isinstance(source, dict):
        return _plan_entry([source])
    if os.fspath(source).endswith(".safetensors"):
        return None
    try:
        return _plan_entry(_entries(source))
    except (OSError, ValueError):
        return None


def plan_of(record: dict[str, Any]) -> dict[str, Any]:
    """The plan in a record (its ``plan``), or the dict itself when it is none (a plan, or
    not one: :class:`~charrnn.budget.BudgetPlan` says what is wrong with it)."""
    return _plan_entry([record]) or record


def recorded_run(source: Union[PathLike, dict[str, Any]]) -> tuple[Optional[tuple[int, int]], Optional[dict[str, Any]]]:
    """``(size, regularisers)`` of the run that made the plan in ``source``, read once:
    ``(hidden, layers)`` and the regularisers a model or checkpoint file records, or those a
    ``--json`` record's plan gives (a file, or a record or plan as a dict); each None when it
    gives none (a plan written by hand without them, a file from before they were recorded)."""
    plan = _json_plan(source)
    if plan is not None:
        config, given = plan, plan.get("regularisers")
        candidates = [given] if isinstance(given, dict) else []
    else:
        records = _recorded(source) or {}
        config = records.get("config")
        entries = [records.get(key) for key in ("training", *STATE_KEYS.values())]
        candidates = [
            r for e in entries for r in (e, e.get("cli") if isinstance(e, dict) else None) if isinstance(r, dict)
        ]
    try:
        size: Optional[tuple[int, int]] = (int(config["hidden"]), int(config["layers"]))
    except (KeyError, TypeError, ValueError):
        size = None
    found = next((r for r in candidates if all(key in r for key in REGULARISERS)), None)
    return size, None if found is None else {key: found[key] for key in REGULARISERS}


def plan_size(source: Union[PathLike, dict[str, Any]]) -> Optional[tuple[int, int]]:
    """``(hidden, layers)`` of :func:`recorded_run`."""
    return recorded_run(source)[0]


def plan_regularisers(source: Union[PathLike, dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The regularisers of :func:`recorded_run`."""
    return recorded_run(source)[1]


def load_plan(path: PathLike, what: str = "plan") -> BudgetPlan:
    """The plan in ``path``: a model or training checkpoint of a budgeted run, a ``--json``
    record (a JSON-lines file: its last record with a plan), or a JSON object of the plan.
    A file without one is a :class:`DataError` naming ``what`` (``--plan`` on the command line)."""
    try:
        entry = _plan_entry(_entries(path))
    except (OSError, ValueError) as e:
        raise DataError(f"{what} {path}: cannot read it ({e})") from None
    if entry is not None:
        try:
            return BudgetPlan.from_dict(entry)
        except ValueError as e:
            raise DataError(f"{what} {path}: {e}") from None
    raise DataError(
        f"{what} {path}: no time-budget plan in it (a model, checkpoint or --json record of a run with --time-budget)"
    )
