"""`charrnn train --time-budget`: one command plans the run; its --json records carry the
plan, its model file keeps it, --plan repeats it bit-for-bit (one kernel thread), and bad
budgets, plans and sizes are one readable line on stderr."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from charrnn import load
from charrnn.training.config import REGULARISERS
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
    # ... and the size and regularisers it was made for, so that a record replays the whole run.
    assert plan["hidden"] == 16 and plan["layers"] == 1
    assert set(plan["regularisers"]) == set(REGULARISERS)
    assert all(r["seconds_left"] >= 0 for r in planned)
    assert records[-1]["step"] <= plan["total_steps"]
    assert records[-1]["last"] is True and not any("last" in r for r in records[:-1]), "the final evaluation says so"
    assert "time budget 2s" in stderr and "plan: time budget 2s" in stderr


def test_a_plan_from_the_model_file_or_a_json_record_repeats_the_same_steps(budgeted, workdir):
    records, _ = budgeted
    plan = records[-1]["plan"]
    (workdir / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    replays = []
    # From a model file or a JSON record the size comes with the plan too.
    for k, (source, size) in enumerate(
        [
            ("b.safetensors", []),
            ("b.safetensors", ["--hidden", "16"]),
            ("records.jsonl", ["--hidden", "16"]),
            ("records.jsonl", []),
        ]
    ):
        out = f"replay-{k}.safetensors"
        result = run(
            "--threads",
            "1",
            "train",
            "names.txt",
            "--plan",
            source,
            *size,
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
        if not size:
            assert "as the run that made the plan" in result.stderr
    assert replays[0].hidden == 16
    for other in replays[1:]:
        for name in replays[0].params:
            assert np.array_equal(replays[0].params[name], other.params[name]), name


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


def _filled(mode, *argv, passes=None):
    """The options of ``charrnn train f.txt --mode MODE ARGV`` once the defaults and, for a
    budget going ``passes`` times over the data (None: not measured), the budget's
    regularisers are in (the passes of a plan of that many steps: nothing is timed)."""
    import io
    import tempfile

    from charrnn.cli import build_parser
    from charrnn.cli.train import apply_budget, fill_defaults

    args = build_parser().parse_args(["train", "f.txt", "--mode", mode, *argv])
    typed = {k for k, v in vars(args).items() if v is not None}
    fill_defaults(args, typed)
    args.size, items = None, None  # the size as given
    with tempfile.TemporaryDirectory() as tmp:
        if passes is not None:
            items = args.batch * 100  # a plan of passes * 100 steps of args.batch names goes passes times over them
            plan = {"seconds": 60.0, "total_steps": round(passes * 100), "warmup": 5, "eval_every": 5}
            args.plan = f"{tmp}/plan.json"
            with open(args.plan, "w", encoding="utf-8") as f:
                json.dump(plan, f)
        apply_budget(args, typed, None, None, 0, items, io.StringIO())
    return args


@pytest.mark.parametrize("passes", [None, 50.0, 15.0])
@pytest.mark.parametrize("mode", ["names", "text"])
def test_the_budget_regularisers_apply_only_with_a_budget_and_typed_options_win(mode, passes):
    from charrnn.training import TrainConfig
    from charrnn.training.config import BUDGET_REGULARISERS

    plain, budget = _filled(mode, passes=passes), _filled(mode, "--time-budget", "1m", passes=passes)
    expected = TrainConfig.for_budget(mode, passes)
    for key in BUDGET_REGULARISERS[mode]:
        assert getattr(budget, key) == getattr(expected, key)
        assert getattr(plain, key) == getattr(TrainConfig.for_mode(mode), key)
    assert budget.dropout == expected.dropout
    if mode == "text" or passes != 15.0:
        assert all(getattr(budget, k) == v for k, v in BUDGET_REGULARISERS[mode].items())
    typed = _filled(mode, "--time-budget", "1m", "--weight-drop", "0", "--dropout", "0.05", passes=passes)
    assert typed.weight_drop == 0.0 and typed.dropout == 0.05


def test_a_budget_that_sees_the_names_few_times_regularises_less():
    from charrnn.training import TrainConfig
    from charrnn.training.config import (
        BUDGET_REGULARISERS,
        NAMES_DROPOUT_FROM_PASSES,
        NAMES_REGULARISED_FROM_PASSES,
    )

    plain = TrainConfig.for_mode("names")
    assert plain.dropout > 0 and NAMES_DROPOUT_FROM_PASSES < NAMES_REGULARISED_FROM_PASSES  # the test can fail
    few = NAMES_DROPOUT_FROM_PASSES - 0.5
    args = _filled("names", "--time-budget", "15m", passes=few)
    assert args.dropout == 0.0
    for key in BUDGET_REGULARISERS["names"]:
        assert getattr(args, key) == getattr(plain, key), key
    some = _filled("names", "--time-budget", "15m", passes=NAMES_DROPOUT_FROM_PASSES)
    assert some.dropout == plain.dropout and some.weight_drop == plain.weight_drop and not some.variational
    enough = _filled("names", "--time-budget", "15m", passes=NAMES_REGULARISED_FROM_PASSES)
    assert enough.weight_drop == BUDGET_REGULARISERS["names"]["weight_drop"]
    assert _filled("names", "--time-budget", "15m", "--dropout", "0.3", passes=few).dropout == 0.3
    locked = _filled("names", "--time-budget", "15m", "--variational", passes=few)
    assert locked.variational and locked.dropout == plain.dropout  # a typed --variational keeps its dropout
    assert _filled("names", passes=few).dropout == TrainConfig.for_mode("names").dropout  # no budget
    # Text keeps its regularisers however few the passes (measured to help on tinyshakespeare).
    text = _filled("text", "--time-budget", "15m", passes=1.0)
    assert text.dropout == BUDGET_REGULARISERS["text"]["dropout"] and text.variational


def test_a_resumed_budgeted_run_keeps_the_checkpoint_regularisers():
    from charrnn.cli import build_parser
    from charrnn.cli.train import apply_budget, apply_resumed, fill_defaults

    args = build_parser().parse_args(["train", "f.txt", "--resume", "run.ckpt.safetensors"])
    typed = {k for k, v in vars(args).items() if v is not None}
    stored = {"mode": "names", "time_budget": 60.0, "dropout": 0.2, "variational": False, "weight_drop": 0.0}
    apply_resumed(args, typed, {"cli": stored}, "run.ckpt.safetensors")
    fill_defaults(args, typed)
    apply_budget(args, typed, None, None, 0, None, io.StringIO())  # a new run would turn the regularisers on
    assert args.dropout == 0.2 and args.variational is False and args.weight_drop == 0.0


def test_a_plan_from_a_model_file_or_a_json_record_takes_the_size_and_regularisers_of_its_run(
    budgeted, workdir, tmp_path
):
    from charrnn.training.config import BUDGET_REGULARISERS
    from charrnn.training.replay import plan_regularisers, plan_size

    records, _ = budgeted
    recorded = plan_regularisers(str(workdir / "b.safetensors"))
    assert recorded is not None and recorded["weight_drop"] == BUDGET_REGULARISERS["names"]["weight_drop"]
    assert plan_regularisers(str(workdir / "b.ckpt.safetensors")) == recorded
    # A --json record's plan records them too (the file, one line of it, or the plan as a dict).
    lines = tmp_path / "records.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    one = tmp_path / "last.json"
    one.write_text(json.dumps(records[-1]), encoding="utf-8")
    for source in (str(lines), one, records[-1]["plan"]):
        assert plan_regularisers(source) == recorded, source
        assert plan_size(source) == (16, 1) == plan_size(str(workdir / "b.safetensors")), source
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"seconds": 60.0, "total_steps": 10, "warmup": 5, "eval_every": 5}))
    assert plan_regularisers(str(plan)) is None and plan_size(plan) is None  # a bare plan: its steps decide
    # A replay of the run's plan on a long list, where a new run would train without dropout, keeps them.
    from charrnn.cli import build_parser
    from charrnn.cli.train import apply_budget, fill_defaults

    for source in (str(workdir / "b.safetensors"), str(lines)):
        args = build_parser().parse_args(["train", "f.txt", "--plan", source])
        typed = {k for k, v in vars(args).items() if v is not None}
        fill_defaults(args, typed)
        out = io.StringIO()
        apply_budget(args, typed, None, None, 0, 10**6, out)  # 10**6 names: a new run would not regularise
        assert {k: getattr(args, k) for k in recorded} == recorded, source
        assert (args.hidden, args.layers) == (16, 1) and "as the run that made the plan" in out.getvalue(), source


def test_a_plan_decides_the_passes_from_its_steps(tmp_path):
    import io

    from charrnn.cli import build_parser
    from charrnn.cli.train import apply_budget, fill_defaults, load_plan
    from charrnn.training.fitting import budget_choice

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"seconds": 60.0, "total_steps": 1000, "warmup": 50, "eval_every": 100}))
    args = build_parser().parse_args(["train", "f.txt", "--plan", str(plan), "--hidden", "16", "--batch", "8"])
    typed = {k for k, v in vars(args).items() if v is not None}
    fill_defaults(args, typed)
    current = {k: getattr(args, k) for k in ("dropout", "variational", "input_dropout", "embed_dropout")}
    current.update(weight_drop=args.weight_drop, weight_decay=args.weight_decay, ema=args.ema)
    choice = budget_choice(
        "names",
        None,
        None,
        5_000,
        60.0,
        current=current,
        size=(16, 1),
        items=400,
        plan=load_plan(str(plan)),
        batch_size=8,
    )
    assert choice.passes == 1000 * 8 / 400 and not choice.auto and choice.seconds == 60.0
    out = io.StringIO()
    apply_budget(args, typed, None, None, 5_000, 400, out)
    assert "about 20.0 passes" in out.getvalue()


def test_budget_regularisers_refuse_an_unknown_mode():
    from charrnn.training.config import budget_regularisers

    with pytest.raises(ValueError, match="mode must be one of"):
        budget_regularisers("poems", 10)


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
    from charrnn.training.config import NAMES_DROPOUT_FROM_PASSES, NAMES_REGULARISED_FROM_PASSES

    assert f"{NAMES_REGULARISED_FROM_PASSES:g} times or more" in row and f"from {NAMES_DROPOUT_FROM_PASSES:g}" in row
    table = (Path(__file__).parent.parent / "docs" / "budget.md").read_text()
    assert f"| names | fewer than {NAMES_DROPOUT_FROM_PASSES:g} |" in table
    assert f"| names | {NAMES_DROPOUT_FROM_PASSES:g} to {NAMES_REGULARISED_FROM_PASSES:g} |" in table
    assert f"| names | {NAMES_REGULARISED_FROM_PASSES:g} or more |" in table


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


def test_json_records_are_printed_as_they_come_and_only_the_last_waits_for_the_mixture(capsys):
    from charrnn.cli import build_parser
    from charrnn.cli.train import _epoch_line, _Reporter
    from charrnn.records import EpochRecord

    args = build_parser().parse_args(["train", "f.txt", "--json"])
    report = _Reporter(args, io.StringIO(), None, _epoch_line, hold=True)

    def record(step, last=False):
        return EpochRecord(1, step, 2.0, 2.1, 7.4, 8.2, 2.9, 3.0, 1e5, 1.0, last=last)

    report(record(10))
    assert [json.loads(line)["step"] for line in capsys.readouterr().out.splitlines()] == [10], "printed at once"
    report(record(20, last=True))
    assert capsys.readouterr().out == "", "the final evaluation waits for the mixture's fields"
    report.flush(mix_val_nll=1.5)
    final = json.loads(capsys.readouterr().out)
    assert (final["step"], final["last"], final["mix_val_nll"]) == (20, True, 1.5)
    # A run that ended where it had not planned to: its last record again, with the fields.
    other = _Reporter(args, io.StringIO(), None, _epoch_line, hold=True)
    other(record(10))
    capsys.readouterr()
    other.flush(mix_val_nll=1.5)
    again = json.loads(capsys.readouterr().out)
    assert (again["step"], again["mix_val_nll"]) == (10, 1.5)
    other.flush()
    assert capsys.readouterr().out == "", "nothing more without fields to add"
