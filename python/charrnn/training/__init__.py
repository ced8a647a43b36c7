"""Training, the same for names and text.

``config``    :class:`TrainConfig`, every hyperparameter with each mode's defaults
``trainer``   :class:`Trainer`, the loop (steps, evaluation, best weights, checkpoints, ...)
``optim``     :class:`Adam` and gradient clipping
``schedule``  the learning-rate schedule and early stopping
``state``     the resumable state of a run and the resume check
``api``       :func:`train`, :func:`resume`, :func:`train_text`, :func:`resume_text`
``sizing``    the speed of this machine and the size it affords (``--size auto``)
``replay``    a recorded run read back (the plan, size and regularisers of ``--plan FILE``)
``fitting``   :func:`fit`: what ``charrnn train`` chooses, from Python (a budget's size and regularisers)

The batches come from :mod:`charrnn.sources`, where the one difference between the
modes (drop the hidden state between batches, or carry it) is decided.
"""

from __future__ import annotations

from ..records import EpochRecord, History, TextHistory, TextRecord
from .api import resume, resume_text, train, train_text
from .config import TrainConfig
from .fitting import fit
from .optim import Adam, clip_grad_norm
from .schedule import EarlyStopping, LRSchedule
from .state import TrainingState, load_text_checkpoint, load_training_checkpoint
from .trainer import Trainer

__all__ = [
    "Adam",
    "EarlyStopping",
    "EpochRecord",
    "History",
    "LRSchedule",
    "TextHistory",
    "TextRecord",
    "TrainConfig",
    "Trainer",
    "TrainingState",
    "clip_grad_norm",
    "fit",
    "load_text_checkpoint",
    "load_training_checkpoint",
    "resume",
    "resume_text",
    "train",
    "train_text",
]
