"""Conditional models: labelled data, the category embedding, training, sampling by category."""

from __future__ import annotations

import numpy as np
import pytest

import charrnn
from charrnn import reference
from charrnn.data import NameBatches
from charrnn.datasets import PRESETS, preset
from charrnn.labelled import Labelled

# Two categories that differ in their first letter: a model that uses its category
# input learns to start "a" names with А and "b" names with Б.
A_NAMES = ["Анна", "Алла", "Арина", "Ася", "Ада", "Алина", "Аня", "Ария"]
B_NAMES = ["Белла", "Бина", "Бэла", "Берта", "Бася", "Бона", "Бина", "Бьянка"]


def labelled() -> Labelled:
    return Labelled.from_lists({"a": A_NAMES, "b": B_NAMES})


def conditional_model(cell: str = "lstm", layers: int = 2, **kw) -> charrnn.CharRNN:
    data = labelled()
    return charrnn.CharRNN(
        charrnn.Vocab.from_items(data),
        cell=cell,
        hidden=12,
        layers=layers,
        embed=6,
        categories=data.categories,
        category_dim=3,
        **kw,
    )


# -- labelled data ----------------------------------------------------------------------


def test_labelled_is_a_sequence_of_items_with_a_category_each():
    data = labelled()
    assert len(data) == 16 and list(data) == A_NAMES + B_NAMES
    assert data[0] == "Анна" and data.category_of(0) == "a" and data.category_of(8) == "b"
    assert data.categories == ("a", "b") and data.counts() == {"a": 8, "b": 8}
    assert data.labels.tolist() == [0] * 8 + [1] * 8
    part = data[6:10]
    assert isinstance(part, Labelled) and part.pairs() == [("Аня", "a"), ("Ария", "a"), ("Белла", "b"), ("Бина", "b")]
    assert data.of("b") == B_NAMES
    assert Labelled.from_pairs(data.pairs()) == data


def test_labelled_split_is_stratified_reproducible_and_complete():
    data = preset("ru-first-by-gender")
    train, val = charrnn.split(data, val_fraction=0.1, seed=3)
    assert isinstance(train, Labelled) and isinstance(val, Labelled)
    assert val.counts() == {"male": round(4827 * 0.1), "female": round(2130 * 0.1)}
    assert sorted(train.pairs() + val.pairs()) == sorted(data.pairs())
    assert data.split(0.1, seed=3) == (train, val)
    assert data.split(0.1, seed=4)[1] != val


@pytest.mark.parametrize(
    "lists, error",
    [
        ({}, "no labelled lists"),
        ({"a": []}, "has no items"),
        ({"a": "Анна"}, "not one string"),
    ],
)
def test_labelled_refuses_malformed_lists(lists, error):
    with pytest.raises((ValueError, TypeError), match=error):
        Labelled.from_lists(lists)


@pytest.mark.parametrize("categories", [["a", "a"], [], ["a", " b"], ["a", 3]])
def test_bad_category_names_are_refused(categories):
    with pytest.raises((ValueError, TypeError)):
        charrnn.CharRNN(charrnn.Vocab.from_items(A_NAMES), categories=categories)


def test_presets_match_their_descriptions():
    first = preset("ru-first-by-gender")
    assert first.counts() == {"male": 4827, "female": 2130}
    assert "male (4,827), female (2,130)" in PRESETS["ru-first-by-gender"][0]
    rich = charrnn.datasets.russiannames("first", "female", min_count=3).items
    assert set(first.of("female")) <= set(rich) and {"Гульназ", "Анна"} <= set(first.of("female"))
    assert "Любовь" in first.of("female") and "Никита" in first.of("male")
    kinds = preset("ru-names-by-kind")
    assert kinds.counts() == {
        "first": 6000,
        "patronymic": 5989,
        "surname": 5952,
    }  # names in two kinds stay in the first
    assert kinds == preset("ru-names-by-kind")  # the samples are fixed
    assert set(PRESETS) == {"ru-first-by-gender", "ru-patronymics-by-gender", "ru-names-by-kind"}
    assert charrnn.datasets.preset("ru-patronymics-by-gender").counts() == {"male": 6916, "female": 3828}
    with pytest.raises(ValueError, match="unknown preset"):
        preset("en-names")


def test_batches_of_labelled_items_carry_their_categories():
    data = labelled()
    vocab = charrnn.Vocab.from_items(data)
    batches = list(NameBatches(data, vocab, batch_size=5, shuffle=True, seed=1))
    for batch in batches:
        assert batch.category_names == ("a", "b")
        assert batch.categories.tolist() == [int(data.labels[i]) for i in batch.index]
    assert list(NameBatches(A_NAMES, vocab, batch_size=4))[0].categories is None


# -- the model ----------------------------------------------------------------------------


def test_a_conditional_model_has_a_category_embedding_and_a_wider_first_layer():
    model = conditional_model("gru")
    shapes = model.param_shapes()
    assert shapes["category.weight"] == (2, 3)
    assert shapes["rnn.weight_ih_l0"] == (3 * 12, 6 + 3)
    assert shapes["rnn.weight_ih_l1"] == (3 * 12, 12)
    assert list(shapes)[-1] == "category.weight"
    assert model.config["categories"] == ["a", "b"] and model.config["category_dim"] == 3
    plain = charrnn.CharRNN(model.vocab, cell="gru", hidden=12, layers=2, embed=6)
    assert "categories" not in plain.config and "category.weight" not in plain.param_shapes()


def test_loss_and_gradients_match_the_numpy_reference(cell):
    model = conditional_model(cell, seed=2)
    data = labelled()
    batch = next(iter(NameBatches(data, model.vocab, batch_size=16, shuffle=True, seed=0)))
    loss, grads = model.loss_and_grads(batch)
    params = model.params_list()
    ref_loss, _, ref_grads, _, _ = reference.forward_backward(
        cell,
        params[:-1],
        batch.ids,
        batch.targets,
        batch.lengths,
        categories=batch.categories,
        category_embedding=params[-1],
    )
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    for name, ref in zip(model.param_shapes(), ref_grads, strict=True):
        np.testing.assert_allclose(grads[name], ref, rtol=1e-3, atol=1e-5, err_msg=name)


def test_the_category_changes_the_probabilities():
    model = conditional_model()
    a = model.log_probs(A_NAMES, category="a")
    b = model.log_probs(A_NAMES, category="b")
    assert not np.allclose(a, b)
    np.testing.assert_allclose(model.log_probs(labelled()), np.concatenate([a, model.log_probs(B_NAMES, category=1)]))
    np.testing.assert_allclose(model.log_probs(A_NAMES, category=["a"] * 8), a)


def test_categories_are_matched_by_name_not_by_position():
    model = conditional_model()
    swapped = Labelled.from_lists({"b": B_NAMES, "a": A_NAMES})  # ids 0 and 1 mean the other thing
    expected = np.concatenate([model.log_probs(B_NAMES, category="b"), model.log_probs(A_NAMES, category="a")])
    np.testing.assert_allclose(model.log_probs(swapped), expected)


def test_mismatched_items_and_models_are_refused_with_a_clear_message():
    model = conditional_model()
    with pytest.raises(ValueError, match="conditional"):
        model.log_probs(A_NAMES)
    with pytest.raises(ValueError, match="conditional"):
        model.sample(3)
    with pytest.raises(ValueError, match="unknown category"):
        model.sample(3, category="c")
    with pytest.raises(ValueError, match="outside"):
        model.sample(3, category=2)
    with pytest.raises(ValueError, match="not among"):
        model.log_probs(Labelled.from_lists({"a": A_NAMES, "z": B_NAMES}))
    plain = charrnn.CharRNN(model.vocab, hidden=8, layers=1, embed=4)
    with pytest.raises(ValueError, match="not conditional"):
        plain.log_probs(labelled())
    with pytest.raises(ValueError, match="no categories"):
        plain.sample(2, category="a")
    with pytest.raises(ValueError, match="not conditional"):
        charrnn.train(plain, labelled(), epochs=1)
    with pytest.raises(ValueError, match="conditional"):
        charrnn.train(model, A_NAMES, epochs=1)


def test_a_checkpoint_keeps_the_categories_their_embedding_and_counts(tmp_path):
    model = conditional_model("rnn")
    model.category_counts = {"a": 5, "b": 7}
    path = tmp_path / "c.safetensors"
    model.save(path)
    meta = charrnn.checkpoint.read_metadata(path)
    assert meta["config"]["categories"] == ["a", "b"] and meta["config"]["category_counts"] == [5, 7]
    back = charrnn.load(path)
    assert back.categories == ("a", "b") and back.category_counts == (5, 7) and back.category_dim == 3
    np.testing.assert_array_equal(back.params["category.weight"], model.params["category.weight"])
    assert back.sample(4, category="b", seed=3) == model.sample(4, category="b", seed=3)


def test_a_checkpoint_with_inconsistent_categories_is_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    model = conditional_model()
    path = tmp_path / "c.safetensors"
    model.save(path)
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        metadata = dict(f.metadata())
    tensors = load_file(str(path))
    tensors["category.weight"] = np.zeros((3, 3), np.float32)  # three rows, two names
    metadata["sha256"] = charrnn.checkpoint._digest(metadata, tensors)  # a consistent file, a bad config
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata)
    with pytest.raises(charrnn.CheckpointError, match="category.weight"):
        charrnn.load(tmp_path / "bad.safetensors")


# -- training and sampling by category -----------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    data = labelled()
    model = conditional_model(layers=1, seed=0)
    history = charrnn.train(model, data, epochs=60, batch_size=16, lr=0.02, seed=0, log_every=None)
    return model, history


def test_training_records_the_prior_counts(trained):
    model, _ = trained
    assert model.category_counts == (8, 8)


def test_a_trained_conditional_model_writes_names_of_the_asked_category(trained):
    model, history = trained
    assert history[-1].train_nll < history[0].train_nll
    for category, letter in (("a", "А"), ("b", "Б")):
        names = model.sample(40, category=category, seed=1, temperature=0.7)
        share = np.mean([name.startswith(letter) for name in names])
        assert share >= 0.9, (category, names)


def test_a_trained_conditional_model_classifies_by_category(trained):
    model, _ = trained
    probs = charrnn.classify(model, ["Аделина", "Бианка"])
    assert probs[0]["a"] > 0.9 and probs[1]["b"] > 0.9
