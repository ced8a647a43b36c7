"""charrnn.fit: the run `charrnn train` makes, from Python — the same split, defaults, size,
budget regularisers and mixture, so the same weights bit for bit on one kernel thread."""

from __future__ import annotations

import json

import numpy as np
import pytest

import charrnn
from charrnn.training.config import BUDGET_REGULARISERS, NAMES_REGULARISED_FROM_PASSES
from conftest import TINY_NAMES
from test_cli import run

NAMES = [f"{name}{suffix}" for name in TINY_NAMES for suffix in ("", "а", "ин")]  # 72 names


def _same_weights(a: charrnn.CharRNN, b: charrnn.CharRNN) -> None:
    pa, pb = a.params_list(), b.params_list()
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return path


def _plan(tmp_path, steps: int) -> dict:
    plan = {"seconds": 60.0, "total_steps": steps, "warmup": 5, "eval_every": max(1, steps // 2)}
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    return plan


def test_fit_is_the_run_charrnn_train_makes(names_file, tmp_path, one_kernel_thread):
    result = run(
        "--threads", "1", "train", "names.txt", "--hidden", "16", "--embed", "8", "--epochs", "2",
        "--out", "cli.safetensors", "--samples", "0", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    model, history = charrnn.fit(NAMES, hidden=16, embed=8, epochs=2, out=tmp_path / "fit.safetensors")
    cli = charrnn.load(tmp_path / "cli.safetensors")
    assert model.vocab == cli.vocab and (model.hidden, model.layers, model.embed) == (16, 1, 8)
    _same_weights(model, cli)
    assert len(history) == 2 and history.best_val_nll == json.loads(cli_best(tmp_path))
    saved = charrnn.load(tmp_path / "fit.safetensors")
    _same_weights(saved, model)
    assert saved.mixture is None  # no budget: no mixture by default
    # The names seen are stored for sample --novel, as charrnn train stores them.
    from charrnn.checkpoint import _read
    from charrnn.sampling import SEEN_KEY

    seen = _read(str(tmp_path / "fit.safetensors"))[0][SEEN_KEY]
    assert seen == _read(str(tmp_path / "cli.safetensors"))[0][SEEN_KEY]
    recorded = json.loads(_read(str(tmp_path / "fit.safetensors"))[0]["training"])
    assert recorded["epochs"] == 2 and recorded["train_items"] + recorded["val_items"] == len(NAMES)


def cli_best(tmp_path) -> str:
    from charrnn.checkpoint import _read

    metadata, _ = _read(str(tmp_path / "cli.safetensors"))
    return json.dumps(json.loads(metadata["training"])["best_val_nll"])


def test_fit_with_a_plan_regularises_and_mixes_as_charrnn_train_does(names_file, tmp_path, one_kernel_thread):
    steps = 150  # 150 steps of 32 names over the 65 training names: far past NAMES_REGULARISED_FROM_PASSES
    plan = _plan(tmp_path, steps)
    assert steps * 32 / 65 > NAMES_REGULARISED_FROM_PASSES
    result = run(
        "--threads", "1", "train", "names.txt", "--plan", "plan.json", "--hidden", "16", "--embed", "8",
        "--out", "cli.safetensors", "--samples", "0", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "budget: regularisers for about" in result.stdout
    model, history = charrnn.fit(NAMES, plan=plan, hidden=16, embed=8, out=tmp_path / "fit.safetensors")
    cli = charrnn.load(tmp_path / "cli.safetensors")
    _same_weights(model, cli)
    assert history[-1].step == steps
    from charrnn.checkpoint import _read

    recorded = json.loads(_read(str(tmp_path / "fit.safetensors"))[0]["training"])
    for key, value in BUDGET_REGULARISERS["names"].items():
        assert recorded[key] == value, key
    # mixed by default with a budget, the same mixture as the command line's
    assert model.mixture is not None and cli.mixture is not None
    assert model.evaluate(NAMES[:10])["nll"] == cli.evaluate(NAMES[:10])["nll"]
    assert charrnn.load(tmp_path / "fit.safetensors").evaluate(NAMES[:10])["nll"] == model.evaluate(NAMES[:10])["nll"]
    # The command line's model file as the plan brings its size and regularisers: the same run again.
    again, _ = charrnn.fit(NAMES, plan=tmp_path / "cli.safetensors", embed=8)
    assert (again.hidden, again.layers) == (16, 1)
    _same_weights(again, cli)
    from_json, _ = charrnn.fit(NAMES, plan=str(tmp_path / "plan.json"), hidden=16, embed=8)
    _same_weights(from_json, cli)
    # So does a record's plan (what --json prints): no size or regulariser given, the same run.
    assert (
        history[-1].plan["hidden"] == 16
        and history[-1].plan["regularisers"]["weight_drop"] == BUDGET_REGULARISERS["names"]["weight_drop"]
    )
    for given in (history[-1].plan, history[-1].to_dict()):  # the plan, or the whole record
        from_record, _ = charrnn.fit(NAMES, plan=given, embed=8)
        assert (from_record.hidden, from_record.layers) == (16, 1)
        _same_weights(from_record, cli)
    with pytest.raises(charrnn.DataError, match="^plan .*names.txt: cannot read it"):
        charrnn.fit(NAMES, plan=str(names_file))


def test_fit_options_typed_win_over_the_budget(tmp_path, one_kernel_thread):
    plan = _plan(tmp_path, 150)
    model, _ = charrnn.fit(
        NAMES, plan=plan, hidden=16, embed=8, weight_drop=0.0, dropout=0.1, mix=False, out=tmp_path / "m.safetensors"
    )
    from charrnn.checkpoint import _read

    recorded = json.loads(_read(str(tmp_path / "m.safetensors"))[0]["training"])
    assert recorded["weight_drop"] == 0.0 and recorded["dropout"] == 0.1
    assert recorded["variational"] is True  # the budget's, not typed
    assert model.mixture is None  # mix=False


def test_fit_with_few_passes_trains_without_dropout(tmp_path, one_kernel_thread):
    plan = _plan(tmp_path, 4)  # 4 steps of 32 over 65 names: 2 passes
    model, _ = charrnn.fit(NAMES, plan=plan, hidden=16, embed=8, mix=False, out=tmp_path / "m.safetensors")
    from charrnn.checkpoint import _read

    recorded = json.loads(_read(str(tmp_path / "m.safetensors"))[0]["training"])
    assert recorded["dropout"] == 0.0 and recorded["weight_drop"] == 0.0


def test_fit_chooses_the_size_for_a_time_budget(tmp_path):
    model, history = charrnn.fit(NAMES, time_budget=2, embed=8, out=tmp_path / "auto.safetensors")
    assert model.hidden in (64, 96, 128, 192, 256, 384, 512, 768, 1024)
    assert history and history[-1].plan is not None
    assert history[-1].plan["seconds"] < 2.0  # measuring the speed took its time from the budget
    assert charrnn.load(tmp_path / "auto.safetensors").hidden == model.hidden


def test_fit_text_is_charrnn_train_mode_text(tmp_path, one_kernel_thread):
    text = "the quick brown fox jumps over the lazy dog. " * 60
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    result = run(
        "--threads", "1", "train", "t.txt", "--mode", "text", "--hidden", "16", "--layers", "1", "--embed", "8",
        "--max-steps", "5", "--batch", "4", "--seq-len", "10", "--out", "cli.safetensors", "--samples", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    model, history = charrnn.fit(
        text, hidden=16, layers=1, embed=8, max_steps=5, batch_size=4, seq_len=10, out=tmp_path / "fit.safetensors"
    )
    assert model.mode == "text" and history[-1].step == 5
    _same_weights(model, charrnn.load(tmp_path / "cli.safetensors"))
    _same_weights(model, charrnn.load(tmp_path / "fit.safetensors"))
    from charrnn.checkpoint import _read

    recorded = json.loads(_read(str(tmp_path / "fit.safetensors"))[0]["training"])
    assert len(recorded["history"]) == len(history) and recorded["steps"] == 5  # the whole run's record


def test_fit_text_with_a_budget_takes_its_regularisers_and_refuses_unseen_characters(tmp_path, one_kernel_thread):
    text = "the quick brown fox jumps over the lazy dog. " * 60
    plan = {"seconds": 60.0, "total_steps": 6, "warmup": 2, "eval_every": 3}
    model, history = charrnn.fit(
        text, plan=plan, hidden=16, layers=1, embed=8, batch_size=4, seq_len=10, out=tmp_path / "t.safetensors"
    )
    assert history[-1].step == 6
    from charrnn.checkpoint import _read

    recorded = json.loads(_read(str(tmp_path / "t.safetensors"))[0]["training"])
    assert all(recorded[k] == v for k, v in BUDGET_REGULARISERS["text"].items())
    with pytest.raises(charrnn.DataError, match="val"):
        charrnn.fit(text, "Zebra!", hidden=16, max_steps=1)


def test_max_steps_alone_sets_no_epoch_limit_as_on_the_command_line():
    _, history = charrnn.fit(NAMES, hidden=8, embed=4, max_steps=200, log_every=None)
    assert history[-1].step == 200  # 65 training names: 3 steps an epoch, 40 epochs would stop at 120


def test_a_typed_variational_keeps_its_dropout_and_a_conditional_model_its_size(tmp_path, one_kernel_thread):
    plan = _plan(tmp_path, 150)
    _, _ = charrnn.fit(
        NAMES, plan=plan, hidden=16, embed=8, variational=True, mix=False, out=tmp_path / "v.safetensors"
    )
    from charrnn.checkpoint import _read

    recorded = json.loads(_read(str(tmp_path / "v.safetensors"))[0]["training"])
    assert recorded["dropout"] == charrnn.TrainConfig.for_mode("names").dropout and recorded["variational"] is True
    assert recorded["weight_drop"] == BUDGET_REGULARISERS["names"]["weight_drop"]
    labelled = charrnn.Labelled.from_lists({"a": NAMES[::2], "b": NAMES[1::2]})
    model, history = charrnn.fit(labelled, plan=_plan(tmp_path, 6), embed=8, category_dim=3)
    assert model.hidden == charrnn.TrainConfig.for_mode("names").hidden and history[-1].step == 6
    assert model.mixture is None  # no mixture for a conditional model


def test_a_short_budget_with_a_size_is_kept_as_given():
    _, history = charrnn.fit(NAMES, time_budget=0.5, hidden=8, embed=4, mix=False)
    assert history[-1].plan["seconds"] == 0.5


def test_fit_takes_counts_and_categories():
    counted = charrnn.Counted(list(NAMES), [float(k % 7 + 1) for k in range(len(NAMES))])
    _, history = charrnn.fit(counted, hidden=16, embed=8, max_steps=3)
    assert history[-1].val_nll_weighted is not None
    held_out = charrnn.Counted(["Анна", "Олег", "Яна"], [3.0, 1.0, 2.0])
    _, history = charrnn.fit(NAMES, held_out, hidden=16, embed=8, max_steps=3)
    assert history[-1].val_nll_weighted is not None and history[-1].val_nll_weighted != history[-1].val_nll
    labelled = charrnn.Labelled.from_lists({"a": NAMES[::2], "b": NAMES[1::2]})
    model, _ = charrnn.fit(labelled, hidden=16, embed=8, max_steps=3)
    assert tuple(model.categories) == ("a", "b")
    with pytest.raises(ValueError, match="mix=True"):
        charrnn.fit(labelled, hidden=16, max_steps=3, mix=True)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: charrnn.fit("some text", mode="names"), TypeError, "list of names"),
        (lambda: charrnn.fit(NAMES, mode="text"), TypeError, "string of text"),
        (lambda: charrnn.fit(NAMES, mode="poems"), ValueError, "mode must be one of"),
        (lambda: charrnn.fit(NAMES, seq_len=10), TypeError, "seq_len"),
        (lambda: charrnn.fit(NAMES, test_fraction=0.1), ValueError, "for text"),
        (lambda: charrnn.fit(NAMES, time_budget="soon"), ValueError, "soon"),
        (lambda: charrnn.fit(NAMES, dropout=1.5, max_steps=1), ValueError, "dropout"),
        (lambda: charrnn.fit(NAMES, "Анна"), TypeError, "val must be a list"),
        (lambda: charrnn.fit(None), TypeError, "data must be a list"),
        (lambda: charrnn.fit([1, 2, 3]), TypeError, "holds a int"),
        (lambda: charrnn.fit(NAMES, weights=[1.0] * 72), TypeError, "weights"),
        (lambda: charrnn.fit(NAMES, weight_power=0.5), ValueError, "Counted"),
        (lambda: charrnn.fit("some text", mix=True), ValueError, "mix=True is for names"),
        (lambda: charrnn.fit("some text", val=["ab"]), TypeError, "val of a text"),
        (lambda: charrnn.fit(NAMES, category_dim=4), ValueError, "Labelled"),
        (lambda: charrnn.fit(NAMES, time_budget="1m", epochs=3), ValueError, "epochs"),
        (lambda: charrnn.fit(NAMES, time_budget="1m", batch_size="8"), TypeError, "batch_size"),
    ],
)
def test_fit_refuses_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_resumed_run_of_fit_mixes_when_asked(tmp_path, one_kernel_thread):
    from charrnn.data import training_split

    ckpt = tmp_path / "run.ckpt.safetensors"
    charrnn.fit(NAMES, hidden=16, embed=8, epochs=1, checkpoint=ckpt)
    train_items, val_items, _ = training_split(NAMES, None, 0.1, 0)  # fit's split, as its docstring says
    model, history = charrnn.resume(ckpt, train_items, val_items, epochs=2, mix=True, out=tmp_path / "m.safetensors")
    assert len(history) == 2 and model.mixture is not None
    assert charrnn.load(tmp_path / "m.safetensors").mixture is not None
