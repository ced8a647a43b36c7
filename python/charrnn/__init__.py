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

or let it choose everything as ``charrnn train`` does (the split, the size for the time
budget, the regularisers, the mixture with the n-gram)::

    model, history = charrnn.fit(names, time_budget="5m", out="names.safetensors")
"""

from __future__ import annotations

from . import datasets
from ._core import get_num_threads, set_num_threads
from ._version import __version__
from .classify import classify
from .counted import Counted, load_counts
from .data import NameBatches, load_lines, split
from .errors import (
    CharRNNError,
    CheckpointError,
    DataError,
    InvalidNameError,
    MissingDependencyError,
    ResumeError,
    TrainingDivergedError,
    TrainingInterrupted,
    UnknownCharacterError,
)
from .labelled import Labelled
from .metrics import bits_per_char, perplexity
from .mixture import Mixture
from .model import CharRNN, load, pretrained
from .ngram import NGram
from .records import EpochRecord, History, TextHistory, TextRecord
from .sampling import sample_filtered
from .scoring import score
from .sources import NamesSource, TextSource
from .text import (
    TextBatches,
    evaluate_text,
    generate_text,
    load_text,
    split_text,
    text_vocab,
)
from .training import (
    EarlyStopping,
    LRSchedule,
    TrainConfig,
    Trainer,
    fit,
    load_text_checkpoint,
    load_training_checkpoint,
    resume,
    resume_text,
    train,
    train_text,
)
from .vocab import Vocab

__all__ = [
    "EarlyStopping",
    "LRSchedule",
    "NamesSource",
    "TextSource",
    "TrainConfig",
    "Trainer",
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
    "Counted",
    "load_counts",
    "classify",
    "sample_filtered",
    "score",
    "get_num_threads",
    "set_num_threads",
    "CharRNN",
    "NGram",
    "Mixture",
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
    "InvalidNameError",
    "MissingDependencyError",
    "Vocab",
    "__version__",
    "bits_per_char",
    "datasets",
    "load",
    "pretrained",
    "load_lines",
    "load_training_checkpoint",
    "perplexity",
    "resume",
    "resume_text",
    "load_text_checkpoint",
    "split",
    "train",
    "fit",
]
