"""PyTorch interop: export/import round trips always; logits parity when torch is installed."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import charrnn
from charrnn.interop import TORCH_MODULE_SOURCE, export_torch, import_torch, torch_module_args, torch_state_dict
from charrnn.scoring import next_char_log_probs
from conftest import TINY_NAMES

README = pathlib.Path(__file__).resolve().parents[1] / "docs" / "interop.md"  # the page that shows the module
CASES = [(cell, cats) for cell in ("lstm", "gru", "rnn") for cats in (None, ["male", "female", "other"])]


def build(cell="lstm", categories=None, layers=2, seed=0) -> charrnn.CharRNN:
    return charrnn.CharRNN(
        charrnn.Vocab.from_items(TINY_NAMES),
        cell=cell,
        hidden=12,
        layers=layers,
        embed=5,
        seed=seed,
        categories=categories,
        category_dim=3,
        category_counts=None if categories is None else [3, 2, 1],
    )


def assert_same_model(a: charrnn.CharRNN, b: charrnn.CharRNN) -> None:
    assert a.config == b.config and a.vocab == b.vocab
    assert list(a.params) == list(b.params)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)


@pytest.mark.parametrize("cell, categories", CASES)
def test_export_then_import_gives_back_the_same_model(tmp_path, cell, categories):
    model = build(cell, categories)
    path = tmp_path / "sd.safetensors"
    export_torch(model, path)
    tensors = load_file(str(path))
    expected = {"embedding.weight", "fc.weight", "fc.bias"} | {
        f"rnn.{kind}_l{k}" for k in range(2) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    if categories:
        expected.add("category.weight")
    assert set(tensors) == expected  # exactly the module's state dict keys
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert json.loads(meta["torch_module"]) == torch_module_args(model)
    assert_same_model(import_torch(path), model)


def test_a_text_model_keeps_its_mode_through_export_and_import(tmp_path):
    text = "the cat sat on the mat.\n" * 4
    model = charrnn.CharRNN(charrnn.text.text_vocab(text), hidden=8, layers=1, embed=4, mode="text")
    export_torch(model, tmp_path / "sd.safetensors")
    back = import_torch(tmp_path / "sd.safetensors")
    assert back.mode == "text" and back.config["mode"] == "text"
    assert_same_model(back, model)
    assert build().config.get("mode", "names") == import_torch(_export(build(), tmp_path / "n.safetensors")).mode


def _export(model, path):
    export_torch(model, path)
    return path


def test_a_state_dict_saved_by_plain_pytorch_imports_with_a_side_file(tmp_path):
    model = build("gru", ["a", "b", "c"])
    # As PyTorch would write it: no metadata, keys under DataParallel's "module." prefix.
    path = tmp_path / "plain.safetensors"
    save_file({"module." + k: v for k, v in torch_state_dict(model).items()}, str(path))
    with pytest.raises(charrnn.CheckpointError, match="vocabulary"):
        import_torch(path)
    vocab_file = tmp_path / "vocab.json"
    vocab_file.write_text(json.dumps(list(model.vocab.chars), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(charrnn.CheckpointError, match="category names"):
        import_torch(path, vocab=vocab_file)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"categories": ["a", "b", "c"], "category_counts": [3, 2, 1]}), encoding="utf-8")
    back = import_torch(path, vocab=vocab_file, config=config_file)
    assert_same_model(back, model)  # the cell and every size come from the shapes


def test_a_vocabulary_in_another_order_is_resorted_with_its_rows(tmp_path):
    model = build("lstm", layers=1)
    chars = list(model.vocab.chars)
    order = np.random.default_rng(0).permutation(len(chars))
    shuffled = [chars[i] for i in order]  # the PyTorch side numbered the characters this way
    rows = np.concatenate([[0, 1, 2], [3 + chars.index(c) for c in shuffled]])
    sd = torch_state_dict(model)
    for name in ("embedding.weight", "fc.weight", "fc.bias"):
        sd[name] = sd[name][rows]
    path = tmp_path / "shuffled.safetensors"
    save_file(sd, str(path))
    back = import_torch(path, vocab=shuffled)
    assert back.vocab == model.vocab
    names = ["Анна", "Фёдор", "Max"]
    np.testing.assert_allclose(back.log_probs(names), model.log_probs(names), rtol=1e-6)


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda sd: sd.pop("fc.bias"), "fc.bias"),
        (lambda sd: sd.__setitem__("rnn.weight_hh_l0", np.zeros((5, 12), np.float32)), "fits no cell"),
        (lambda sd: sd.__setitem__("rnn.weight_ih_l0_reverse", np.zeros((48, 5), np.float32)), "bidirectional"),
        (lambda sd: sd.__setitem__("embedding.weight", np.zeros((4, 5), np.float32)), "rows"),
        (
            lambda sd: sd.__setitem__(
                "fc.weight", np.full((len(charrnn.Vocab.from_items(TINY_NAMES)), 12), np.nan, np.float32)
            ),
            "NaN",
        ),
    ],
)
def test_malformed_state_dicts_are_refused_with_the_reason(tmp_path, change, error):
    model = build("lstm")
    sd = torch_state_dict(model)
    change(sd)
    path = tmp_path / "bad.safetensors"
    save_file(sd, str(path))
    with pytest.raises(charrnn.CheckpointError, match=error):
        import_torch(path, vocab=list(model.vocab.chars))


def test_float64_and_float16_weights_are_accepted(tmp_path):
    model = build("rnn", layers=1)
    path = tmp_path / "f64.safetensors"
    save_file({k: v.astype(np.float64) for k, v in torch_state_dict(model).items()}, str(path))
    assert_same_model(import_torch(path, vocab=list(model.vocab.chars)), model)


def test_readme_shows_the_exact_module_definition():
    assert TORCH_MODULE_SOURCE.strip() in README.read_text(encoding="utf-8")


# -- against PyTorch ---------------------------------------------------------------------


@pytest.mark.parametrize("cell, categories", CASES)
def test_pytorch_loads_the_export_and_computes_the_same_log_probabilities(tmp_path, cell, categories):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file

    model = build(cell, categories, seed=3)
    path = tmp_path / "sd.safetensors"
    export_torch(model, path)
    namespace: dict = {}
    exec(TORCH_MODULE_SOURCE, namespace)  # the module of the README
    module = namespace["CharRNN"](**torch_module_args(model))
    module.load_state_dict(torch_load_file(str(path)), strict=True)
    module.eval()
    for k, text in enumerate(["Анна", "Фёдор", "Max"]):
        category = None if categories is None else k % len(categories)
        ids = torch.tensor([model.vocab.bos_id] + model.vocab.encode(text))[:, None]  # [T, 1]
        with torch.no_grad():
            logits, _ = module(ids, None if category is None else torch.tensor([category]))
        theirs = torch.log_softmax(logits[:, 0].double(), dim=-1).numpy()
        ours = next_char_log_probs(model, text, category)
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_a_model_trained_in_pytorch_comes_back_and_samples(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as torch_save_file

    torch.manual_seed(0)
    vocab = charrnn.Vocab.from_items(TINY_NAMES)
    namespace: dict = {}
    exec(TORCH_MODULE_SOURCE, namespace)
    module = namespace["CharRNN"](vocab_size=len(vocab), embed=6, hidden=16, layers=1, cell="gru")
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    batch = charrnn.data.make_batch([vocab.encode(n) for n in TINY_NAMES])
    ids, targets = torch.from_numpy(batch.ids.astype(np.int64)), torch.from_numpy(batch.targets.astype(np.int64))
    for _ in range(60):
        logits, _ = module(ids)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), targets.reshape(-1), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path / "trained_in_torch.safetensors"
    torch_save_file(module.state_dict(), str(path))
    model = import_torch(path, vocab=list(vocab.chars))
    assert model.cell == "gru" and model.hidden == 16 and model.embed == 6
    # charrnn scores the training names as PyTorch does (mean NLL per character).
    nll = -model.log_probs(TINY_NAMES).sum() / batch.n_chars
    with torch.no_grad():
        logits, _ = module(ids)
        torch_nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, len(vocab)), targets.reshape(-1), ignore_index=0
        )
    assert nll == pytest.approx(float(torch_nll), rel=1e-4)
    assert len(model.sample(5, seed=0)) == 5
