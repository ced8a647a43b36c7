"""Ctrl-C during one long Rust call (sampling, a pass over a very long sequence) raises
``KeyboardInterrupt`` after a small part of the call's work: the kernels poll Python's
signal handlers as their work adds up, in every phase.

Each test runs the call twice in a child process: once to completion (the reference),
then again with SIGINT sent a tenth of the reference's duration after it starts. The
interrupted call must end within a third of the reference. The child first doubles the
call's size until the reference takes at least a second (or a size limit is reached): on a
fast machine a small call is over before the kernels' signal check (at most every 100 ms)
could matter. Both durations come from the
same process on the same machine, so the test asserts no absolute duration: it holds on a
slow or busy machine too. The child installs Python's default SIGINT handler itself, since
a child of a process that ignores SIGINT (``nohup``, a background job) inherits SIG_IGN.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from faults import fault

CHILD = """
import signal, sys, time
import numpy as np
import charrnn
from charrnn import _core
signal.signal(signal.SIGINT, signal.default_int_handler)
_core.set_num_threads({threads})
model = charrnn.CharRNN(charrnn.Vocab.from_items(["абвгд"]), hidden={hidden}, layers={layers}, embed=8)
params = model.params_list()
def make(n):
    {setup}
    return lambda: {call}
n = {n0}
while True:
    call = make(n)
    start = time.perf_counter()
    call()
    full = time.perf_counter() - start
    if full >= 1.0 or n >= {n0} * {grow}:
        break
    n *= 2
print("full", full, flush=True)
print("ready", flush=True)
start = time.perf_counter()
try:
    call()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - start, flush=True)
    sys.exit(130)
"""


def interrupted_fraction(
    threads: int, hidden: int, layers: int, setup: str, call: str, n0: int, grow: int
) -> tuple[float, float]:
    """Runs ``call`` (of size ``n``, from ``n0`` doubled up to ``grow`` times ``n0`` until it
    takes a second) to completion, then again with SIGINT a tenth of the way in; returns (the
    full call's seconds, the interrupted call's seconds), both as the child measured."""
    script = CHILD.format(threads=threads, hidden=hidden, layers=layers, setup=setup, call=call, n0=n0, grow=grow)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = proc.stdout.readline().split()
        assert first and first[0] == "full", proc.communicate(timeout=60)[1]
        full = float(first[1])
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(full / 10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=max(60.0, 3 * full))
    finally:
        proc.kill()
    words = out.split()
    assert proc.returncode == 130 and words[:1] == ["interrupted"], (out, err)
    return full, float(words[1])


@fault(
    "Ctrl-C during a long `model.sample()` / `_core.sample` call",
    "`KeyboardInterrupt` after a small part of the call (the test: within a third of the same call run to "
    "completion; the Rust loop polls Python's signal handlers as its work adds up)",
)
def test_ctrl_c_stops_a_long_rust_sampling_call():
    # 64 sequences of a 2x512 LSTM with the end id banned: every row runs all the steps.
    for threads in (1, 2):
        full, stopped = interrupted_fraction(
            threads, 512, 2, "pass", '_core.sample("lstm", params, 64, 1, 2, n, banned=[0, 1, 2])', 200, 64
        )
        assert stopped < full / 3, f"{threads} thread(s): stopped after {stopped:.2f} s of a {full:.2f} s call"


@fault(
    "Ctrl-C during one long forward/backward pass (a very long sequence)",
    "`KeyboardInterrupt` after a small part of the pass, whichever phase it is in (the test: within a third of "
    "the same pass run to completion, on one thread and two)",
)
def test_ctrl_c_stops_a_long_forward_backward_call():
    # One layer, so that nothing but the polls inside each phase (the recurrence forward and
    # backward, the output layer, the gradients) can stop the pass early.
    # Up to 6,400 steps x 32 sequences: about 3 GB of tape at the largest.
    setup = "ids = np.ones((n, 32), np.int32); lengths = np.full(32, n, np.int32)"
    for threads in (1, 2):
        full, stopped = interrupted_fraction(
            threads, 256, 1, setup, '_core.forward_backward("lstm", params, ids, ids, lengths)', 800, 8
        )
        assert stopped < full / 3, f"{threads} thread(s): stopped after {stopped:.2f} s of a {full:.2f} s call"
