"""Bad input of every kind — data files, options, checkpoints — gets a typed error with a
readable message from the Python API, and one line on stderr with exit status 2 from the
command line; nothing crashes, nothing in a file is ever executed."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import charrnn
from charrnn import CharRNN, CheckpointError, DataError, UnknownCharacterError, Vocab, load_lines, train
from charrnn.reading import DEFAULT_MAX_LINE_CHARS
from conftest import TINY_NAMES, make_model
from faults import fault


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "charrnn", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def one_error_line(result) -> str:
    """The command failed with status 2 and said why in exactly one line, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(("charrnn: error: ", "charrnn train: error: ", "charrnn sample: error: ")), lines
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-input")
    (d / "names.txt").write_text("\n".join(TINY_NAMES * 2) + "\n", encoding="utf-8")
    make_model("lstm", hidden=8, layers=1, embed=4).save(d / "m.safetensors")
    return d


TINY_TRAIN = ["--hidden", "8", "--embed", "4", "--samples", "0", "--json"]


# -- data files ---------------------------------------------------------------------------


@fault("a data file does not exist", "`FileNotFoundError`; CLI: 'charrnn: error: No such file or directory: PATH'")
def test_missing_data_file(tmp_path, work):
    with pytest.raises(FileNotFoundError):
        load_lines(tmp_path / "nope.txt")
    assert "No such file or directory: nope.txt" in one_error_line(cli("train", "nope.txt", cwd=work))


@fault("a data file is a directory", "`IsADirectoryError`; CLI: 'charrnn: error: Is a directory: PATH'")
def test_data_file_that_is_a_directory(tmp_path, work):
    with pytest.raises(IsADirectoryError):
        load_lines(tmp_path)
    (work / "folder").mkdir(exist_ok=True)
    assert "Is a directory: folder" in one_error_line(cli("train", "folder", cwd=work))


@fault(
    "a data file is empty, or holds only blank lines",
    "`DataError`: 'PATH: no items (the file is empty or has only blank lines)'",
)
@pytest.mark.parametrize("content", [b"", b"\n \n\t\r\n\n"], ids=["empty", "blank-lines"])
def test_empty_or_blank_data_file(tmp_path, work, content):
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="no items"):
        load_lines(path)
    (work / "blank.txt").write_bytes(content)
    assert "no items" in one_error_line(cli("train", "blank.txt", cwd=work))
    assert "no items" in one_error_line(cli("train", "names.txt", "--val", "blank.txt", cwd=work))


@fault(
    "a data file is not UTF-8 (e.g. cp1251)",
    "`DataError`: 'PATH: line L: not valid UTF-8 at byte offset B (byte 0xNN); save the file as UTF-8' "
    "(file offset, also past the first megabyte)",
)
def test_non_utf8_data_file_says_line_and_byte_offset_even_far_into_the_file(tmp_path, work):
    head = ("Анна\n" * 300_000).encode()  # 2.7 MB: the bad byte is in the third read chunk
    path = tmp_path / "cp1251.txt"
    path.write_bytes(head + "Вера".encode("cp1251") + b"\n")
    with pytest.raises(DataError) as info:
        load_lines(path)
    assert f"line 300001: not valid UTF-8 at byte offset {len(head)} (byte 0xc2)" in str(info.value)
    with_bom = tmp_path / "bom.txt"
    with_bom.write_bytes(b"\xef\xbb\xbf" + b"ok\n\xff\n")
    with pytest.raises(DataError, match="line 2: not valid UTF-8 at byte offset 6 "):
        load_lines(with_bom)
    (work / "cp1251.txt").write_bytes("Анна\n".encode("cp1251"))
    assert "line 1: not valid UTF-8 at byte offset 0" in one_error_line(cli("train", "cp1251.txt", cwd=work))


@fault(
    "a data file holds a single item",
    "training works without validation; CLI warning 'only 1 item: nothing to hold out, training without validation'",
)
def test_a_single_item_trains_without_validation(tmp_path):
    (tmp_path / "one.txt").write_text("Анна\n", encoding="utf-8")
    result = cli("train", "one.txt", "--epochs", "2", *TINY_TRAIN, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: only 1 item: nothing to hold out" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2 and records[-1]["val_nll"] is None
    model = CharRNN(Vocab.from_items(["Анна"]), hidden=4, layers=1, embed=2)
    assert len(train(model, ["Анна"], epochs=2)) == 2


@fault(
    "a data file has an enormous line (even a 1 GB one)",
    "`DataError`: 'PATH: line L: a line is longer than the limit of 10,000 characters per item (raise it with "
    "max_line_chars / --max-line-length)', after reading at most about a megabyte of it",
)
def test_a_one_gigabyte_line_is_refused_with_bounded_memory(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.write("Анна\nБорис\n".encode())
        f.truncate(1 << 30)  # a sparse 1 GB file: after two names, one line of a billion NULs
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            load_lines(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "line 3: a line is longer than the limit of 10,000 characters" in str(info.value)
    assert peak < 8 << 20, f"peak {peak:,} bytes: the line was not streamed"


def test_the_line_limit_counts_characters_and_is_configurable(tmp_path, work):
    path = tmp_path / "long.txt"
    path.write_text("Анна\n" + "я" * DEFAULT_MAX_LINE_CHARS + "\n", encoding="utf-8")
    assert len(load_lines(path)[1]) == DEFAULT_MAX_LINE_CHARS  # 20,000 bytes, 10,000 characters: fine
    path.write_text("Анна\n" + "я" * 101 + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: an item of 101 characters is longer than the limit of 100"):
        load_lines(path, max_line_chars=100)
    assert load_lines(path, max_line_chars=None)[1] == "я" * 101
    with pytest.raises(ValueError, match="max_line_chars"):
        load_lines(path, max_line_chars=0)
    (work / "long.txt").write_text("Анна\nБорис\n" + "я" * 30 + "\n", encoding="utf-8")
    line = one_error_line(cli("train", "long.txt", "--max-line-length", "20", cwd=work))
    assert "long.txt: line 3: an item of 30 characters is longer than the limit of 20" in line
    ok = cli("train", "long.txt", "--max-line-length", "0", "--max-steps", "1", *TINY_TRAIN, cwd=work)
    assert ok.returncode == 0, ok.stderr


@fault(
    "a `--val` file has characters that never occur in the training data",
    "refused: `DataError` naming each character, its code point, its count and the first item holding it "
    "(the vocabulary is the training data's)",
)
def test_validation_file_with_characters_absent_from_training_is_refused(work):
    (work / "val_latin.txt").write_text("Анна\nQuinn\nQQ\nЖанна\n", encoding="utf-8")
    line = one_error_line(cli("train", "names.txt", "--val", "val_latin.txt", cwd=work))
    assert "val_latin.txt: 4 character(s) never occur in the training data" in line
    assert "'Q' (U+0051) 3 times, first in 'Quinn'" in line and "'u' (U+0075) 1 time, first in 'Quinn'" in line


@fault(
    "a random validation split leaves a rare character only in the validation part",
    "those validation items move to training (the header says how many), so every character is learnt",
)
def test_random_split_moves_items_with_unseen_characters_to_training(tmp_path):
    names = [f"Ан{'н' * (i % 5)}а" for i in range(40)] + ["Ψ"]
    (tmp_path / "rare.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    for seed in range(12):  # some seed puts "Ψ" in the validation part
        train_items, val_items = charrnn.split(names, 0.1, seed=seed)
        if "Ψ" in val_items:
            break
    else:
        pytest.fail("no seed put the rare item in validation")
    result = cli("train", "rare.txt", "--seed", str(seed), "--max-steps", "1", *TINY_TRAIN, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "moved 1 validation item(s) with characters found in no training item to training" in result.stderr
    assert "Ψ" in charrnn.load(tmp_path / "charrnn-model.safetensors").vocab


def test_api_training_warns_about_validation_characters_never_trained(caplog):
    vocab = Vocab.from_items(["аб", "вQ"])
    with caplog.at_level("WARNING", logger="charrnn.training"):
        train(CharRNN(vocab, hidden=4, layers=1, embed=2), ["аб"], ["вQ"], epochs=1)
    assert "2 validation character(s) never occur in the training items" in caplog.text
    with pytest.raises(UnknownCharacterError, match="'Z'"):  # not in the vocabulary at all
        train(CharRNN(vocab, hidden=4, layers=1, embed=2), ["аб"], ["Z"], epochs=1)


# -- options ------------------------------------------------------------------------------


@fault(
    "a size option is zero or negative (`--hidden`, `--layers`, `--embed`, `--batch`, `--epochs`, `--max-steps`, "
    "`-n`, `--max-len`, `--top-k`, `--checkpoint-every`), or `--lr` is not a positive number",
    "CLI: one line 'charrnn train: error: argument --hidden: must be at least 1, got 0 (see charrnn train --help)'; "
    "API: `ValueError`/`TypeError` naming the argument",
)
@pytest.mark.parametrize(
    "args,word",
    [
        (["train", "--hidden", "0"], "--hidden: must be at least 1, got 0"),
        (["train", "--layers", "-1"], "--layers: must be at least 1, got -1"),
        (["train", "--embed", "0"], "--embed"),
        (["train", "--batch", "0"], "--batch"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--max-steps", "-3"], "--max-steps"),
        (["train", "--checkpoint-every", "0"], "--checkpoint-every"),
        (["train", "--max-line-length", "-1"], "--max-line-length"),
        (["train", "--lr", "nan"], "--lr: must be a positive number"),
        (["train", "--lr", "-1"], "--lr"),
        (["sample", "m.safetensors", "-n", "0"], "-n"),
        (["sample", "m.safetensors", "--max-len", "0"], "--max-len"),
        (["sample", "m.safetensors", "--top-k", "0"], "--top-k: must be at least 1, got 0"),
        (["train", "--hidden", "many"], "--hidden"),
    ],
)
def test_cli_rejects_bad_sizes_in_one_line(work, args, word):
    assert word in one_error_line(cli(*args, cwd=work))


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"hidden": 0}, ValueError),
        ({"layers": -1}, ValueError),
        ({"embed": 0}, ValueError),
        ({"hidden": 2.5}, TypeError),
        ({"cell": "transformer"}, ValueError),
    ],
)
def test_api_rejects_bad_model_sizes(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        CharRNN(Vocab.from_items(["аб"]), **kwargs)


@fault(
    "`--dropout` outside [0, 1), `--val-fraction` outside [0, 1)",
    "one error line naming the option ('argument --dropout: must be in [0, 1), got 1.5')",
)
@pytest.mark.parametrize(
    "args,word",
    [
        (["--dropout", "1.5"], "--dropout: must be in [0, 1), got 1.5"),
        (["--dropout", "-0.1"], "--dropout"),
        (["--val-fraction", "1"], "--val-fraction: must be in [0, 1), got 1"),
    ],
)
def test_cli_rejects_out_of_range_fractions(work, args, word):
    assert word in one_error_line(cli("train", "names.txt", *args, *TINY_TRAIN, cwd=work))


@fault(
    "`--weight-decay` negative or too large for `--lr`, `--ema` outside [0, 1)",
    "one error line naming the option ('argument --ema: must be in [0, 1), got 1')",
)
@pytest.mark.parametrize(
    "args,word",
    [
        (["--weight-decay", "-0.1"], "argument --weight-decay: must be a finite number >= 0, got -0.1"),
        (["--weight-decay", "nan"], "argument --weight-decay: must be a finite number >= 0, got nan"),
        (["--weight-decay", "500", "--lr", "0.01"], "--weight-decay 500 times --lr 0.01 must be below 1"),
        (["--ema", "1"], "argument --ema: must be in [0, 1), got 1"),
        (["--ema", "-0.5"], "argument --ema: must be in [0, 1), got -0.5"),
        (["--ema", "soon"], "argument --ema: invalid fraction value: 'soon'"),
    ],
)
def test_cli_rejects_bad_weight_decay_and_ema(work, args, word):
    assert word in one_error_line(cli("train", "names.txt", *args, *TINY_TRAIN, cwd=work))


@fault(
    "the batch size is larger than the training data",
    "training goes on, each step sees all items; a warning says so ('batch_size 64 is larger than the N training items')",
)
def test_batch_larger_than_the_data_trains_with_a_warning(tmp_path, caplog):
    vocab = Vocab.from_items(TINY_NAMES)
    with caplog.at_level("WARNING", logger="charrnn.training"):
        history = train(CharRNN(vocab, hidden=4, layers=1, embed=2), TINY_NAMES, epochs=2, batch_size=64)
    assert [r.step for r in history] == [1, 2]
    assert f"batch_size 64 is larger than the {len(TINY_NAMES)} training items" in caplog.text


@fault(
    "sampling with temperature ≤ 0 (or NaN/inf), top-k < 1, top-p outside (0, 1], n < 1",
    "`ValueError` naming the argument; CLI: one error line",
)
def test_bad_sampling_options(work):
    model = make_model(hidden=8, layers=1, embed=4)
    for kwargs in (
        {"temperature": 0},
        {"temperature": -1.0},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"top_k": 0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"n": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            model.sample(**kwargs)
    assert "temperature" in one_error_line(cli("sample", "m.safetensors", "--temperature", "-0.5", cwd=work))
    assert "top_p" in one_error_line(cli("sample", "m.safetensors", "--top-p", "2", cwd=work))


@fault(
    "a sampling prefix has a character outside the vocabulary",
    "`UnknownCharacterError`: \"character 'Q' (U+0051) in 'Qa' is not in the vocabulary\"; CLI: one error line",
)
def test_prefix_outside_the_vocabulary(work):
    with pytest.raises(UnknownCharacterError, match=r"'Q' \(U\+0051\) in 'Qa'"):
        make_model().sample(prefix="Qa")
    assert "U+0051" in one_error_line(cli("sample", "m.safetensors", "--prefix", "Q", cwd=work))


def test_seq_len_below_one_is_refused_when_text_mode_exists(work):
    help_text = cli("train", "--help", cwd=work).stdout
    if "--seq-len" not in help_text:
        pytest.skip("continuous-text mode (--seq-len) is not in this build yet")
    assert "--seq-len" in one_error_line(cli("train", "names.txt", "--seq-len", "0", cwd=work))


# -- checkpoints --------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.safetensors"
    make_model("lstm", layers=2).save(path)
    return path


def rewrite(path, tensors=None, **changes):
    from test_checkpoint import rewrite as _rewrite

    _rewrite(path, tensors=tensors, **changes)


@fault(
    "a checkpoint is truncated, random bytes, or empty",
    "`CheckpointError`: 'PATH: not a valid safetensors file (…)'; CLI: one error line",
)
@pytest.mark.parametrize("damage", ["truncated", "random", "empty"])
def test_truncated_or_random_checkpoint(saved, work, damage):
    data = saved.read_bytes()
    new = {"truncated": data[: len(data) // 2], "random": np.random.default_rng(0).bytes(5000), "empty": b""}[damage]
    saved.write_bytes(new)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        charrnn.load(saved)
    (work / f"{damage}.safetensors").write_bytes(new)
    one_error_line(cli("sample", f"{damage}.safetensors", cwd=work))
    one_error_line(cli("train", "--resume", f"{damage}.safetensors", cwd=work))


@fault(
    "one bit of a checkpoint is flipped (disk or copy error)",
    "`CheckpointError`: 'PATH: the file is damaged (its contents do not match its SHA-256 checksum)' "
    "(or 'not a valid safetensors file' when the header is hit; a file without its checksum is refused too)",
)
def test_flipped_bit_in_the_weights_is_caught_by_the_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[-10] ^= 0x01  # inside the last tensor's bytes: still a well-formed safetensors file
    saved.write_bytes(bytes(data))
    with safe_open(str(saved), framework="numpy") as f:
        assert f.keys()  # the format itself cannot tell
    with pytest.raises(CheckpointError, match="damaged"):
        charrnn.load(saved)
    # The same damage plus the checksum's own name hit: still refused, never loaded unchecked.
    data[data.index(b'"sha256"') + 3] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="no 'sha256' checksum"):
        charrnn.load(saved)


@fault(
    "a valid safetensors file lacks a tensor or has one of the wrong shape or dtype",
    "`CheckpointError` naming the tensor, its shape and the expected shape",
)
def test_missing_or_misshaped_tensors(saved):
    blob = saved.read_bytes()
    rewrite(saved, tensors=lambda t: {k: v for k, v in t.items() if k != "fc.bias"})
    with pytest.raises(CheckpointError, match="'fc.bias' is missing"):
        charrnn.load(saved)
    saved.write_bytes(blob)
    rewrite(saved, tensors=lambda t: {**t, "rnn.bias_hh_l1": np.zeros(7, np.float32)})
    with pytest.raises(CheckpointError, match=r"'rnn.bias_hh_l1' has shape \(7,\), expected \(64,\)"):
        charrnn.load(saved)
    saved.write_bytes(blob)
    rewrite(saved, tensors=lambda t: {**t, "fc.bias": t["fc.bias"].astype(np.float64)})
    with pytest.raises(CheckpointError, match="float64"):
        charrnn.load(saved)


@fault(
    "checkpoint metadata lies: a vocabulary that does not match the embedding, a config promising other "
    "sizes or layers, or absurd sizes (hidden = 10⁹)",
    "`CheckpointError` saying which entries disagree — checked before any weight is allocated",
)
@pytest.mark.parametrize(
    "change,word",
    [
        ({"hidden": 10**9}, "hidden"),
        ({"hidden": 32}, "config hidden=32"),
        ({"embed": 9}, "config embed=9"),
        ({"layers": 3}, "3 layer"),
        ({"layers": 1}, "1 layer"),
        ({"hidden": "16"}, "'hidden' must be a positive integer"),
        ({"hidden": -16}, "'hidden' must be a positive integer"),
        ({"vocab_size": 7}, "vocab_size 7"),
        ({"cell": "transformer"}, "unknown cell"),
    ],
)
def test_lying_config_is_refused_before_allocating(saved, change, word):
    config = charrnn.checkpoint.read_metadata(saved)["config"]
    rewrite(saved, config=json.dumps({**config, **change}))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=word):
            charrnn.load(saved)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_vocabulary_that_does_not_match_the_embedding(saved):
    config = charrnn.checkpoint.read_metadata(saved)["config"]
    config.pop("vocab_size")
    rewrite(saved, vocab=Vocab.from_items(["аб"]).to_json(), config=json.dumps(config))
    with pytest.raises(CheckpointError, match="embedding.weight has .* rows but the vocabulary has 5 ids"):
        charrnn.load(saved)


@fault(
    "a checkpoint declares an unknown format version, or is another program's safetensors file",
    "`CheckpointError`: \"unsupported checkpoint format version '2' (this charrnn reads version 1)\" / 'not a charrnn checkpoint'",
)
def test_unknown_version_and_foreign_files(saved, tmp_path):
    blob = saved.read_bytes()
    rewrite(saved, format_version="2")
    with pytest.raises(CheckpointError, match="unsupported checkpoint format version '2'"):
        charrnn.load(saved)
    saved.write_bytes(blob)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        charrnn.load(foreign)


@fault(
    "a checkpoint's config names another cell type than its tensors (e.g. says GRU, holds LSTM weights)",
    "`CheckpointError`: \"tensor 'rnn.weight_ih_l0' has shape (64, 8), expected (48, 8) for this config\"",
)
def test_checkpoint_from_another_cell_type(saved):
    config = charrnn.checkpoint.read_metadata(saved)["config"]
    rewrite(saved, config=json.dumps({**config, "cell": "gru"}))
    with pytest.raises(CheckpointError, match=r"'rnn.weight_ih_l0' has shape \(64, 8\), expected \(48, 8\)"):
        charrnn.load(saved)


@fault(
    "a checkpoint holds NaN or infinite weights",
    "`CheckpointError`: \"tensor 'fc.weight' holds N NaN or infinite values\"",
)
def test_checkpoint_with_nan_weights(saved):
    rewrite(saved, tensors=lambda t: {**t, "fc.weight": np.full_like(t["fc.weight"], np.nan)})
    with pytest.raises(CheckpointError, match="'fc.weight' holds .* NaN or infinite values"):
        charrnn.load(saved)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@fault(
    'a "checkpoint" is a pickle (e.g. a PyTorch .pt file) crafted to run code when loaded',
    "`CheckpointError`; nothing in it runs — loading reads safetensors tensors and JSON only, never pickle",
)
def test_loading_never_executes_code_from_the_file(tmp_path, work):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(CheckpointError):
        charrnn.load(evil)
    with pytest.raises(CheckpointError):
        charrnn.load_training_checkpoint(evil)
    # A real checkpoint with a pickle smuggled into its metadata: still only JSON is read.
    good = tmp_path / "good.safetensors"
    make_model().save(good)
    rewrite(good, training=pickle.dumps(_Payload(str(marker))).hex())
    with pytest.raises(CheckpointError, match="training"):
        charrnn.checkpoint.read_metadata(good)
    assert not marker.exists()
    sources = [pathlib.Path(charrnn.__file__).parent / n for n in ("checkpoint.py", "training/state.py")]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for banned in ("import pickle", "pickle.load", "eval(", "exec(", "torch.load", "allow_pickle=True"):
            assert banned not in text, (source.name, banned)


def test_checkpoint_that_is_a_directory_or_missing(tmp_path, work):
    with pytest.raises(IsADirectoryError):
        charrnn.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        charrnn.load(tmp_path / "missing.safetensors")
    assert "missing.safetensors" in one_error_line(cli("sample", "missing.safetensors", cwd=work))
    os.makedirs(work / "adir", exist_ok=True)
    assert "adir" in one_error_line(cli("sample", "adir", cwd=work))
    assert "adir" in one_error_line(cli("eval", "adir", "names.txt", cwd=work))


def test_readme_what_happens_table_is_generated_from_the_tests():
    import faults

    assert faults.readme_table() == faults.table(), "run: python tests/faults.py --write"


def test_every_module_with_fault_rows_feeds_the_table():
    import pathlib

    import faults

    here = pathlib.Path(faults.__file__).parent
    marked = {p.stem for p in here.glob("test_*.py") if "\n@fault(" in p.read_text(encoding="utf-8")}
    missing = sorted(marked - set(faults.MODULES))
    assert not missing, f"add {missing} to MODULES in tests/faults.py: their @fault rows are not in the table"
