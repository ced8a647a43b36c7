"""Stopping long work at a safe point on Ctrl-C (SIGINT) or SIGTERM.

Python turns Ctrl-C into a ``KeyboardInterrupt`` raised wherever the interpreter happens
to be — in the middle of an Adam update, say, with half the weights changed.  Training
instead runs inside :func:`deferred_interrupt`: the first SIGINT/SIGTERM only *asks* to
stop (``stop.requested`` becomes true, the current step finishes, the trainer saves a
resumable checkpoint and raises :class:`~charrnn.errors.TrainingInterrupted`); a second
one stops at once with a plain ``KeyboardInterrupt``, for when the safe point is too far.

The Rust kernels poll Python's signal handlers during long calls; with the deferring
handler installed those polls only set the flag, so a training step is never cut short.
Signal handlers can only be installed from the main thread; elsewhere the context
manager does nothing (the flag never rises and signals keep their usual meaning).  A signal
that was ignored when the block was entered (``SIG_IGN``: SIGINT of a job started in the
background or under ``nohup``) stays ignored, as Unix programs are expected to behave; on
exit every signal gets back exactly the handler it had before.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

__all__ = ["StopRequest", "deferred_interrupt"]

logger = logging.getLogger(__name__)

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class StopRequest:
    """Set by the deferring signal handler: whether and by which signal a stop was asked."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask to stop at the next safe point (what the first Ctrl-C does)."""
        if self.signum is None:
            self.signum = signum


@contextmanager
def deferred_interrupt(what: str = "training") -> Iterator[StopRequest]:
    """Within the block, the first SIGINT/SIGTERM sets ``stop.requested`` instead of
    raising; a second one raises ``KeyboardInterrupt`` immediately.  A signal ignored on
    entry stays ignored; the previous handlers are put back on exit."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            _restore(previous)
            raise KeyboardInterrupt
        stop.request(signum)
        logger.warning(
            "%s: stopping after the current step (press Ctrl-C again to stop at once)",
            signal.Signals(signum).name,
        )

    try:
        for s in SIGNALS:
            if signal.getsignal(s) is signal.SIG_IGN:
                continue  # ignored on purpose by whoever started us: keep it so
            previous[s] = signal.signal(s, handler)
    except (ValueError, OSError):  # not allowed here (e.g. an embedded interpreter)
        _restore(previous)
        previous.clear()
    try:
        yield stop
    finally:
        _restore(previous)


def _restore(previous: dict[int, Any]) -> None:
    for s, h in previous.items():
        try:
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass
    previous.clear()
