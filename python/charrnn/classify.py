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

__all__ = ["classify", "category_log_likelihoods", "log_prior", "predict", "accuracy", "Prior"]

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
