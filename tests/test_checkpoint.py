"""Checkpoints: safetensors with PyTorch names and JSON metadata; a round trip keeps
everything; every kind of damage is a CheckpointError; writes are atomic."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import charrnn
from charrnn import CheckpointError, checkpoint
from conftest import make_model


def test_round_trip_keeps_weights_vocab_and_config(tmp_path, cell):
    model = make_model(cell, seed=3)
    path = tmp_path / "m.safetensors"
    model.save(path, extra={"epochs": 2, "note": "Пётр"})
    loaded = charrnn.load(path)
    assert loaded.config == model.config
    assert loaded.vocab == model.vocab
    assert list(loaded.params) == list(model.params)
    for name, p in model.params.items():
        assert loaded.params[name].dtype == np.float32 and loaded.params[name].flags.c_contiguous
        np.testing.assert_array_equal(loaded.params[name], p)
    meta = checkpoint.read_metadata(path)
    assert meta["format"] == "charrnn" and meta["format_version"] == "1"
    assert meta["training"] == {"epochs": 2, "note": "Пётр"}
    assert meta["config"]["cell"] == cell and meta["config"]["vocab_size"] == len(model.vocab)


def test_file_uses_pytorch_state_dict_names(tmp_path):
    model = make_model("lstm", layers=2)
    path = tmp_path / "m.safetensors"
    model.save(path)
    with safe_open(str(path), framework="numpy") as f:
        names = set(f.keys())
    assert names == {
        "embedding.weight",
        "fc.weight",
        "fc.bias",
        *(f"rnn.{kind}_l{k}" for k in range(2) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
    }


def test_reloaded_model_samples_the_same_names_for_the_same_seed(tmp_path):
    model = make_model("gru")
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = charrnn.load(path)
    assert loaded.sample(n=8, seed=11) == model.sample(n=8, seed=11)
    assert loaded.log_prob("Анна") == pytest.approx(model.log_prob("Анна"), rel=1e-6)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        charrnn.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("cut", [0, 5, 20, -1, -40])
def test_truncated_file_raises_checkpoint_error(tmp_path, cut):
    path = tmp_path / "m.safetensors"
    make_model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError):
        charrnn.load(path)


def test_garbage_file_raises_checkpoint_error(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"this is not a checkpoint at all, just text\n" * 10)
    with pytest.raises(CheckpointError, match="safetensors"):
        charrnn.load(path)


def rewrite(path, tensors=None, **metadata_changes):
    """Write a checkpoint like ``path`` with tensors and metadata entries replaced — as a
    crafted or buggy writer would: with a checksum that matches the new contents, so that
    the loader's other checks are what is tested."""
    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
        current = {k: f.get_tensor(k) for k in f.keys()}
    for key, value in metadata_changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    new = current if tensors is None else tensors(current)
    if "sha256" in meta and "sha256" not in metadata_changes:
        meta["sha256"] = checkpoint._digest(meta, new)
    save_file(new, str(path), metadata=meta)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.safetensors"
    make_model("lstm", layers=2).save(path)
    return path


def test_unknown_format_version_raises_checkpoint_error(saved):
    rewrite(saved, format_version="2")
    with pytest.raises(CheckpointError, match="version '2'"):
        charrnn.load(saved)


def test_foreign_safetensors_file_raises_checkpoint_error(saved):
    rewrite(saved, format=None)
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        charrnn.load(saved)


def test_missing_tensor_raises_checkpoint_error_naming_it(saved):
    rewrite(saved, tensors=lambda t: {k: v for k, v in t.items() if k != "rnn.weight_hh_l1"})
    with pytest.raises(CheckpointError, match="rnn.weight_hh_l1"):
        charrnn.load(saved)


def test_mis_shaped_tensor_raises_checkpoint_error_with_both_shapes(saved):
    rewrite(saved, tensors=lambda t: {**t, "fc.bias": np.zeros(3, np.float32)})
    with pytest.raises(CheckpointError) as info:
        charrnn.load(saved)
    message = str(info.value)
    assert "fc.bias" in message and "(3,)" in message and f"({len(make_model().vocab)},)" in message


def test_vocab_not_matching_the_embedding_raises_checkpoint_error(saved):
    small = charrnn.Vocab.from_items(["аб"])
    config = checkpoint.read_metadata(saved)["config"]
    config.pop("vocab_size")
    rewrite(saved, vocab=small.to_json(), config=json.dumps(config))
    with pytest.raises(CheckpointError, match="embedding.weight"):
        charrnn.load(saved)


@pytest.mark.parametrize("key,value", [("vocab", "{not json"), ("config", "[]"), ("config", None), ("vocab", None)])
def test_broken_metadata_raises_checkpoint_error(saved, key, value):
    rewrite(saved, **{key: value})
    with pytest.raises(CheckpointError, match=key):
        charrnn.load(saved)


def test_failed_write_leaves_the_old_file_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old = make_model(seed=1)
    old.save(path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", boom)  # fails after the data was written, before the rename
    with pytest.raises(OSError, match="disk on fire"):
        make_model(seed=2).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]
    np.testing.assert_array_equal(charrnn.load(path).params["fc.weight"], old.params["fc.weight"])


def test_save_replaces_an_existing_checkpoint(tmp_path):
    path = tmp_path / "m.safetensors"
    make_model(seed=1).save(path)
    new = make_model(seed=2)
    new.save(path)
    np.testing.assert_array_equal(charrnn.load(path).params["embedding.weight"], new.params["embedding.weight"])
