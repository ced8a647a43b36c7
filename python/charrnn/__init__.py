"""charrnn: character-level RNN/LSTM/GRU language models with Rust kernels.

Learn from a list of names (or any short texts) and generate more like them::

    import charrnn

    names = charrnn.datasets.russian_names("first")
    train_items, val_items = charrnn.split(names, val_fraction=0.1, seed=0)
    vocab = charrnn.Vocab.from_items(names)
    model = charrnn.CharRNN(vocab, cell="lstm", hidden=128, layers=1)
    history = charrnn.train(model, train_items, val_items, epochs=10)
    print(model.sample(n=5, temperature=0.8, seed=1))
    model.save("names.safetensors")
    model = charrnn.load("names.safetensors")
"""

from __future__ import annotations

from importlib import metadata as _metadata

from . import datasets
from ._core import get_num_threads, set_num_threads
from .checkpoint import load
from .classify import classify
from .data import NameBatches, load_lines, split
from .errors import (
    CharRNNError,
    CheckpointError,
    DataError,
    ResumeError,
    TrainingDivergedError,
    TrainingInterrupted,
    UnknownCharacterError,
)
from .labelled import Labelled
from .metrics import bits_per_char, perplexity
from .model import CharRNN
from .ngram import NGram
from .sampling import sample_filtered
from .schedule import EarlyStopping, LRSchedule
from .scoring import score
from .text import TextBatches, evaluate_text, generate_text, load_text, split_text, text_vocab
from .text_state import load_text_checkpoint, resume_text
from .text_training import TextHistory, TextRecord, train_text
from .training import EpochRecord, History, train
from .training_state import load_training_checkpoint, resume
from .vocab import Vocab

try:
    __version__ = _metadata.version("charrnn")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "EarlyStopping",
    "LRSchedule",
    "TextBatches",
    "TextHistory",
    "TextRecord",
    "evaluate_text",
    "generate_text",
    "load_text",
    "split_text",
    "text_vocab",
    "train_text",
    "Labelled",
    "classify",
    "sample_filtered",
    "score",
    "get_num_threads",
    "set_num_threads",
    "CharRNN",
    "NGram",
    "CharRNNError",
    "CheckpointError",
    "DataError",
    "EpochRecord",
    "History",
    "NameBatches",
    "ResumeError",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "UnknownCharacterError",
    "Vocab",
    "__version__",
    "bits_per_char",
    "datasets",
    "load",
    "load_lines",
    "load_training_checkpoint",
    "perplexity",
    "resume",
    "resume_text",
    "load_text_checkpoint",
    "split",
    "train",
]
