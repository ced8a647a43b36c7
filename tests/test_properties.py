"""Property-based tests (hypothesis) of the Python API: vocabularies of random Unicode,
splits and batches, sampling options, reading random bytes as a data file, and the
checkpoint loader on random and corrupted files (a CheckpointError or the very model
that was saved — never anything else)."""

from __future__ import annotations

import io
import json
import math
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as deserialize
from safetensors.numpy import save as serialize

import charrnn
from charrnn import CheckpointError, DataError, NameBatches, UnknownCharacterError, Vocab, split
from charrnn.data import parse_lines
from charrnn.reading import read_items
from conftest import make_model

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any Unicode text but surrogates, which no str read from a UTF-8 file can hold.
items_st = st.lists(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12), min_size=1, max_size=30
)
nfc = lambda s: unicodedata.normalize("NFC", s)  # noqa: E731


# -- vocabulary -------------------------------------------------------------------------


@SETTINGS
@given(items_st)
@example(["Пётр", "Ё", "e\u0301"])
@example(["\u2126", "\u212b"])  # Ohm and Angstrom signs: NFC turns them into Ω and Å
def test_vocab_round_trips_every_item_in_nfc(items):
    vocab = Vocab.from_items(items)
    for item in items:
        ids = vocab.encode(item)
        assert all(3 <= i < len(vocab) for i in ids)
        assert vocab.decode(ids) == nfc(item)
    again = Vocab.from_json(vocab.to_json())
    assert again == vocab and again.chars == vocab.chars
    assert list(vocab.chars) == sorted(vocab.chars) and len(set(vocab.chars)) == len(vocab.chars)


@SETTINGS
@given(items_st, st.text(st.characters(exclude_categories=("Cs",)), max_size=8))
def test_encoding_a_character_outside_the_vocabulary_names_it(items, text):
    vocab = Vocab.from_items(items)
    unknown = [c for c in nfc(text) if c not in vocab]
    if unknown:
        with pytest.raises(UnknownCharacterError) as info:
            vocab.encode(text)
        assert info.value.char == unknown[0]
    else:
        assert vocab.decode(vocab.encode(text)) == nfc(text)


@SETTINGS
@given(st.text(max_size=200))
def test_vocab_from_json_on_random_text_raises_only_value_error(text):
    try:
        Vocab.from_json(text)
    except ValueError:
        pass


# -- split and batches --------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.text("абвгдеёжз", min_size=1, max_size=6), min_size=1, max_size=60),
    st.floats(0.0, 0.99),
    st.integers(0, 2**32 - 1),
)
def test_split_is_a_seeded_partition_that_keeps_order_and_leaves_training_data(items, fraction, seed):
    train, val = split(items, val_fraction=fraction, seed=seed)
    assert (train, val) == split(items, val_fraction=fraction, seed=seed)
    assert sorted(train + val) == sorted(items)
    assert len(train) >= 1
    if fraction > 0 and len(items) >= 2:
        assert len(val) >= 1
    assert len(val) <= max(1, round(len(items) * fraction))


@SETTINGS
@given(
    st.lists(st.text("абвгдеёжз", min_size=0, max_size=9), min_size=1, max_size=50),
    st.integers(1, 70),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_batches_cover_every_item_once_per_epoch_with_consistent_padding(items, batch_size, seed, shuffle):
    vocab = Vocab.from_items(items + ["а"])
    batches = NameBatches(items, vocab, batch_size=batch_size, seed=seed, shuffle=shuffle)
    assert len(batches) == math.ceil(len(items) / batch_size)
    state = batches.get_state()
    for _ in range(2):
        seen = []
        for b in batches:
            assert b.ids.dtype == b.targets.dtype == b.lengths.dtype == np.int32
            assert 1 <= len(b) <= batch_size and b.ids.shape == b.targets.shape == (b.lengths.max(), len(b))
            for j, i in enumerate(b.index):
                n = len(vocab.encode(items[i]))
                assert b.lengths[j] == n + 1
                assert b.ids[0, j] == vocab.bos_id and b.targets[n, j] == vocab.eos_id
                assert vocab.decode(b.targets[:n, j]) == nfc(items[i])
            assert (b.ids[~b.mask] == 0).all() and (b.targets[~b.mask] == 0).all()
            assert b.n_chars == int(b.lengths.sum())
            seen.extend(b.index.tolist())
        assert sorted(seen) == list(range(len(items)))
    # Putting the generator state back replays the same epochs: what resuming relies on.
    batches.set_state(state)
    replay = [b.index.tolist() for b in batches]
    again = NameBatches(items, vocab, batch_size=batch_size, seed=seed, shuffle=shuffle)
    assert replay == [b.index.tolist() for b in again]


# -- sampling ---------------------------------------------------------------------------

MODEL = make_model("gru", hidden=12, layers=1, embed=4, seed=3)


@SETTINGS
@given(
    n=st.integers(1, 8),
    temperature=st.floats(0.05, 5.0),
    top_k=st.one_of(st.none(), st.integers(1, 60)),
    top_p=st.one_of(st.none(), st.floats(0.01, 1.0)),
    prefix=st.text("АннаБорисMax", max_size=4),
    max_len=st.integers(1, 15),
    seed=st.integers(0, 2**63 - 1),
)
def test_valid_sampling_options_give_n_names_with_the_prefix_within_max_len(
    n, temperature, top_k, top_p, prefix, max_len, seed
):
    assume(len(prefix) <= max_len)
    names = MODEL.sample(
        n=n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, max_len=max_len, seed=seed
    )
    assert names == MODEL.sample(
        n=n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, max_len=max_len, seed=seed
    )
    assert len(names) == n
    for name in names:
        assert name.startswith(prefix) and len(name) <= max_len and set(name) <= set(MODEL.vocab.chars)


@SETTINGS
@given(
    n=st.one_of(st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=2)),
    temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)),
    top_k=st.one_of(st.none(), st.integers(-3, 3), st.floats(allow_nan=True)),
    top_p=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    prefix=st.text(max_size=3),
    max_len=st.one_of(st.integers(-2, 5), st.booleans()),
    seed=st.one_of(st.none(), st.integers(-(2**65), 2**65)),
)
def test_any_sampling_options_give_names_or_a_type_or_value_error(n, temperature, top_k, top_p, prefix, max_len, seed):
    try:
        names = MODEL.sample(
            n=n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, max_len=max_len, seed=seed
        )
    except (TypeError, ValueError, OverflowError):
        return
    assert len(names) == n


# -- reading data files -----------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([None, 1, 3, 50]))
@example(b"\xef\xbb\xbf", None)
@example("а\r\nб\rв\x85г\u2028д\n".encode(), None)
def test_random_bytes_read_as_items_or_a_data_error(data, limit):
    try:
        items = read_items(io.BytesIO(data), "random.txt", max_line_chars=limit)
    except DataError as e:
        assert str(e).startswith("random.txt: ")
        return
    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    expected = [s for s in (nfc(line).strip() for line in text.splitlines()) if s]
    assert items == expected
    assert limit is None or all(len(i) <= limit for i in items)


@SETTINGS
@given(st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=30), max_size=40), st.integers(1, 64))
def test_chunked_reading_gives_what_reading_at_once_gives(lines, chunk):
    import charrnn.reading as reading

    data = "\n".join(lines).encode()
    try:
        whole = parse_lines(data, "f", max_line_chars=None)
    except DataError:
        whole = None
    old = reading.CHUNK_BYTES
    reading.CHUNK_BYTES = chunk  # lines and characters now straddle chunk borders
    try:
        try:
            streamed = read_items(io.BytesIO(data), "f", max_line_chars=None)
        except DataError:
            streamed = None
    finally:
        reading.CHUNK_BYTES = old
    assert streamed == whole


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(0, 2**31))
def test_non_utf8_errors_point_at_the_right_line_and_byte(prefix, seed):
    clean = prefix.decode("utf-8", errors="ignore").encode()
    data = clean + b"\n\xff\n"
    with pytest.raises(DataError) as info:
        read_items(io.BytesIO(data), "f", max_line_chars=None)
    line = clean.count(b"\n") + 2
    offset = len(clean) + 1  # a file offset, a BOM included
    assert f"line {line}: not valid UTF-8 at byte offset {offset} (byte 0xff)" in str(info.value)


# -- the checkpoint loader --------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "m.safetensors"
    model = make_model("lstm", hidden=6, layers=1, embed=3, seed=2)
    model.save(path)
    return path.read_bytes(), model


def _load_bytes(tmp_path, data):
    path = tmp_path / "x.safetensors"
    path.write_bytes(data)
    return charrnn.load(path)


def _same_model(a, b):
    return (
        a.config == b.config and a.vocab == b.vocab and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    )


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_flipped_or_overwritten_bytes_give_a_checkpoint_error_or_the_same_model(tmp_path, checkpoint_bytes, data):
    blob, model = checkpoint_bytes
    damaged = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        damaged[i] = data.draw(st.integers(0, 255).filter(lambda b, i=i: b != damaged[i]))
    try:
        loaded = _load_bytes(tmp_path, bytes(damaged))
    except CheckpointError:
        return
    assert _same_model(loaded, model)  # e.g. a space of the JSON header turned into a tab


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_truncated_or_extended_checkpoints_give_a_checkpoint_error(tmp_path, checkpoint_bytes, data):
    blob, _ = checkpoint_bytes
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(CheckpointError):
        _load_bytes(tmp_path, blob[:cut])
    tail = data.draw(st.binary(min_size=1, max_size=64))
    try:
        _load_bytes(tmp_path, blob + tail)
    except CheckpointError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400))
@example(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
@example(b"\xff" * 8 + b"{}")
def test_random_bytes_are_a_checkpoint_error(tmp_path, data):
    with pytest.raises(CheckpointError):
        _load_bytes(tmp_path, data)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(
        st.sampled_from(["format", "format_version", "vocab", "config", "sha256", "training"]), st.text(max_size=40)
    )
)
def test_random_metadata_gives_a_checkpoint_error_or_a_model(tmp_path, checkpoint_bytes, changes):
    blob, model = checkpoint_bytes
    header_len = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8 : 8 + header_len])["__metadata__"]
    meta.update(changes)
    data = serialize(deserialize(blob), meta)
    try:
        loaded = _load_bytes(tmp_path, data)
    except CheckpointError:
        return
    assert loaded.config == model.config
