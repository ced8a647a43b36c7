"""Training in a given time: a plan in steps, made from the speed of the first steps.

A user with N minutes should not have to guess how many epochs fit, when to decay the
learning rate or how often to evaluate.  ``--time-budget 5m`` answers all three:

1. **Calibrate.**  The run starts with a short linear warm-up of the learning rate
   (``warmup`` steps, fixed before anything is measured).  Meanwhile it times its steps and
   its first evaluation.
2. **Plan.**  From those timings :func:`plan_budget` works out how many optimizer steps fit
   in what is left of the budget once the evaluations and the final save are paid for, and
   how often to evaluate.  The plan is a handful of integers (:class:`BudgetPlan`), stored in
   the checkpoint: a resumed run follows the same plan, and a run started with the same plan
   (``plan=``) repeats the same steps on any machine, fast or slow.
3. **Decay to the end.**  After the warm-up the learning rate follows a cosine from its peak
   down to ``floor × peak`` at the planned last step (:meth:`BudgetPlan.lr_at`), so the run
   ends with its smallest steps — where the best weights are usually found — instead of
   being cut off at full speed.

Time is only measured to *make* the plan; afterwards the run is counted in steps.  The one
exception is the deadline guard (:meth:`BudgetPlan.over_deadline`): should the machine
become much slower than it was when the plan was made, the run still ends on time.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BudgetPlan", "parse_duration", "plan_budget", "format_duration", "time_to_plan"]

SHAPES = ("cosine", "linear")
# Steps of linear warm-up every budgeted run starts with; they are also the steps it times.
WARMUP = 50

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])", re.IGNORECASE)


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration such as ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2.5m"`` or a plain
    number of seconds (``300``).  Raises ``ValueError`` naming what is wrong."""
    if isinstance(text, bool):
        raise ValueError(f"a time budget must be a duration such as 5m or 1h, got {text!r}")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        s = str(text).strip()
        try:
            seconds = float(s)
        except ValueError:
            pos, seconds = 0, 0.0
            for m in _PART.finditer(s):
                if s[pos : m.start()].strip():
                    break
                seconds += float(m.group(1)) * _UNITS[m.group(2).lower()]
                pos = m.end()
            if pos == 0 or s[pos:].strip():
                raise ValueError(
                    f"a time budget must be a duration such as 90s, 5m, 1h or 1h30m, got {text!r}"
                ) from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a time budget must be a positive duration, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``125.0`` -> ``'2m05s'``; ``3725`` -> ``'1h02m'``; short times as ``'42s'``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(frozen=True)
class BudgetPlan:
    """What a time budget became: the whole run in optimizer steps.

    ``warmup`` steps of linear warm-up, then a cosine decay from the peak rate to
    ``floor × peak`` at step ``total_steps``; an evaluation every ``eval_every`` steps (and
    after the last one).  ``seconds`` is the budget the plan was made for, ``step_seconds``
    and ``eval_seconds`` the timings it was made from (kept to explain the plan, and for the
    deadline guard)."""

    seconds: float
    total_steps: int
    warmup: int
    eval_every: int
    floor: float = 0.05
    step_seconds: float = 0.0
    eval_seconds: float = 0.0
    shape: str = "cosine"  # or "linear": how the rate falls from its peak to the floor
    revised: bool = False  # final: made again at the first evaluation from the steady speed, or given

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.warmup < 0 or self.eval_every < 1:
            raise ValueError(f"not a valid plan: {self}")
        if not (0.0 <= self.floor <= 1.0):
            raise ValueError(f"the learning-rate floor must be in [0, 1], got {self.floor}")
        if self.shape not in SHAPES:
            raise ValueError(f"the decay shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")

    def lr_at(self, step: int, peak: float) -> float:
        """The learning rate of optimizer step ``step`` (1-based): a linear warm-up to
        ``peak`` over the first ``warmup`` steps, then a cosine down to ``floor × peak``
        at ``total_steps`` (and that floor after it)."""
        if self.warmup and step <= self.warmup:
            return peak * step / self.warmup
        span = max(1, self.total_steps - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        left = 0.5 * (1.0 + math.cos(math.pi * progress)) if self.shape == "cosine" else 1.0 - progress
        return peak * (self.floor + (1.0 - self.floor) * left)

    def evaluates_after(self, step: int) -> bool:
        """Whether an evaluation is due after optimizer step ``step``."""
        return step % self.eval_every == 0 or step == self.total_steps

    def over_deadline(self, elapsed: float) -> bool:
        """Whether a run that has used ``elapsed`` seconds must stop now to end on time:
        one more step and the last evaluation (with its save) would overrun the budget."""
        return elapsed + self.eval_seconds + self.step_seconds > self.seconds

    def describe(self) -> str:
        return (
            f"time budget {format_duration(self.seconds)}: {self.total_steps} steps "
            f"(~{self.step_seconds * 1e3:.1f} ms each), warm-up {self.warmup}, {self.shape} decay to "
            f"{self.floor:g}x, evaluation every {self.eval_every} steps (~{self.eval_seconds:.2f} s each)"
        )

    def passes(self, batch_size: int, items: int) -> float:
        """How many times the plan's steps of ``batch_size`` go over ``items`` names."""
        return self.total_steps * batch_size / max(1, items)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BudgetPlan:
        try:
            return cls(
                seconds=float(d["seconds"]),
                total_steps=int(d["total_steps"]),
                warmup=int(d["warmup"]),
                eval_every=int(d["eval_every"]),
                floor=float(d.get("floor", 0.05)),
                step_seconds=float(d.get("step_seconds", 0.0)),
                eval_seconds=float(d.get("eval_seconds", 0.0)),
                shape=str(d.get("shape", "cosine")),
                revised=bool(d.get("revised", False)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a time-budget plan: {d!r} ({e})") from None


def plan_budget(
    seconds: float,
    *,
    elapsed: float,
    steps_done: int,
    step_seconds: float,
    eval_seconds: float,
    warmup: int = WARMUP,
    evaluations: int = 20,
    max_eval_share: float = 0.1,
    floor: float = 0.05,
    save_seconds: float = 0.0,
    evaluations_done: int = 0,
    revised: bool = False,
) -> BudgetPlan:
    """The plan for a budget of ``seconds`` of which ``elapsed`` are gone, ``steps_done``
    steps taken, steps costing ``step_seconds`` and an evaluation ``eval_seconds``.

    About ``evaluations`` evaluations are spread evenly over the run, fewer when they would
    take more than ``max_eval_share`` of the budget; what is left, less the final save, goes
    to steps.  A budget too small for more steps gives a plan that ends at ``steps_done``
    (at least one step).  ``evaluations_done``: of those, already paid for (a plan revised
    part-way)."""
    if not (step_seconds > 0 and math.isfinite(step_seconds)):
        raise ValueError(f"step_seconds must be a positive time, got {step_seconds!r}")
    eval_seconds = max(0.0, float(eval_seconds))
    left = seconds - elapsed - save_seconds
    n_evals = max(1, evaluations)
    if eval_seconds > 0:
        n_evals = max(1, min(n_evals, int(max_eval_share * seconds / eval_seconds)))
    evals_left = max(1, n_evals - evaluations_done)
    while True:  # as many evaluations paid for as the plan will make after steps_done
        steps_left = max(0, int((left - evals_left * eval_seconds) / step_seconds))
        total = max(1, steps_done + steps_left)
        every = max(1, math.ceil(total / n_evals))
        future = math.ceil(total / every) - steps_done // every
        if future <= evals_left or steps_left == 0:
            break
        evals_left = future
    return BudgetPlan(
        seconds=float(seconds),
        total_steps=total,
        warmup=warmup,
        eval_every=every,
        floor=floor,
        step_seconds=float(step_seconds),
        eval_seconds=eval_seconds,
        revised=revised,
    )


def time_to_plan(steps_done: int, elapsed: float, seconds: float, warmup: int = WARMUP) -> bool:
    """Whether the calibration is over: the warm-up steps are done, or 5% of the budget is
    gone (a slow model on a short budget must not spend it all calibrating).  The first
    step is not timed (it pays for one-off work), so at least two are taken."""
    return steps_done >= 2 and (steps_done >= warmup or elapsed >= 0.05 * seconds)


# -- the size for a budget (--size auto) ---------------------------------------------------------

# The hidden sizes --size auto chooses from.
SIZES = (64, 96, 128, 192, 256, 384, 512, 768, 1024)
# The rule of thumb: at most DATA_RATIO weights per training character (more overfit, even
# with dropout), and in the budget at least CHARS_PER_WEIGHT characters seen per weight (a
# model that sees less is undertrained; 20 is the compute-optimal ratio of language models)
# or EPOCHS passes over the data, whichever is fewer (a small data set seen more often than
# that is overfitted by a small model: a larger one, seen fewer times, does better).
DATA_RATIO = 3.0
CHARS_PER_WEIGHT = 20.0
EPOCHS = 10.0
# The share of the budget that goes to training steps (the rest: evaluations, calibration).
STEP_SHARE = 0.85
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def layers_for(mode: str, hidden: int) -> int:
    """The layers --size auto gives ``hidden`` units: text stacks two from 256 units on
    (char-rnn's shape), names from 512 (a list of names gains little from depth)."""
    return 2 if hidden >= (256 if mode == "text" else 512) else 1


def count_params(hidden: int, layers: int, *, embed: int = 32, vocab: int = 64, cell: str = "lstm") -> int:
    """The weights of a model of that shape (embedding, recurrent layers, output layer)."""
    g = _GATES[cell]
    recurrent = sum(g * hidden * ((embed if k == 0 else hidden) + hidden) + 2 * g * hidden for k in range(layers))
    return vocab * embed + recurrent + hidden * vocab + vocab


def auto_size(
    mode: str,
    data_chars: int,
    seconds: float,
    seconds_per_char: Any,
    *,
    embed: int = 32,
    vocab: int = 64,
    cell: str = "lstm",
) -> tuple[int, int]:
    """``(hidden, layers)`` for ``data_chars`` training characters and a budget of
    ``seconds``: the largest of :data:`SIZES` (layers by :func:`layers_for`) whose weights
    are at most ``DATA_RATIO × data_chars`` and that sees, in the budget, at least
    ``CHARS_PER_WEIGHT`` characters per weight or ``EPOCHS`` passes over the data
    (whichever is fewer), ``seconds_per_char(params)`` being the measured
    (or modelled) training time of one character for a model of ``params`` weights."""
    if data_chars < 1:
        raise ValueError(f"no training data to size a model for ({data_chars} characters)")
    chosen = (SIZES[0], layers_for(mode, SIZES[0]))
    for hidden in SIZES:
        layers = layers_for(mode, hidden)
        params = count_params(hidden, layers, embed=embed, vocab=vocab, cell=cell)
        seen = passes_in(seconds, seconds_per_char, params, data_chars) * data_chars
        if params > DATA_RATIO * data_chars or seen < min(CHARS_PER_WEIGHT * params, EPOCHS * data_chars):
            break
        chosen = (hidden, layers)
    return chosen


def passes_in(seconds: float, seconds_per_char: Any, params: int, data_chars: int) -> float:
    """How many times a budget of ``seconds`` goes over ``data_chars`` training characters
    with a model of ``params`` weights (``STEP_SHARE`` of the budget goes to steps)."""
    return STEP_SHARE * seconds / seconds_per_char(params) / max(1, data_chars)


def linear_speed(p1: int, t1: float, p2: int, t2: float) -> Any:
    """Seconds per character as ``a + b × params`` through two measurements ``(params,
    seconds per character)`` (never below the faster of the two)."""
    b = max(0.0, (t2 - t1) / (p2 - p1)) if p2 != p1 else 0.0
    a = t1 - b * p1
    floor = min(t1, t2)
    return lambda params: max(floor, a + b * params)
