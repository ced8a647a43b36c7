"""Time-budgeted training: the Trainer times its warm-up, plans the run, follows the plan's
learning rate and evaluation schedule, and stops at the planned step (or at the deadline
guard).  Time is a fake clock here, advanced by a source that behaves like a machine of
known speed, so nothing depends on how busy the machine is; a plan given (or resumed)
repeats the same steps bit-for-bit."""

from __future__ import annotations

import dataclasses
import json
import signal

import pytest

import charrnn
from charrnn import CharRNN, ResumeError, train
from charrnn.budget import WARMUP, BudgetPlan, auto_size, count_params, layers_for
from charrnn.sources import NamesSource
from charrnn.training import TrainConfig, Trainer
from charrnn.training.state import load_training_checkpoint
from test_resume import assert_same_weights, crash_at, data  # noqa: F401 - data: the resume tests' fixture

pytestmark = pytest.mark.usefixtures("one_kernel_thread")

STEP, EVAL = 1 / 64, 0.5  # fake seconds per step and per evaluation: exact in binary


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedSource(NamesSource):
    """The real names source on a machine whose steps take ``step`` and evaluations
    ``EVAL`` seconds of ``clock`` (``slow_after``: steps from then on take twice as long)."""

    def __init__(self, clock, *args, step=STEP, slow_after=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock, self.step, self.slow_after, self.steps = clock, step, slow_after, 0

    def train_pass(self, *args):
        self.steps += 1
        slow = self.slow_after is not None and self.steps > self.slow_after
        self.clock.now += self.step * (2 if slow else 1)
        return super().train_pass(*args)

    def evaluate(self, model):
        self.clock.now += EVAL
        return super().evaluate(model)


def fresh(vocab):
    return CharRNN(vocab, cell="lstm", hidden=12, layers=1, embed=8, seed=0)


def budgeted(data, seconds=16.0, slow_after=None, **changes):
    train_items, val_items, vocab = data
    clock = FakeClock()
    model = fresh(vocab)
    source = TimedSource(clock, model, train_items, val_items, batch_size=16, seed=3, slow_after=slow_after)
    config = TrainConfig.for_mode("names", time_budget=seconds, lr=1e-2, seed=3, **changes)
    trainer = Trainer(model, source, config, clock=clock)
    history = trainer.run()
    return model, history, trainer, clock


def test_the_run_is_planned_from_its_warm_up_and_stops_at_the_planned_step(data):
    model, history, trainer, clock = budgeted(data)
    first, plan = BudgetPlan.from_dict(history[1].plan), trainer.plan
    # Timed: WARMUP steps (0.78 s, more than 5% of 16 s is only reached after 51 steps)
    # of 1/64 s, then one evaluation of 0.5 s; the plan fits the rest.
    assert first.step_seconds == STEP and first.eval_seconds == EVAL and first.warmup == WARMUP
    assert not first.revised
    n_evals = min(20, int(0.1 * 16 / EVAL))
    elapsed = WARMUP * STEP + EVAL
    assert first.total_steps == WARMUP + int((16 - elapsed - n_evals * EVAL) / STEP)
    # Made again at its first evaluation from the steady speed: the same speed, the same end.
    assert plan.revised and plan == dataclasses.replace(first, revised=True)
    assert history[-1].step == plan.total_steps, "stopped at the planned step"
    assert not trainer.out_of_time
    assert clock.now <= 16.0, "the budget holds, evaluations included"
    # Evaluations: the calibration one, then the plan's schedule (the epoch ends are not).
    steps = [r.step for r in history]
    assert steps[0] == WARMUP
    assert steps[1:] == [s for s in range(1, plan.total_steps + 1) if plan.evaluates_after(s)]
    # Each evaluation records the rate of the step before it, and the plan.
    for r in history:
        assert r.lr == pytest.approx(plan.lr_at(r.step, 1e-2))
    assert history[-1].lr == pytest.approx(plan.floor * 1e-2)
    assert "plan" in history[-1].to_dict() and "seconds_left" in history[-1].to_dict()
    assert history[-1].seconds_left == pytest.approx(16.0 - clock.now)
    best = min(history, key=lambda r: r.val_nll)
    assert history.best_val_nll == best.val_nll
    assert model.evaluate(data[1])["nll"] == pytest.approx(best.val_nll, rel=1e-5), "the best weights are kept"


def test_a_warm_up_slower_than_the_steady_run_is_made_up_for_at_the_first_evaluation(data):
    train_items, val_items, vocab = data
    clock = FakeClock()
    model = fresh(vocab)
    source = TimedSource(clock, model, train_items, val_items, batch_size=16, seed=3, step=2 * STEP)
    config = TrainConfig.for_mode("names", time_budget=16.0, lr=1e-2, seed=3)
    trainer = Trainer(model, source, config, clock=clock)
    real_pass = source.train_pass

    def faster_after_warm_up(*args):
        if trainer.plan is not None:
            source.step = STEP  # e.g. another job ended
        return real_pass(*args)

    source.train_pass = faster_after_warm_up
    history = trainer.run()
    first = BudgetPlan.from_dict(history[1].plan)
    assert first.step_seconds == 2 * STEP and trainer.plan.step_seconds == STEP
    assert trainer.plan.total_steps > 1.8 * first.total_steps, "the budget is used, not half of it"
    assert history[-1].step == trainer.plan.total_steps and clock.now <= 16.0


def test_a_machine_that_slows_down_still_ends_on_time(data):
    _, history, trainer, clock = budgeted(data, slow_after=100)
    assert trainer.out_of_time
    assert history[-1].step < trainer.plan.total_steps
    assert clock.now <= 16.0, "the deadline guard left room for the last evaluation"
    assert clock.now > 16.0 - 2 * (2 * STEP) - EVAL, "and used the budget"


def test_a_given_plan_repeats_the_same_steps_bit_for_bit(data):
    reference, ref_history, trainer, _ = budgeted(data)
    train_items, val_items, vocab = data
    model = fresh(vocab)
    # The real clock, another speed: the plan, not the time, decides.
    history = train(model, train_items, val_items, batch_size=16, lr=1e-2, seed=3, dropout=0.2, plan=trainer.plan)
    assert history[-1].step == trainer.plan.total_steps
    assert_same_weights(model, reference)
    planned = [r for r in ref_history if r.step != WARMUP]
    assert [r.val_nll for r in history] == [r.val_nll for r in planned]


def test_resume_keeps_the_plan_and_ends_bit_for_bit_as_the_run_that_never_stopped(tmp_path, monkeypatch, data):
    train_items, val_items, vocab = data
    plan = BudgetPlan(seconds=1e6, total_steps=90, warmup=WARMUP, eval_every=20, floor=0.05)
    kw = dict(batch_size=16, lr=1e-2, seed=3, dropout=0.2, plan=plan.to_dict())
    reference = fresh(vocab)
    ref_history = train(reference, train_items, val_items, **kw)
    assert [r.step for r in ref_history] == [20, 40, 60, 80, 90]

    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    crash_at(monkeypatch, model, 67)
    with pytest.raises(RuntimeError, match="power cut"):
        train(model, train_items, val_items, checkpoint=path, checkpoint_every=7, **kw)
    model_, state = load_training_checkpoint(path)
    assert state.step == 63 and BudgetPlan.from_dict(state.plan) == dataclasses.replace(plan, revised=True)
    assert state.options["time_budget"] == 1e6

    resumed, history = charrnn.resume(path, train_items, val_items)
    assert_same_weights(resumed, reference)
    assert [(r.step, r.val_nll, r.lr) for r in history] == [(r.step, r.val_nll, r.lr) for r in ref_history]


def test_a_resumed_plan_cannot_be_replaced(tmp_path, data):
    train_items, val_items, vocab = data
    plan = BudgetPlan(seconds=1e6, total_steps=30, warmup=10, eval_every=10)
    path = tmp_path / "run.ckpt.safetensors"
    train(fresh(vocab), train_items, val_items, batch_size=16, plan=plan, checkpoint=path)
    model, state = load_training_checkpoint(path)
    other = dataclasses.replace(plan, total_steps=40)
    with pytest.raises(ResumeError, match="plan"):
        train(model, train_items, val_items, batch_size=16, plan=other, time_budget=1e6, resume=state)


def test_time_budget_is_checked_like_every_option(data):
    train_items, val_items, vocab = data
    with pytest.raises(ValueError, match="time budget"):
        train(fresh(vocab), train_items, val_items, time_budget="soon")
    with pytest.raises(TypeError, match="plan"):
        train(fresh(vocab), train_items, val_items, plan="plan.json")
    with pytest.raises(ValueError, match="time_budget"):
        TrainConfig.for_mode("names", time_budget=-1.0).check()


def test_linear_decay_falls_on_a_straight_line_to_the_floor():
    plan = BudgetPlan(seconds=60, total_steps=150, warmup=50, eval_every=50, floor=0.1, shape="linear")
    assert plan.lr_at(100, 1.0) == pytest.approx(0.1 + 0.9 * 0.5)
    assert plan.lr_at(150, 1.0) == pytest.approx(0.1)
    assert BudgetPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    with pytest.raises(ValueError, match="shape"):
        BudgetPlan(seconds=60, total_steps=150, warmup=50, eval_every=50, shape="step")


def test_size_auto_grows_with_the_budget_and_stays_within_the_data():
    per_char = lambda params: 1e-9 * params
    sizes = [auto_size("text", 1_000_000, s, per_char, vocab=65) for s in (60, 300, 1800, 36000)]
    params = [count_params(h, n, vocab=65) for h, n in sizes]
    assert params == sorted(params) and params[0] < params[-1], "more time, a larger model"
    hidden, layers = sizes[-1]
    assert count_params(hidden, layers, vocab=65) <= 3 * 1_000_000, "no more weights than 3 per character"
    assert layers == layers_for("text", hidden)
    small = auto_size("names", 5_000, 36000, per_char)
    assert count_params(*small) <= 3 * 5_000 or small[0] == 64
    with pytest.raises(ValueError, match="no training data"):
        auto_size("names", 0, 60, per_char)


def test_size_auto_grows_a_model_that_would_see_small_data_too_often():
    # 5M characters fit in the budget whatever the size: 20 per weight would stop at 250K
    # weights; 10 passes over 250K characters need only 2.5M, so the data cap decides.
    hidden, layers = auto_size("names", 250_000, 60, lambda params: 60 * 0.85 / 5e6)
    assert count_params(hidden, layers) <= 3 * 250_000
    bigger = [h for h in (96, 128, 192, 256, 384, 512, 768, 1024) if h > hidden][0]
    assert count_params(bigger, layers_for("names", bigger)) > 3 * 250_000


def test_the_progress_bar_shows_the_time_left(capsys, monkeypatch):
    from charrnn.progress import TrainingMonitor

    monkeypatch.setattr(TrainingMonitor, "MININTERVAL", 0.0)
    with TrainingMonitor(progress=True, time_left=lambda: 125.0) as monitor:
        for _ in monitor.epoch(range(3), 1, 0, 3):
            monitor.step(10.0, 5)
    assert "2m05s left" in capsys.readouterr().err


def test_passes_in_counts_the_budget_over_the_data():
    from charrnn.budget import STEP_SHARE, passes_in

    # 1 us per character: 100 s of budget, 85 of them steps, see 85M characters = 85 passes over 1M.
    assert passes_in(100.0, lambda params: 1e-6, 12345, 1_000_000) == pytest.approx(STEP_SHARE * 100)
    # A bigger model is slower, so the same budget goes over the data fewer times.
    slower = lambda params: 1e-12 * params
    assert passes_in(60, slower, 2_000_000, 10_000) < passes_in(60, slower, 100_000, 10_000)


def test_choose_size_returns_the_size_and_the_passes_it_measured():
    from charrnn.training.sizing import choose_size

    names = ["Анна", "Ольга", "Мария", "Иван", "Пётр", "Сергей"] * 20
    vocab = charrnn.Vocab.from_items(names)
    chars = sum(len(n) + 1 for n in names)
    source = lambda m: NamesSource(m, names, batch_size=8, seed=0)
    hidden, layers, passes = choose_size("names", vocab, source, chars, 30.0, embed=8)
    assert count_params(hidden, layers, embed=8, vocab=len(vocab)) <= 3 * chars or hidden == 64
    assert passes > 1  # 30 s over 800 characters
    given = choose_size("names", vocab, source, chars, 30.0, embed=8, size=(512, 1))
    assert given[:2] == (512, 1) and given[2] < passes  # the largest model, the fewest passes


def test_a_budgets_final_evaluation_is_marked_last_even_when_its_plan_ends_at_the_calibration(data):
    for seconds, evaluations in ((16.0, None), (1.0, 1)):  # 1 s: no time left for a step after it
        _, history, trainer, _ = budgeted(data, seconds=seconds)
        assert [r.last for r in history] == [False] * (len(history) - 1) + [True], seconds
        assert history[-1].step == trainer.plan.total_steps
        if evaluations is not None:
            assert len(history) == evaluations


@pytest.mark.parametrize(
    "last, every, stop",
    [(50, 20, 50), (56, 20, 56), (56, 14, 28)],
    ids=["the-last-step-inside-an-epoch", "the-last-step-at-an-epochs-end", "an-evaluation-at-an-epochs-end"],
)
def test_stopped_before_an_evaluation_the_resumed_run_makes_it(tmp_path, monkeypatch, data, last, every, stop):
    # SIGTERM stops at a safe point whatever SIGINT's handler is (the suite may run with it ignored).
    from test_interrupt import signal_during_step

    train_items, val_items, vocab = data
    assert -(-len(train_items) // 16) == 14  # batches an epoch: the parameters count in them
    plan = BudgetPlan(seconds=1e6, total_steps=last, warmup=10, eval_every=every)
    kw = dict(batch_size=16, lr=1e-2, seed=3, plan=plan.to_dict())
    reference = fresh(vocab)
    ref_history = train(reference, train_items, val_items, **kw)
    assert ref_history[-1].step == last and ref_history[-1].last and stop in [r.step for r in ref_history]

    path = tmp_path / "run.ckpt.safetensors"
    model = fresh(vocab)
    signal_during_step(monkeypatch, model, stop, signals=(signal.SIGTERM,))
    with pytest.raises(charrnn.TrainingInterrupted):
        train(model, train_items, val_items, checkpoint=path, **kw)
    _, state = load_training_checkpoint(path)
    assert state.step == stop and all(r["step"] < stop for r in state.history)  # its evaluation was not made

    resumed, history = charrnn.resume(path, train_items, val_items)
    assert_same_weights(resumed, reference)

    def fields(records):
        return [(r.step, r.epoch, r.train_nll, r.val_nll, r.last) for r in records]

    assert fields(history) == fields(ref_history)
