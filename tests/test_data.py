"""Data: reading files (UTF-8, NFC, blanks, errors), seeded splits, and padded batches of
independent names with start/end markers, reshuffled every epoch."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from charrnn import DataError, NameBatches, Vocab, load_lines, split
from charrnn.vocab import BOS, EOS, PAD


def write(tmp_path, data: bytes, name: str = "names.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- load_lines -----------------------------------------------------------------------------


def test_load_lines_strips_skips_blanks_and_normalises_to_nfc(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Пётр")
    path = write(tmp_path, f"  Анна \n\n\t\n{decomposed}\r\nЁжик\n   \n".encode())
    items = load_lines(path)
    assert items == ["Анна", "Пётр", "Ёжик"]
    assert all(unicodedata.is_normalized("NFC", s) for s in items)


def test_load_lines_skips_a_utf8_bom(tmp_path):
    path = write(tmp_path, "\ufeffАнна\nБорис\n".encode())
    assert load_lines(path) == ["Анна", "Борис"]


def test_load_lines_dedupe_keeps_first_occurrences_in_order(tmp_path):
    path = write(tmp_path, "Б\nА\nБ\nВ\nА\n".encode())
    assert load_lines(path) == ["Б", "А", "Б", "В", "А"]
    assert load_lines(path, dedupe=True) == ["Б", "А", "В"]


def test_missing_file_raises_file_not_found_naming_the_path(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as info:
        load_lines(path)
    assert str(path) in str(info.value)


def test_non_utf8_file_raises_data_error_naming_file_line_and_offset(tmp_path):
    good = "Анна\nБорис\n".encode()
    path = write(tmp_path, good + "Вера".encode("cp1251") + b"\n")
    with pytest.raises(DataError) as info:
        load_lines(path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message and f"byte offset {len(good)}" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("data", [b"", b"\n\n  \n\t\n"])
def test_empty_or_blank_file_raises_data_error(tmp_path, data):
    with pytest.raises(DataError, match="empty"):
        load_lines(write(tmp_path, data))


# -- split ----------------------------------------------------------------------------------


def test_split_is_deterministic_disjoint_and_complete():
    items = [f"n{i}" for i in range(100)]
    train, val = split(items, val_fraction=0.2, seed=3)
    assert (train, val) == split(items, val_fraction=0.2, seed=3)
    assert len(val) == 20 and len(train) == 80
    assert sorted(train + val) == sorted(items)
    assert train == [x for x in items if x in set(train)], "order is kept"


def test_split_with_another_seed_differs():
    items = [f"n{i}" for i in range(100)]
    assert split(items, 0.2, seed=1)[1] != split(items, 0.2, seed=2)[1]


def test_split_keeps_at_least_one_item_on_each_side():
    assert [len(p) for p in split(["a", "b"], 0.01)] == [1, 1]
    assert split(["a", "b", "c"], 0.0) == (["a", "b", "c"], [])


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_rejects_fractions_outside_0_1(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        split(["a", "b"], fraction)


# -- batches --------------------------------------------------------------------------------


def test_batches_have_markers_padding_and_lengths():
    items = ["аб", "вгде", "ё"]
    v = Vocab.from_items(items)
    (batch,) = list(NameBatches(items, v, batch_size=3, shuffle=False))
    assert batch.ids.dtype == batch.targets.dtype == batch.lengths.dtype == np.int32
    assert batch.ids.shape == batch.targets.shape == (5, 3)  # longest item + 1
    assert batch.ids.flags.c_contiguous and batch.targets.flags.c_contiguous
    assert batch.lengths.tolist() == [3, 5, 2]
    assert batch.n_chars == 10
    for b, item in enumerate(items):
        n = len(item)
        assert batch.ids[:, b].tolist() == [BOS] + v.encode(item) + [PAD] * (4 - n)
        assert batch.targets[:, b].tolist() == v.encode(item) + [EOS] + [PAD] * (4 - n)
    np.testing.assert_array_equal(batch.mask, np.arange(5)[:, None] < batch.lengths[None, :])
    assert np.all(batch.ids[~batch.mask] == PAD) and np.all(batch.targets[~batch.mask] == PAD)


def test_every_item_appears_exactly_once_per_epoch():
    items = [f"{chr(0x430 + i % 32)}{'я' * (i % 5)}" for i in range(53)]
    v = Vocab.from_items(items)
    batches = NameBatches(items, v, batch_size=8, seed=1)
    assert len(batches) == 7
    for _ in range(3):
        seen = np.concatenate([b.index for b in batches])
        assert sorted(seen.tolist()) == list(range(53))
        got = []
        for b in batches:
            for j in range(len(b)):
                got.append(v.decode(b.targets[: b.lengths[j], j]))
        assert sorted(got) == sorted(items)


def test_batches_are_reshuffled_between_epochs_and_reproducible_from_the_seed():
    items = [f"а{'б' * i}" for i in range(40)]
    v = Vocab.from_items(items)
    a = NameBatches(items, v, batch_size=10, seed=7)
    epoch1 = np.concatenate([b.index for b in a])
    epoch2 = np.concatenate([b.index for b in a])
    assert not np.array_equal(epoch1, epoch2)
    b = NameBatches(items, v, batch_size=10, seed=7)
    np.testing.assert_array_equal(np.concatenate([x.index for x in b]), epoch1)
    np.testing.assert_array_equal(np.concatenate([x.index for x in b]), epoch2)
    c = NameBatches(items, v, batch_size=10, seed=8)
    assert not np.array_equal(np.concatenate([x.index for x in c]), epoch1)


def test_batches_encode_decomposed_yo_as_one_character():
    items = [unicodedata.normalize("NFD", "Фёдор")]
    v = Vocab.from_items(items)
    (batch,) = list(NameBatches(items, v, batch_size=1))
    assert batch.lengths.tolist() == [6]
    assert v.decode(batch.targets[:, 0]) == "Фёдор"


def test_batches_reject_bad_sizes_and_unknown_characters():
    v = Vocab.from_items(["аб"])
    with pytest.raises(ValueError):
        NameBatches(["аб"], v, batch_size=0)
    with pytest.raises(ValueError):
        NameBatches([], v)
    with pytest.raises(ValueError, match="'в'"):
        NameBatches(["ав"], v)
