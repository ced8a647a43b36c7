"""Classifying names with a conditional model, by Bayes' rule.

A conditional model gives the probability of a whole name given each category,
``P(name | c)`` (the product of its next-character probabilities, end marker included).
With a prior ``P(c)``, Bayes' rule gives the category's probability given the name::

    P(c | name) = P(name | c) P(c) / sum_k P(name | k) P(k)

computed in log space (a log-sum-exp), so long names do not underflow.  The prior is, by
default, the share of each category among the items the model was trained on
(``model.category_counts``, stored in the checkpoint); ``prior="uniform"`` gives every
category the same weight, and a mapping ``{category: weight}`` any other (weights are
normalised).  A model without counts (e.g. imported from PyTorch) uses the uniform prior.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np

from .labelled import Labelled
from .model import CharRNN

__all__ = [
    "classify",
    "category_log_likelihoods",
    "log_prior",
    "predict",
    "accuracy",
    "Prior",
    "ending_rule",
    "reliability",
    "evaluate_classifier",
]

logger = logging.getLogger(__name__)

Prior = Union[str, Mapping[str, float]]


def _require_conditional(model: CharRNN) -> tuple[str, ...]:
    if model.categories is None:
        raise ValueError("classification needs a conditional model (trained with categories)")
    return model.categories


def log_prior(model: CharRNN, prior: Prior = "training") -> np.ndarray:
    """``[K]`` natural log of the prior of each category (see the module's documentation)."""
    categories = _require_conditional(model)
    K = len(categories)
    if isinstance(prior, str):
        if prior == "uniform" or (prior == "training" and model.category_counts is None):
            if prior == "training":
                logger.info("the model has no training counts per category: using a uniform prior")
            return np.full(K, -np.log(K))
        if prior != "training":
            raise ValueError(f"prior must be 'training', 'uniform' or a mapping, got {prior!r}")
        weights = np.asarray(model.category_counts, dtype=np.float64)
    elif isinstance(prior, Mapping):
        unknown = sorted(set(prior) - set(categories))
        if unknown:
            raise ValueError(f"the prior names unknown categories: {', '.join(map(str, unknown))}")
        weights = np.array([float(prior.get(c, 0.0)) for c in categories])
        if not np.all(np.isfinite(weights)) or (weights < 0).any():
            raise ValueError("prior weights must be finite and non-negative")
    else:
        raise TypeError(f"prior must be 'training', 'uniform' or a mapping, got {type(prior).__name__}")
    total = weights.sum()
    if not total > 0:
        raise ValueError("the prior weights add up to zero")
    with np.errstate(divide="ignore"):
        return np.log(weights / total)


def category_log_likelihoods(model: CharRNN, names: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """``[N, K]``: the natural log of ``P(name | category)`` for each name and category."""
    categories = _require_conditional(model)
    out = np.empty((len(names), len(categories)), dtype=np.float64)
    for k in range(len(categories)):
        out[:, k] = model.log_probs(names, batch_size=batch_size, category=k)
    return out


def _posteriors(model: CharRNN, names: Sequence[str], prior: Prior) -> np.ndarray:
    joint = category_log_likelihoods(model, names) + log_prior(model, prior)[None, :]
    top = joint.max(axis=1, keepdims=True)
    post = np.exp(joint - top)
    return post / post.sum(axis=1, keepdims=True)


def classify(model: CharRNN, names: Sequence[str], prior: Prior = "training") -> list[dict[str, float]]:
    """For each name, ``{category: P(category | name)}`` (the values add up to 1), in the
    model's category order."""
    if isinstance(names, str):
        raise TypeError("names must be a list of names, not one string")
    categories = _require_conditional(model)
    if len(names) == 0:
        return []
    post = _posteriors(model, list(names), prior)
    return [{c: float(p) for c, p in zip(categories, row, strict=True)} for row in post]


def predict(model: CharRNN, names: Sequence[str], prior: Prior = "training") -> list[str]:
    """The most probable category of each name."""
    categories = _require_conditional(model)
    if len(names) == 0:
        return []
    return [categories[int(k)] for k in _posteriors(model, list(names), prior).argmax(axis=1)]


def accuracy(model: CharRNN, items: Labelled, prior: Prior = "training") -> float:
    """The share of ``items`` whose most probable category is their label."""
    if not isinstance(items, Labelled):
        raise TypeError("accuracy needs labelled items (charrnn.Labelled)")
    if len(items) == 0:
        raise ValueError("cannot measure accuracy on no items")
    predicted = predict(model, list(items), prior)
    return float(np.mean([p == items.category_of(i) for i, p in enumerate(predicted)]))


# -- how good and how honest a classifier is ----------------------------------------------

FEMININE_ENDINGS = ("а", "я")


def ending_rule(name: str) -> str:
    """The baseline a gender classifier must beat: ``"female"`` when the name ends in а or
    я (Анна, Мария), else ``"male"`` (Иван, Игорь; wrong for Никита, Илья, Любовь, Гульназ)."""
    return "female" if name.strip().lower().endswith(FEMININE_ENDINGS) else "male"


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Calibration of predictions: ``confidence[i]`` the probability given to the predicted
    category of item ``i``, ``correct[i]`` whether that was the label.  Returns
    ``{"ece": ..., "bins": [{"low", "high", "n", "confidence", "accuracy"}, ...]}``: the
    expected calibration error is the mean over items of |accuracy - confidence| of their
    bin (equal-width bins of confidence; empty bins are left out)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.shape != correct.shape or confidence.ndim != 1 or len(confidence) == 0:
        raise ValueError("confidence and correct must be non-empty 1-D arrays of the same length")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if n == 0:
            continue
        conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += n * abs(acc - conf)
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": n, "confidence": conf, "accuracy": acc})
    return {"ece": ece / len(confidence), "bins": rows}


def evaluate_classifier(model: CharRNN, items: Labelled, prior: Prior = "training", bins: int = 10) -> dict:
    """How the model classifies labelled ``items``: ``{"items", "accuracy", "nll" (mean
    -log P(label | name)), "ece", "reliability" (the bins of :func:`reliability`),
    "per_category": {c: accuracy}}``, and, when the categories are ``male``/``female``,
    ``"ending_rule_accuracy"`` (:func:`ending_rule` on the same items).  Labels must be
    categories of the model."""
    if not isinstance(items, Labelled):
        raise TypeError("evaluate_classifier needs labelled items (charrnn.Labelled)")
    if len(items) == 0:
        raise ValueError("cannot evaluate a classifier on no items")
    categories = _require_conditional(model)
    unknown = sorted(set(items.categories) - set(categories))
    if unknown:
        raise ValueError(
            f"labels that are not categories of the model: {', '.join(unknown)} (it has {', '.join(categories)})"
        )
    labels = np.array([categories.index(items.category_of(i)) for i in range(len(items))])
    post = _posteriors(model, list(items), prior)
    predicted = post.argmax(axis=1)
    correct = predicted == labels
    calibration = reliability(post.max(axis=1), correct, bins)
    out = {
        "items": len(items),
        "accuracy": float(correct.mean()),
        "nll": float(-np.log(np.maximum(post[np.arange(len(items)), labels], 1e-300)).mean()),
        "ece": calibration["ece"],
        "reliability": calibration["bins"],
        "per_category": {
            c: float(correct[labels == k].mean()) for k, c in enumerate(categories) if (labels == k).any()
        },
    }
    if set(categories) == {"male", "female"}:
        rule = np.array([ending_rule(name) == items.category_of(i) for i, name in enumerate(items)])
        out["ending_rule_accuracy"] = float(rule.mean())
    return out
