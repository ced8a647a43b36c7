"""Seeing training: a live progress bar and a JSON-lines log of every evaluation.

:func:`charrnn.train` drives a :class:`TrainingMonitor`:

* ``progress``: a tqdm bar on stderr during each epoch, with the epoch's running NLL per
  character (``loss``) and the training speed in characters per second.  ``True`` shows
  it, ``False`` never, ``None`` only when stderr is a terminal.  It is cleared at the end
  of each epoch, so the per-epoch lines printed by ``charrnn train`` stay readable.
* ``log``: a path; the file gets one JSON object per line — first
  ``{"event": "start", "config": ..., "options": ...}``, then for every evaluation
  ``{"event": "eval", "epoch", "step", "train_nll", "val_nll", "train_ppl", "val_ppl",
  "train_bpc", "val_bpc", "chars_per_sec", "seconds", ...}`` (the fields of
  :class:`~charrnn.training.EpochRecord`).  A resumed run appends to it; a new run
  replaces it.  Each line is flushed as it is written, so ``charrnn plot`` can draw a run
  in progress.  ``charrnn plot`` (:mod:`charrnn.plot`) draws the curves.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, TextIO

from .budget import format_duration

__all__ = ["TrainingMonitor", "read_log", "stderr_is_terminal"]

logger = logging.getLogger(__name__)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class TrainingMonitor:
    """Progress bar and evaluation log of one training run (a context manager)."""

    MININTERVAL = 0.2  # seconds between redraws of the bar

    def __init__(
        self,
        progress: Optional[bool] = False,
        log: Optional[str | os.PathLike[str]] = None,
        append: bool = False,
        epochs: Optional[int] = None,
        header: Optional[dict[str, Any]] = None,
        time_left: Optional[Callable[[], float]] = None,
    ) -> None:
        self.show = stderr_is_terminal() if progress is None else bool(progress)
        self.epochs = epochs
        self.time_left = time_left  # a time-budgeted run: the seconds left, shown on the bar
        self._bar: Any = None
        self._log: Optional[TextIO] = None
        if log is not None:
            self._log = open(log, "a" if append else "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
            if not append:
                self._write({"event": "start", **(header or {})})

    # -- the log ---------------------------------------------------------------------

    def _write(self, entry: dict[str, Any]) -> None:
        if self._log is None:
            return
        self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._log.flush()

    def record(self, record: Any) -> None:
        """Log one evaluation (an :class:`~charrnn.training.EpochRecord` or a dict)."""
        fields = record.to_dict() if hasattr(record, "to_dict") else dict(record)
        self._write({"event": "eval", **fields})

    # -- the bar ---------------------------------------------------------------------

    def epoch(self, batches: Iterable[Any], epoch: int, start: int, total: int) -> Iterator[Any]:
        """Yield ``batches`` (the rest of epoch ``epoch``: batch ``start`` of ``total`` on),
        showing a bar while they run; the bar is gone when the loop ends."""
        self._loss, self._chars, self._t0 = 0.0, 0, time.perf_counter()
        if self.show:
            from tqdm.auto import tqdm

            of = f"/{self.epochs}" if self.epochs else ""
            self._bar = tqdm(
                total=total,
                initial=start,
                desc=f"epoch {epoch}{of}",
                unit="batch",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=self.MININTERVAL,
            )
        try:
            yield from batches
        finally:
            self._close_bar()

    def step(self, loss_sum: float, chars: int) -> None:
        """One optimizer step: its summed loss (nats) over ``chars`` predicted characters."""
        self._loss += loss_sum
        self._chars += chars
        if self._bar is None:
            return
        seconds = time.perf_counter() - self._t0
        left = "" if self.time_left is None else f", {format_duration(self.time_left())} left"
        self._bar.set_postfix_str(
            f"loss {self._loss / max(self._chars, 1):.4f}, {self._chars / seconds if seconds > 0 else 0:,.0f} chars/s{left}",
            refresh=False,
        )
        self._bar.update(1)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        self._close_bar()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> TrainingMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The evaluation entries of a training log written with ``log=`` (``--log``), in order.

    Lines that are blank, not JSON objects, or not evaluations are skipped (a run still
    writing may have a half-written last line); a file without any evaluation is a
    ValueError naming it."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(entry, dict)
                and entry.get("event", "eval") == "eval"
                and isinstance(entry.get("step"), (int, float))
                and isinstance(entry.get("train_ppl"), (int, float))
            ):
                entries.append(entry)
    if not entries:
        raise ValueError(f"{os.fspath(path)}: no evaluations in this log (write one with charrnn train --log FILE)")
    return entries
