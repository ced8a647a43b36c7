"""The public training functions: :func:`train` and :func:`resume` for names,
:func:`train_text` and :func:`resume_text` for continuous text — each builds a
:class:`~charrnn.training.config.TrainConfig` and a batch source and runs the one
:class:`~charrnn.training.trainer.Trainer`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Optional

from ..budget import BudgetPlan, parse_duration
from ..counted import DEFAULT_WEIGHT_POWER, Counted
from ..model import CharRNN
from ..records import EpochRecord, History, TextHistory, TextRecord
from ..sources import NamesSource, TextSource
from ..text import DEFAULT_SEQ_LEN, DEFAULT_TEXT_BATCH
from .config import TrainConfig
from .state import (
    TrainingState,
    load_text_checkpoint,
    load_training_checkpoint,
    resumed_options,
)
from .trainer import BestModel, Trainer

__all__ = ["train", "resume", "train_text", "resume_text"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
# Arguments that are not options of the run: the model, the data, what to call and where
# to write.  Everything else that is a plain value is stored in checkpoints.
_NOT_OPTIONS = frozenset(
    {
        "model",
        "train_items",
        "val_items",
        "train_text",
        "val_text",
        "test_text",
        "callback",
        "resume",
        "checkpoint",
        "checkpoint_info",
        "out",
        "out_metadata",
        "weights",
        "val_weights",
        "plan",
        "mix",
    }
)


def run_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The JSON-representable arguments of a training call that define the run (what its
    checkpoints store and a resumed run is checked against)."""
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key in _NOT_OPTIONS or key.startswith("_"):
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


def train(
    model: CharRNN,
    train_items: Sequence[str],
    val_items: Optional[Sequence[str]] = None,
    epochs: Optional[int] = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    clip: Optional[float] = 5.0,
    seed: int = 0,
    max_steps: Optional[int] = None,
    callback: Optional[Callable[[EpochRecord], None]] = None,
    log_every: Optional[int] = 100,
    dropout: float = 0.0,
    checkpoint: Optional[PathLike] = None,
    checkpoint_every: Optional[int] = None,
    resume: Optional[TrainingState] = None,
    checkpoint_info: Optional[dict[str, Any]] = None,
    progress: Optional[bool] = False,
    log: Optional[PathLike] = None,
    lr_decay: float = 1.0,
    lr_decay_every: int = 1,
    lr_decay_start: int = 0,
    patience: Optional[int] = None,
    out: Optional[PathLike] = None,
    out_metadata: Optional[BestModel] = None,
    weights: Optional[Sequence[float]] = None,
    val_weights: Optional[Sequence[float]] = None,
    weight_power: float = DEFAULT_WEIGHT_POWER,
    time_budget: Optional[str | float] = None,
    plan: Optional[BudgetPlan | dict[str, Any]] = None,
    variational: bool = False,
    input_dropout: float = 0.0,
    embed_dropout: float = 0.0,
    weight_drop: float = 0.0,
    weight_decay: float = 0.0,
    ema: float = 0.0,
    mix: bool = False,
) -> History:
    """Train ``model`` in place on a list of items (names) and return its :class:`History`.

    Frequency-aware training: ``weights`` (one count per training item), or
    ``train_items`` given as a :class:`charrnn.Counted` list, draw each epoch's items in
    proportion to ``count ** weight_power`` (see :class:`charrnn.sources.NamesSource`);
    ``val_weights`` (or a ``Counted`` ``val_items``) add ``val_nll_weighted``, the
    per-occurrence validation NLL, to the records.

    Training stops after ``epochs`` epochs or ``max_steps`` optimizer steps, whichever
    comes first (``epochs=None``: only the step budget counts; an epoch cut short by the
    budget still gets its record).  ``seed`` fixes the order of the data and the dropout
    masks; ``clip`` is the maximum global gradient norm (None or ``inf``: no clipping);
    ``dropout`` drops the inputs of layers 1.. and of the output layer during training
    steps (with ``variational``, one mask per sequence instead of one per position);
    ``input_dropout`` drops each sequence's character embeddings, ``embed_dropout`` whole
    characters of the embedding table and ``weight_drop`` recurrent weights (see
    :mod:`charrnn.dropout`).  ``callback`` gets each epoch's record as soon as it exists; every
    ``log_every`` steps a progress line goes to the logger (None: never).  On return — or
    on KeyboardInterrupt — the model holds the weights of the epoch with the best
    validation NLL (without ``val_items``: the last weights).

    Reliability (see :mod:`charrnn.training.state`): with ``checkpoint`` (a path), a
    resumable training checkpoint is written there atomically at the end of every epoch,
    every ``checkpoint_every`` steps, at the end and when training is interrupted, with
    ``checkpoint_info`` (a JSON-serialisable dict) as its ``training`` metadata;
    ``resume`` (the state of :func:`~charrnn.training.state.load_training_checkpoint`,
    with the model it returned) carries on that run exactly — easiest through
    :func:`charrnn.resume`.  With ``out`` (a path) the best model so far is written there
    atomically as soon as there is one (``out_metadata(history)`` may give its
    ``(training metadata, extra metadata)``), and a Ctrl-C leaves it there.  The first
    Ctrl-C (SIGINT) or SIGTERM lets the current step finish, writes the checkpoint and
    raises :class:`~charrnn.errors.TrainingInterrupted` (a KeyboardInterrupt); a loss or
    gradient that is NaN or infinite raises :class:`~charrnn.errors.TrainingDivergedError`
    before it touches the weights.

    Seeing it (see :mod:`charrnn.progress`): ``progress`` shows a bar with the running
    loss and characters per second during each epoch (None: only when stderr is a
    terminal); ``log`` (a path) gets one JSON line per evaluation.  A conditional model
    (``CharRNN(categories=...)``) trains on :class:`charrnn.Labelled` items; their counts
    per category become ``model.category_counts``, the prior of :func:`charrnn.classify`.

    Schedule (see :mod:`charrnn.training.schedule`): the learning rate of epoch ``e`` is
    ``lr * lr_decay ** n``, ``n`` the number of epochs ``k < e`` with
    ``k >= lr_decay_start`` and ``k % lr_decay_every == 0`` (char-rnn: ``lr_decay=0.97,
    lr_decay_start=10``); with ``patience`` training stops once that many epochs in a row
    brought no lower validation NLL (``history.stopped_early``), keeping the best weights.

    Time budget (see :mod:`charrnn.budget`): ``time_budget`` (``"5m"``, ``"1h"``, or
    seconds) replaces ``epochs``, ``max_steps`` and the decay options: the run times its
    warm-up, plans its steps, evaluations and learning rate (warm-up, then a cosine down to
    a floor) to end within the budget, evaluation included, and keeps the best weights.
    ``plan`` (a :class:`~charrnn.budget.BudgetPlan` or its ``to_dict()``, e.g. from a
    record's ``plan``) is followed from the first step instead: the same steps on any
    machine.  A resumed run keeps the plan in its checkpoint.

    Regularisers (both 0, off, by default; see :mod:`charrnn.training.optim`):
    ``weight_decay`` makes Adam AdamW — each step first multiplies the weight matrices of
    the recurrent and output layers (not the biases, not the embeddings) by ``1 - lr *
    weight_decay``, as ``torch.optim.AdamW`` does.  ``ema`` (e.g. 0.999) keeps an
    exponential moving average of the weights, with a warm-up for the first steps; the
    evaluations, early stopping, the best model, ``out`` and the weights the model holds
    at the end are the average's, while the steps go on from the raw weights.

    Mixture (see :mod:`charrnn.mixture`): training changes the network, so a mixture the
    model had is dropped first.  With ``mix`` (names without categories), once trained
    the model is mixed with a Kneser-Ney n-gram of ``train_items``, one weight per
    position fitted on ``val_items``, when that beats the network alone on ``val_items``
    (cross-fitted; :func:`charrnn.mixture.mix_if_better`), and ``out`` is rewritten with it.
    """
    if mix and (model.conditional or model.mode != "names"):
        raise ValueError("mix=True takes a names-mode model without categories")
    if model.mixture is not None:
        logger.warning("training changes the network: the mixture it had is dropped (mix=True fits a new one)")
        model.drop_mixture()
    if isinstance(train_items, Counted):
        train_items, weights = _unpack(train_items, weights, "weights")
    if isinstance(val_items, Counted):
        val_items, val_weights = _unpack(val_items, val_weights, "val_weights")
    time_budget = _budget(time_budget, plan)
    options = run_options(locals())
    config = TrainConfig.from_options("names", options)
    source = NamesSource(
        model,
        train_items,
        val_items,
        batch_size=batch_size,
        seed=seed,
        weights=weights,
        val_weights=val_weights,
        weight_power=weight_power,
    )
    history = _run(model, source, config, options, locals())
    if mix and val_items is not None and _mix(model, train_items, val_items) and out is not None:
        from ..checkpoint import save

        extra, metadata = out_metadata(history) if out_metadata is not None else (None, None)
        save(model, out, extra=extra, extra_metadata=metadata)
    return history


def _mix(model: CharRNN, train_items: Sequence[str], val_items: Sequence[str]) -> bool:
    """:func:`charrnn.mixture.mix_if_better`, logged; whether the model is now mixed."""
    from ..mixture import mix_if_better

    try:
        found = mix_if_better(model, train_items, val_items)
    except (ValueError, ArithmeticError) as e:  # the trained network stays: training is not lost
        model.drop_mixture()
        logger.warning("no mixture (%s): the model is the network alone", e)
        return False
    if found is None:
        logger.info("no mixture: it needs at least 2 validation names")
        return False
    logger.info(
        "mixture with a %d-gram: val nll %.4f (network %.4f, n-gram %.4f)%s",
        found["order"],
        found["position_mixture_nll"],
        found["network_nll"],
        found["ngram_nll"],
        "" if found["mixed"] else ": the network alone is better, not mixed",
    )
    return bool(found["mixed"])


def _unpack(counted: Counted, weights: Optional[Sequence[float]], name: str) -> tuple[list[str], list[float]]:
    if weights is not None:
        raise ValueError(f"give either a Counted list or {name}=, not both")
    return counted.items, counted.counts


def train_text(
    model: CharRNN,
    train_text: str,
    val_text: Optional[str] = None,
    test_text: Optional[str] = None,
    *,
    epochs: Optional[int] = 30,
    batch_size: int = DEFAULT_TEXT_BATCH,
    seq_len: int = DEFAULT_SEQ_LEN,
    lr: float = 2e-3,
    clip: Optional[float] = 5.0,
    dropout: float = 0.0,
    variational: bool = False,
    input_dropout: float = 0.0,
    embed_dropout: float = 0.0,
    weight_drop: float = 0.0,
    seed: int = 0,
    max_steps: Optional[int] = None,
    lr_decay: float = 1.0,
    lr_decay_every: int = 1,
    lr_decay_start: int = 0,
    patience: Optional[int] = None,
    eval_every: Optional[int] = None,
    eval_batch_size: Optional[int] = None,
    callback: Optional[Callable[[TextRecord], None]] = None,
    log_every: Optional[int] = 100,
    progress: Optional[bool] = False,
    log: Optional[PathLike] = None,
    checkpoint: Optional[PathLike] = None,
    checkpoint_every: Optional[int] = None,
    resume: Optional[TrainingState] = None,
    checkpoint_info: Optional[dict[str, Any]] = None,
    out: Optional[PathLike] = None,
    out_metadata: Optional[BestModel] = None,
    time_budget: Optional[str | float] = None,
    plan: Optional[BudgetPlan | dict[str, Any]] = None,
    weight_decay: float = 0.0,
    ema: float = 0.0,
) -> TextHistory:
    """Train ``model`` in place on continuous text; returns its :class:`TextHistory`.

    ``train_text``, ``val_text`` and ``test_text`` are strings (see
    :func:`charrnn.text.split_text`); every character must be in ``model.vocab``
    (build it with :func:`charrnn.text.text_vocab`).  ``batch_size`` parallel streams
    are read ``seq_len`` characters at a time with the state carried between batches and
    reset at each epoch start (:class:`charrnn.sources.TextSource`).

    Training stops after ``epochs`` epochs or ``max_steps`` steps, whichever comes first,
    or when ``patience`` evaluations in a row did not improve the best validation NLL.
    The learning rate of epoch ``e`` is ``lr * lr_decay ** n`` (see
    :class:`charrnn.training.schedule.LRSchedule`); ``clip`` caps the global gradient
    norm (None or ``inf``: no clipping); ``dropout`` drops the inputs of layers 1.. and of
    the output layer during training steps, with masks seeded by ``(seed, step)``;
    ``variational``, ``input_dropout``, ``embed_dropout`` and ``weight_drop`` are
    :func:`train`'s.
    Evaluations (at each epoch end, and every ``eval_every`` steps) measure the
    validation and test texts with ``eval_batch_size`` streams (default: ``batch_size``)
    and are passed to ``callback`` and written to ``log`` (JSON lines; ``progress`` shows
    a bar).  On return — and on Ctrl-C — the model holds the weights of the evaluation
    with the lowest validation NLL (without ``val_text``: the last weights), and
    ``model.mode`` is ``"text"``.

    ``checkpoint``/``checkpoint_every`` keep a resumable checkpoint (with
    ``checkpoint_info``, a JSON-serialisable dict, as its ``training`` metadata);
    ``resume`` (from :func:`charrnn.load_text_checkpoint`) continues a run — most simply
    through :func:`charrnn.resume_text`.  ``out``/``out_metadata``, ``time_budget``,
    ``plan``, ``weight_decay`` and ``ema`` are :func:`train`'s.
    """
    time_budget = _budget(time_budget, plan)
    options = run_options(locals())
    config = TrainConfig.from_options("text", options)
    source = TextSource(model, train_text, val_text, test_text, batch_size, seq_len, eval_batch_size)
    return _run(model, source, config, options, locals())  # type: ignore[return-value]


_train_text = train_text  # resume_text's argument `train_text` hides the function


def _budget(time_budget: Optional[str | float], plan: Any) -> Optional[float]:
    """The time budget in seconds (a plan without one: the plan's)."""
    if time_budget is None and plan is not None:
        return _plan(plan).seconds
    return None if time_budget is None else parse_duration(time_budget)


def _plan(plan: Any) -> Optional[BudgetPlan]:
    if plan is None or isinstance(plan, BudgetPlan):
        return plan
    if isinstance(plan, dict):
        return BudgetPlan.from_dict(plan)
    raise TypeError(f"plan must be a BudgetPlan or its to_dict(), got {type(plan).__name__}")


def _run(model: CharRNN, source: Any, config: TrainConfig, options: dict[str, Any], args: dict[str, Any]) -> History:
    return Trainer(
        model,
        source,
        config,
        callback=args["callback"],
        progress=args["progress"],
        log=args["log"],
        checkpoint=args["checkpoint"],
        checkpoint_info=args["checkpoint_info"],
        out=args["out"],
        out_metadata=args["out_metadata"],
        options=options,
        resume=args["resume"],
        plan=_plan(args["plan"]),
    ).run()


def resume(
    path: PathLike,
    train_items: Sequence[str],
    val_items: Optional[Sequence[str]] = None,
    **overrides: Any,
):
    """Carry on the names-mode training run saved in the training checkpoint ``path``.

    ``train_items``/``val_items`` must be the run's data (checked against the stored
    fingerprints).  The run's options (batch size, learning rate, seed, ...) come from the
    checkpoint; ``overrides`` may change how long it runs (``epochs``, ``max_steps``),
    what it reports (``callback``, ``log_every``, ``progress``, ``log``) and where it
    writes (``checkpoint`` — default: ``path`` itself —, ``checkpoint_every``, ``out``);
    any other option given must equal the stored one.  Returns ``(model, history)``, the
    history covering the whole run.
    """
    model, state = load_training_checkpoint(path)
    history = train(model, train_items, val_items, resume=state, **resumed_options(state.options, overrides, path))
    return model, history


def resume_text(
    path: PathLike,
    train_text: str,
    val_text: Optional[str] = None,
    test_text: Optional[str] = None,
    **overrides: Any,
):
    """Carry on the text-mode run saved in ``path``, as :func:`resume` does for names:
    the texts must be the run's, the options come from the checkpoint and ``overrides``
    may change the same ones.  Returns ``(model, history)``."""
    model, state = load_text_checkpoint(path)
    options = resumed_options(state.options, overrides, path)
    history = _train_text(model, train_text, val_text, test_text, resume=state, **options)
    return model, history
