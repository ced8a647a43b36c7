""":func:`fit`: what ``charrnn train`` does, from Python — data in, trained model out.

:func:`charrnn.train` trains a model the caller built, with the caller's options;
:func:`fit` makes every choice the command line makes when nothing else is typed: the
split (a random 10% of the names, 5%/5% of a text), the alphabet, the mode's defaults
(:meth:`TrainConfig.for_mode`) and, with a ``time_budget``, the model's size, the
regularisers and the mixture with the n-gram — so that ::

    model, history = charrnn.fit(names, time_budget="5m")

is the same run as ``charrnn train names.txt --time-budget 5m``.  The decisions a budget
makes before the first step are :func:`budget_choice`'s, which the command line calls too.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from ..budget import BudgetPlan, parse_duration
from ..counted import Counted, split_weights
from ..data import training_split
from ..labelled import Labelled
from ..model import DEFAULT_CATEGORY_DIM, CharRNN
from ..records import History, TextHistory
from ..sampling import SEEN_KEY, SeenNames
from ..sources import NamesSource, TextSource
from ..text import check_unseen, split_text, text_vocab
from ..vocab import Vocab
from .api import _plan, train, train_text
from .config import MODES, REGULARISERS, TrainConfig, budget_regularisers, without_given
from .replay import load_plan, plan_of, recorded_run
from .sizing import choose_size

__all__ = ["fit", "budget_choice", "BudgetChoice"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
# The model's shape: fit's own arguments, not the trainer's.
_SHAPE = ("cell", "hidden", "layers", "embed")


@dataclass(frozen=True)
class BudgetChoice:
    """What a time budget decides before training: the size, how many times the budget goes
    over the data at that size (None: not measured — text, a conditional model), the
    regularisers it turns on (only those not given) and the seconds left for training
    (``--size auto`` takes the seconds it measures from the budget)."""

    hidden: int
    layers: int
    passes: Optional[float]
    regularisers: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    measured: float = 0.0  # seconds spent measuring this machine's speed for the size
    auto: bool = False  # whether the size was chosen (else given)


def budget_choice(
    mode: str,
    vocab: Vocab,
    make_source: Callable[[CharRNN], Any],
    chars: int,
    seconds: float,
    *,
    current: dict[str, Any],
    given: Collection[str] = (),
    size: Optional[tuple[int, int]] = None,
    items: Optional[int] = None,
    plan: Optional[BudgetPlan] = None,
    recorded: Optional[dict[str, Any]] = None,
    batch_size: int = 32,
    cell: str = "lstm",
    embed: int = 32,
) -> BudgetChoice:
    """The size and regularisers of a run with a budget of ``seconds`` on ``chars`` training
    characters (``items`` names; None: a text, or a conditional model, whose passes are not
    measured), ``current`` the run's regularisers before the budget's (by their
    :data:`~charrnn.training.config.REGULARISERS` names).

    ``size`` None: chosen for this machine (:func:`charrnn.training.sizing.choose_size`, on
    ``make_source(model)``'s batches; the seconds it takes come out of the budget); given,
    a few steps of it are timed (not taken from the budget) to count the passes.  With
    ``plan``, its steps of ``batch_size`` count the passes instead, so that the plan alone
    decides.  The regularisers are :func:`~charrnn.training.config.budget_regularisers` for
    those passes (``recorded``: those of the run that made the plan), minus the options in
    ``given``; text's do not depend on the passes, so its speed is measured with them on."""
    chosen: dict[str, Any] = {}
    if mode == "text":
        chosen = without_given(recorded, given) if recorded is not None else budget_regularisers("text", None, given)
    dropout = TrainConfig(**{**{k: current[k] for k in REGULARISERS if k in current}, **chosen}).dropouts
    measure = functools.partial(
        choose_size, mode, vocab, make_source, chars, seconds, cell=cell, embed=embed, dropout=dropout
    )
    t0 = time.perf_counter()
    if size is None:
        hidden, layers, passes = measure()
    elif items is not None and plan is None:
        hidden, layers, passes = measure(size=size)
    else:
        (hidden, layers), passes = size, None
    measured = time.perf_counter() - t0 if size is None else 0.0
    if items is None:
        passes = None
    elif plan is not None:
        passes = plan.passes(batch_size, items)
    if mode != "text":
        chosen = without_given(recorded, given) if recorded is not None else budget_regularisers(mode, passes, given)
    return BudgetChoice(
        hidden=hidden,
        layers=layers,
        passes=passes,
        regularisers=chosen,
        seconds=max(1.0, seconds - measured) if size is None else seconds,
        measured=measured,
        auto=size is None,
    )


def fit(
    data: Union[Sequence[str], str],
    val: Optional[Union[Sequence[str], str]] = None,
    *,
    mode: Optional[str] = None,
    time_budget: Optional[Union[str, float]] = None,
    cell: Optional[str] = None,
    hidden: Optional[int] = None,
    layers: Optional[int] = None,
    embed: Optional[int] = None,
    category_dim: Optional[int] = None,
    test: Optional[str] = None,
    val_fraction: Optional[float] = None,
    test_fraction: Optional[float] = None,
    mix: Optional[bool] = None,
    out: Optional[PathLike] = None,
    **options: Any,
) -> tuple[CharRNN, Union[History, TextHistory]]:
    """Train a new model on ``data`` as ``charrnn train`` does; returns ``(model, history)``.

    ``data``: a list of names (or a :class:`charrnn.Counted` list: frequency-aware,
    ``weight_power`` its exponent; or a :class:`charrnn.Labelled` one: a conditional model,
    ``category_dim`` its category embedding), or a string of text (``mode`` defaults to
    ``"text"`` for a string, else ``"names"``).  ``val`` (a list of names, a ``Counted``
    one, or for text a string, as is ``test``) replaces the held-out fractions
    (``val_fraction``, ``test_fraction``; the mode's defaults: 10% of the names, drawn with
    ``seed``; the next and the last 5% of a text).  The alphabet is the training data's.

    Every option of :func:`charrnn.train` / :func:`charrnn.train_text` not given takes the
    mode's default of the command line (:meth:`TrainConfig.for_mode`: for names lr 0.003,
    dropout 0.2, 40 epochs — none with ``max_steps`` alone —, ...), and so do ``cell``,
    ``hidden``, ``layers`` and ``embed``.  With ``time_budget`` (``"5m"``, ``"1h"``, seconds;
    or a ``plan`` — a :class:`~charrnn.budget.BudgetPlan`, its dict or a file as ``charrnn train
    --plan`` takes it; a model, a checkpoint, a ``--json`` record or a record's ``plan`` dict
    also brings its run's size and regularisers —,
    which brings its own), which replaces ``epochs``, ``max_steps`` and the
    ``lr_decay`` options (giving them too is a ValueError): without ``hidden``/``layers``
    the size is chosen for this machine and the budget (``charrnn train --size auto``), the
    regularisers not given are the budget's (they depend on how many times it goes over the
    names; :func:`budget_choice`), and a names model without categories is mixed with the
    n-gram of its training names when that beats it on the validation names (``mix``:
    None, on with a budget; True or False to choose).  ``out``: the best model so far is
    written there (names: with the names seen, for ``sample --novel``), and at the end the
    model returned (the mixture included).  With ``checkpoint`` a resumable state is kept
    there: :func:`charrnn.resume` carries it on, given the same split
    (:func:`charrnn.data.training_split` of ``data`` with ``seed``; ``mix=True`` to mix at
    its end).
    """
    mode = mode or ("text" if isinstance(data, str) else "names")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    unknown = sorted(set(options) - _TRAIN_OPTIONS[mode])
    if unknown:
        raise TypeError(f"fit() got unexpected option(s) for mode {mode!r}: {', '.join(unknown)}")
    recorded = None
    if isinstance(options.get("plan"), (str, os.PathLike, dict)):  # a file or a record's plan brings more
        path = options["plan"]
        options = {**options, "plan": plan_of(path) if isinstance(path, dict) else load_plan(path)}
        size, recorded = recorded_run(path)
        if size is not None and hidden is None and layers is None:  # the size of the run that made the plan
            hidden, layers = size
    seconds = None if time_budget is None else parse_duration(time_budget)
    if seconds is None and options.get("plan") is not None:  # a plan brings its budget
        seconds = _plan(options["plan"]).seconds
    if seconds is not None:
        clash = sorted(set(options) & set(_BUDGETED))
        if clash:
            raise ValueError(f"a time budget decides how long the run is and its rate: do not give {', '.join(clash)}")
    request = _Request(
        config=TrainConfig.for_mode(mode),
        shape={"cell": cell, "hidden": hidden, "layers": layers, "embed": embed},
        seconds=seconds,
        recorded=recorded,
        out=out,
        options=options,
    )
    if mode == "text":
        if not isinstance(data, str):
            raise TypeError(f"mode 'text' trains on a string of text, got {type(data).__name__}")
        for name, value in (("val", val), ("test", test)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} of a text must be a string, got {type(value).__name__}")
        if mix:
            raise ValueError("mix=True is for names: a text has no n-gram mixture")
        if category_dim is not None:
            raise ValueError("category_dim is for a Labelled list of names")
        return _fit_text(data, val, test, val_fraction, test_fraction, request)
    if isinstance(data, str):
        raise TypeError("mode 'names' trains on a list of names, got a string (mode='text' for a text)")
    if test is not None or test_fraction is not None:
        raise ValueError("test= and test_fraction= are for text; names are measured on val")
    _check_names(data, "data")
    if val is not None:
        _check_names(val, "val")
    if "weight_power" in options and not isinstance(data, Counted):
        raise ValueError("weight_power needs counts: give data as a charrnn.Counted list")
    if category_dim is not None and not isinstance(data, Labelled):
        raise ValueError("category_dim is for a Labelled list of names (a conditional model)")
    return _fit_names(data, val, val_fraction, category_dim, mix, request)


def _check_names(items: Any, name: str) -> None:
    """A TypeError naming ``name`` unless ``items`` is a list of strings (or a Counted/Labelled one)."""
    if isinstance(items, (Counted, Labelled)):
        return
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise TypeError(f"{name} must be a list of names (strings), got {type(items).__name__}")
    bad = next((item for item in items if not isinstance(item, str)), None)
    if bad is not None:
        raise TypeError(f"{name} must be a list of names (strings); it holds a {type(bad).__name__}: {bad!r}")


@dataclass(frozen=True)
class _Request:
    """What both modes of :func:`fit` take from its call: the mode's defaults, the shape
    given (None: the default, or the budget's), the budget in seconds, the regularisers a
    plan's run recorded, where to save and the trainer's options given."""

    config: TrainConfig
    shape: dict[str, Any]
    seconds: Optional[float]
    recorded: Optional[dict[str, Any]]
    out: Optional[PathLike]
    options: dict[str, Any]

    def run(
        self, vocab: Vocab, make_source: Callable[[CharRNN, dict[str, Any]], Any], chars: int, *,
        items: Optional[int] = None, keep_size: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """``(run, size)``: the trainer's options and the model's shape — with a budget, as
        :func:`budget_choice` decides them for ``chars`` training characters of ``items``
        names on ``make_source(model, run)``'s batches (``keep_size``: the size stays the
        default or given one, as for a conditional model)."""
        run = _options(self.config, self.options, self.seconds)
        size = {key: getattr(self.config, key) if self.shape[key] is None else self.shape[key] for key in _SHAPE}
        if self.seconds is None:
            return run, size
        auto = self.shape["hidden"] is None and self.shape["layers"] is None and not keep_size
        choice = budget_choice(
            self.config.mode,
            vocab,
            lambda model: make_source(model, run),
            chars,
            self.seconds,
            current=run,
            given=set(self.options) & set(REGULARISERS),
            size=None if auto else (size["hidden"], size["layers"]),
            items=items,
            plan=_plan(self.options.get("plan")),
            recorded=self.recorded,
            batch_size=run["batch_size"],
            cell=size["cell"],
            embed=size["embed"],
        )
        size["hidden"], size["layers"] = choice.hidden, choice.layers
        if choice.auto:
            logger.info(
                "size auto: hidden %d x %d layer(s) (measuring took %.1f s of the budget)",
                choice.hidden,
                choice.layers,
                choice.measured,
            )
        if choice.passes is not None:
            logger.info("budget: about %.1f passes over the data; regularisers %s", choice.passes, choice.regularisers)
        return {**run, **choice.regularisers, "time_budget": choice.seconds}, size


def _fit_names(
    data: Sequence[str],
    val: Optional[Sequence[str]],
    val_fraction: Optional[float],
    category_dim: Optional[int],
    mix: Optional[bool],
    request: _Request,
) -> tuple[CharRNN, History]:
    config = request.config
    seed = request.options.get("seed", config.seed)
    items: Sequence[str] = data.items if isinstance(data, Counted) else data
    val_counts = None
    if isinstance(val, Counted):
        val, val_counts = val.items, val.counts
    train_items, val_items, moved = training_split(
        items, val, config.val_fraction if val_fraction is None else val_fraction, seed
    )
    if moved:
        logger.info("moved %d validation item(s) with characters found in no training item to training", moved)
    weighting: dict[str, Any] = {}
    if isinstance(data, Counted):
        weighting = split_weights(data, train_items, [] if val_counts is not None else val_items, "the counted list")
    if val_counts is not None:
        weighting["val_weights"] = list(val_counts)
    labelled = isinstance(train_items, Labelled)
    mix = request.seconds is not None and not labelled if mix is None else mix
    if mix and labelled:
        raise ValueError("mix=True takes names without categories (not a Labelled list)")
    vocab = Vocab.from_items(train_items)
    run, size = request.run(
        vocab,
        lambda model, run: NamesSource(model, train_items, batch_size=run["batch_size"], seed=seed),
        sum(len(item) + 1 for item in train_items),  # + the end of each item
        items=None if labelled else len(train_items),
        keep_size=labelled,  # a conditional model keeps its size (its passes are not measured), as on the command line
    )
    categories = {}
    if labelled:
        categories = {"categories": train_items.categories, "category_dim": category_dim or DEFAULT_CATEGORY_DIM}
    model = CharRNN(vocab, **size, seed=seed, mode="names", **categories)
    seen = {SEEN_KEY: SeenNames.from_items([*train_items, *val_items]).to_metadata()}
    split = {"train_items": len(train_items), "val_items": len(val_items)}
    history = train(
        model,
        train_items,
        val_items or None,
        out=request.out,
        out_metadata=lambda h: (_summary(run, h, split), seen),
        mix=bool(mix) and len(val_items) >= 2,
        **weighting,
        **run,
    )
    if model.mixture is None:  # (a mixed model was just saved by train, with this same record)
        _save(model, request.out, _summary(run, history, split), seen)
    return model, history


def _fit_text(
    text: str,
    val: Optional[str],
    test: Optional[str],
    val_fraction: Optional[float],
    test_fraction: Optional[float],
    request: _Request,
) -> tuple[CharRNN, TextHistory]:
    config = request.config
    vf = 0.0 if val is not None else (config.val_fraction if val_fraction is None else val_fraction)
    tf = 0.0 if test is not None else (config.test_fraction or 0.0) if test_fraction is None else test_fraction
    train_part, val_part, test_part = split_text(text, vf, tf)
    for name, part in (("val", val), ("test", test)):
        if part is not None:  # as charrnn train --val FILE: nothing trained on text could predict them
            check_unseen(train_part, part, name)
    val_part = val if val is not None else val_part
    test_part = test if test is not None else test_part
    vocab = text_vocab(text)
    run, size = request.run(
        vocab,
        lambda model, run: TextSource(model, train_part, batch_size=run["batch_size"], seq_len=run["seq_len"]),
        len(train_part),
    )
    model = CharRNN(vocab, **size, seed=run["seed"], mode="text")
    split = {"train_chars": len(train_part), "val_chars": len(val_part), "test_chars": len(test_part)}
    history = train_text(
        model,
        train_part,
        val_part or None,
        test_part or None,
        out=request.out,
        out_metadata=lambda h: (_summary(run, h, split), None),
        **run,
    )
    _save(model, request.out, _summary(run, history, split), None)
    return model, history


def _save(model: CharRNN, out: Optional[PathLike], extra: dict[str, Any], metadata: Optional[dict[str, str]]) -> None:
    """The model returned, into ``out``, as train left it and with the whole run's record (the
    best model written during training has the record of its time)."""
    if out is not None:
        from ..checkpoint import save

        save(model, out, extra=extra, extra_metadata=metadata)


# The options of train / train_text that fit passes on (its own arguments aside).  A Counted
# list brings the weights: fit splits the data, so weights given per item could not follow.
_COMMON = {
    "batch_size", "lr", "clip", "seed", "max_steps", "callback", "log_every", "epochs", "patience",
    "checkpoint", "checkpoint_every", "checkpoint_info", "progress", "log",
    "lr_decay", "lr_decay_every", "lr_decay_start", "plan", *REGULARISERS,
}  # fmt: skip
_TRAIN_OPTIONS = {
    "names": _COMMON | {"weight_power"},
    "text": _COMMON | {"seq_len", "eval_every", "eval_batch_size"},
}
# The options whose default is the mode's (TrainConfig's); the rest default to the trainer's.
_CONFIGURED = (
    "batch_size", "lr", "clip", "seed", "max_steps", "epochs", "patience", "log_every", "checkpoint_every",
    "lr_decay", "lr_decay_every", "lr_decay_start", *REGULARISERS,
)  # fmt: skip
_TEXT_CONFIGURED = ("seq_len", "eval_every", "eval_batch_size")
# What a time budget decides instead.
_BUDGETED = ("epochs", "max_steps", "lr_decay", "lr_decay_every", "lr_decay_start")


def _options(config: TrainConfig, options: dict[str, Any], seconds: Optional[float]) -> dict[str, Any]:
    """The trainer's options: those given, the others the mode's defaults (a budget replaces
    epochs, max_steps and the decay, as on the command line; ``max_steps`` alone sets no
    epoch limit), checked before anything is measured."""
    keys = _CONFIGURED + (_TEXT_CONFIGURED if config.mode == "text" else ())
    run = {key: getattr(config, key) for key in keys}
    if seconds is not None:
        run.update(epochs=None, max_steps=None, lr_decay=1.0, lr_decay_every=1, lr_decay_start=0)
    elif options.get("max_steps") and "epochs" not in options:
        run["epochs"] = None
    run["progress"] = None  # a bar when stderr is a terminal
    run.update(options)
    run["time_budget"] = seconds
    TrainConfig.from_options(config.mode, run)  # a bad option fails here, before a size is measured
    return run


def _summary(run: dict[str, Any], history: Any, split: dict[str, int]) -> dict[str, Any]:
    """What the model file records of the run (its ``training`` metadata): the options that
    are plain values — the regularisers among them, so that the file can be a ``--plan`` —,
    the split's sizes, the epochs and steps done, the best evaluation, the history and the plan."""
    out = {k: v for k, v in run.items() if v is None or isinstance(v, (bool, int, float, str))}
    out.update(
        split,
        epochs=len(history.epochs) if isinstance(history, TextHistory) else len(history),
        steps=history[-1].step if history else 0,
        best_epoch=history.best_epoch,
        best_val_nll=history.best_val_nll,
        history=history.to_dicts(),
        plan=history[-1].plan if history else None,
    )
    return out
