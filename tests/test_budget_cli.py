"""`charrnn train --time-budget`: one command plans the run; its --json records carry the
plan, its model file keeps it, --plan repeats it bit-for-bit (one kernel thread), and bad
budgets, plans and sizes are one readable line on stderr."""

from __future__ import annotations

import json

import numpy as np
import pytest

from charrnn import load
from conftest import TINY_NAMES
from test_cli import run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget-cli")
    (d / "names.txt").write_text("\n".join(TINY_NAMES * 3) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def budgeted(workdir):
    result = run(
        "--threads",
        "1",
        "train",
        "names.txt",
        "--time-budget",
        "2s",
        "--hidden",
        "16",
        "--embed",
        "8",
        "--json",
        "--out",
        "b.safetensors",
        "--samples",
        "0",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_json_records_carry_the_plan_and_the_time_left(budgeted):
    records, stderr = budgeted
    planned = [r for r in records if "plan" in r]
    assert planned, "every record after the calibration has the plan"
    plan = planned[-1]["plan"]
    assert {"seconds", "total_steps", "warmup", "eval_every", "floor", "shape"} <= set(plan)
    assert plan["seconds"] == 2.0
    assert all(r["seconds_left"] >= 0 for r in planned)
    assert records[-1]["step"] <= plan["total_steps"]
    assert "time budget 2s" in stderr and "plan: time budget 2s" in stderr


def test_a_plan_from_the_model_file_or_a_json_record_repeats_the_same_steps(budgeted, workdir):
    records, _ = budgeted
    plan = records[-1]["plan"]
    (workdir / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    replays = []
    for source in ("b.safetensors", "records.jsonl"):
        out = f"replay-{source.split('.')[1]}.safetensors"
        result = run(
            "--threads",
            "1",
            "train",
            "names.txt",
            "--plan",
            source,
            "--hidden",
            "16",
            "--embed",
            "8",
            "--json",
            "--out",
            out,
            "--samples",
            "0",
            cwd=workdir,
        )
        assert result.returncode == 0, result.stderr
        replay = [json.loads(line) for line in result.stdout.splitlines()]
        assert replay[-1]["step"] == plan["total_steps"], "a plan given runs to its end, however slow the machine"
        assert [r["step"] for r in replay] == [
            s for s in range(1, plan["total_steps"] + 1) if s % plan["eval_every"] == 0 or s == plan["total_steps"]
        ]
        replays.append(load(workdir / out))
    for name in replays[0].params:
        assert np.array_equal(replays[0].params[name], replays[1].params[name]), name


@pytest.mark.parametrize(
    "args,message",
    [
        (["--time-budget", "soon"], "--time-budget: a time budget must be a duration"),
        (["--size", "auto"], "--size auto chooses the size for a --time-budget"),
        (["--time-budget", "5s", "--size", "auto", "--hidden", "32"], "not both"),
        (["--plan", "missing.json"], "--plan missing.json: cannot read it"),
        (["--plan", "names.txt"], "--plan names.txt: cannot read it"),
    ],
)
def test_bad_budget_options_are_one_line_on_stderr(workdir, args, message):
    result = run("train", "names.txt", "--samples", "0", *args, cwd=workdir)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_epochs_with_a_budget_are_said_to_be_ignored(workdir):
    result = run(
        "train",
        "names.txt",
        "--time-budget",
        "1s",
        "--epochs",
        "3",
        "--hidden",
        "8",
        "--embed",
        "4",
        "--samples",
        "0",
        "--out",
        "e.safetensors",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert "--epochs is ignored: the time budget decides" in result.stderr


def test_a_budgeted_run_turns_on_the_budget_regularisers_and_says_so(budgeted):
    _, stderr = budgeted
    assert "dropout 0.2 (variational), input 0.1, embedding 0.1, weight drop 0.3" in stderr


@pytest.mark.parametrize("mode", ["names", "text"])
def test_the_budget_regularisers_apply_only_with_a_budget_and_typed_options_win(mode):
    from charrnn.cli import build_parser
    from charrnn.cli.train import fill_defaults
    from charrnn.training import TrainConfig
    from charrnn.training.config import BUDGET_REGULARISERS

    def filled(*argv):
        args = build_parser().parse_args(["train", "f.txt", "--mode", mode, *argv])
        typed = {k for k, v in vars(args).items() if v is not None}
        fill_defaults(args, typed)
        return args

    plain, budget = filled(), filled("--time-budget", "1m")
    for key, value in BUDGET_REGULARISERS[mode].items():
        assert getattr(budget, key) == value
        assert getattr(plain, key) == getattr(TrainConfig.for_mode(mode), key)
    assert budget.dropout == TrainConfig.for_budget(mode).dropout
    typed = filled("--time-budget", "1m", "--weight-drop", "0", "--dropout", "0.05")
    assert typed.weight_drop == 0.0 and typed.dropout == 0.05


def test_the_command_reference_states_the_budget_regularisers():
    from pathlib import Path

    from charrnn.training.config import BUDGET_REGULARISERS

    row = next(
        line
        for line in (Path(__file__).parent.parent / "docs" / "cli.md").read_text().splitlines()
        if line.startswith("| `--time-budget")
    )
    for mode, options in BUDGET_REGULARISERS.items():
        flags = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v:g}") for k, v in options.items())
        assert f"{mode}: `{flags}`" in row, (mode, flags)


def test_resuming_a_checkpoint_from_before_the_regularisers_keeps_them_off():
    from charrnn.cli import build_parser
    from charrnn.cli.train import apply_resumed, fill_defaults
    from charrnn.training.state import LEGACY_OPTIONS

    args = build_parser().parse_args(["train", "f.txt", "--resume", "old.ckpt.safetensors"])
    typed = {k for k, v in vars(args).items() if v is not None}
    # The record an older version wrote of a budgeted run: no key of the later options.
    apply_resumed(args, typed, {"cli": {"mode": "names", "time_budget": 60.0, "dropout": 0.2}}, "old.ckpt.safetensors")
    fill_defaults(args, typed)
    for key, value in LEGACY_OPTIONS.items():
        assert getattr(args, key) == value, key
    assert args.time_budget == 60.0 and args.dropout == 0.2
