"""The dropouts of a training step, as one value: :class:`Dropout`.

Five kinds, all inverted dropout (a kept value is divided by ``1 - p``, so evaluation
needs no rescaling), drawn by the Rust kernels from the step's seed:

- ``hidden``: the inputs of layers 1.. and of the output layer (``--dropout``), a fresh
  mask at every position, or with ``variational`` one mask per sequence reused at every
  step (Gal & Ghahramani's variational dropout: the same units are missing for a whole
  name, so the network cannot route around them from one step to the next);
- ``input``: each sequence's character embeddings, one mask per sequence (``--input-dropout``);
- ``embedding``: whole characters: a dropped row of the embedding table is zero for every
  occurrence of that character in the batch (``--embed-dropout``);
- ``weight``: DropConnect on the recurrent weights ``w_hh`` of every layer, one mask per
  batch (``--weight-drop``; Merity et al.'s weight-dropped LSTM): it regularises the
  recurrence itself without touching the state, so the fast kernels stay as they are.

``charrnn.reference.forward_backward(..., masks=)`` is the same pass in numpy, given the
masks the kernel drew (``CharRNN.forward_backward(..., details=True)``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Union

__all__ = ["Dropout", "as_dropout"]


def _probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:  # NaN fails too
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


@dataclass(frozen=True)
class Dropout:
    """Dropout probabilities of a training step (all 0: none)."""

    hidden: float = 0.0
    variational: bool = False
    input: float = 0.0
    embedding: float = 0.0
    weight: float = 0.0

    def __post_init__(self) -> None:
        for name, option in (
            ("hidden", "dropout"),
            ("input", "input_dropout"),
            ("embedding", "embed_dropout"),
            ("weight", "weight_drop"),
        ):
            object.__setattr__(self, name, _probability(getattr(self, name), option))
        if not isinstance(self.variational, bool):
            raise TypeError(f"variational must be True or False, got {self.variational!r}")

    @property
    def active(self) -> bool:
        """Whether a step draws any mask."""
        return any((self.hidden, self.input, self.embedding, self.weight))

    def kernel_kwargs(self) -> dict[str, Any]:
        """The keywords of ``_core.forward_backward``."""
        return {
            "dropout": self.hidden,
            "locked": self.variational,
            "input_dropout": self.input,
            "embed_dropout": self.embedding,
            "weight_drop": self.weight,
        }


def as_dropout(value: Union[float, Dropout]) -> Dropout:
    """A :class:`Dropout` from one (a number is ``hidden`` dropout alone)."""
    return value if isinstance(value, Dropout) else Dropout(hidden=_probability(value, "dropout"))
