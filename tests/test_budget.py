"""Time budgets: durations parsed as users type them, a plan in steps that fills the budget
(evaluations included) and a learning rate that warms up, then decays to its floor at the
plan's last step."""

from __future__ import annotations

import math

import pytest

from charrnn.budget import BudgetPlan, format_duration, parse_duration, plan_budget, time_to_plan


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2.5m", 150), (" 10M ", 600), ("300", 300), (42, 42)],
)
def test_durations_as_users_type_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "-5m", "0", "0s", "1h x", "nan", "inf", True])
def test_a_duration_that_is_not_one_is_a_value_error_naming_it(text):
    with pytest.raises(ValueError, match="time budget"):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (42, 125, 3725)] == ["42s", "2m05s", "1h02m"]


def test_the_learning_rate_warms_up_then_follows_a_cosine_to_its_floor():
    plan = BudgetPlan(seconds=60, total_steps=1050, warmup=50, eval_every=100, floor=0.1)
    peak = 2e-3
    assert plan.lr_at(1, peak) == pytest.approx(peak / 50)
    assert plan.lr_at(25, peak) == pytest.approx(peak / 2)
    assert plan.lr_at(50, peak) == pytest.approx(peak)
    assert plan.lr_at(550, peak) == pytest.approx(peak * (0.1 + 0.9 * 0.5))  # half way down the cosine
    assert plan.lr_at(1050, peak) == pytest.approx(0.1 * peak)
    assert plan.lr_at(5000, peak) == pytest.approx(0.1 * peak), "past the plan: the floor"
    after = [plan.lr_at(s, peak) for s in range(50, 1051)]
    assert all(a >= b for a, b in zip(after, after[1:])), "decreasing after the warm-up"


@pytest.mark.parametrize(
    "seconds,step,evaluation", [(300, 0.004, 0.5), (1800, 1.3, 20.0), (60, 0.05, 3.0), (900, 0.01, 0.0)]
)
def test_the_plan_fills_the_budget_with_steps_and_evaluations(seconds, step, evaluation):
    elapsed, done = 0.05 * seconds, 40
    plan = plan_budget(seconds, elapsed=elapsed, steps_done=done, step_seconds=step, eval_seconds=evaluation)
    n_evals = math.ceil(plan.total_steps / plan.eval_every)
    planned = elapsed + (plan.total_steps - done) * step + n_evals * evaluation
    assert planned <= seconds + 1e-9, "the evaluations are part of the budget"
    assert planned >= seconds - step - 2 * evaluation, "and the budget is used"
    assert n_evals * evaluation <= 0.1 * seconds + evaluation, "evaluations take at most about a tenth"
    assert BudgetPlan.from_dict(plan.to_dict()) == plan


def test_a_budget_too_small_for_more_steps_still_ends_with_a_valid_plan():
    plan = plan_budget(10, elapsed=9.9, steps_done=3, step_seconds=1.0, eval_seconds=2.0)
    assert plan.total_steps == 3 and plan.evaluates_after(3)


def test_the_deadline_guard_leaves_room_for_the_last_evaluation():
    plan = BudgetPlan(seconds=100, total_steps=1000, warmup=50, eval_every=100, step_seconds=0.1, eval_seconds=5)
    assert not plan.over_deadline(90)
    assert plan.over_deadline(95)


def test_calibration_ends_after_the_warm_up_or_a_twentieth_of_the_budget():
    assert not time_to_plan(1, elapsed=100, seconds=60), "the first step is not timed"
    assert not time_to_plan(10, elapsed=1, seconds=60, warmup=50)
    assert time_to_plan(50, elapsed=1, seconds=60, warmup=50)
    assert time_to_plan(10, elapsed=3, seconds=60, warmup=50)


def test_a_plan_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        BudgetPlan(seconds=60, total_steps=0, warmup=0, eval_every=1)
    with pytest.raises(ValueError, match="not a time-budget plan"):
        BudgetPlan.from_dict({"seconds": 60})
