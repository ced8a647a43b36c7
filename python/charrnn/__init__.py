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
from .checkpoint import load
from .data import NameBatches, load_lines, split
from .errors import CharRNNError, CheckpointError, DataError, UnknownCharacterError
from .metrics import bits_per_char, perplexity
from .model import CharRNN
from .training import EpochRecord, History, train
from .vocab import Vocab

try:
    __version__ = _metadata.version("charrnn")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "CharRNN",
    "CharRNNError",
    "CheckpointError",
    "DataError",
    "EpochRecord",
    "History",
    "NameBatches",
    "UnknownCharacterError",
    "Vocab",
    "__version__",
    "bits_per_char",
    "datasets",
    "load",
    "load_lines",
    "perplexity",
    "split",
    "train",
]
