"""Vocab: markers 0/1/2, characters from 3 in sorted order, NFC everywhere, clear errors."""

from __future__ import annotations

import unicodedata

import pytest

from charrnn import UnknownCharacterError, Vocab
from charrnn.vocab import BOS, EOS, PAD


def test_markers_have_ids_0_1_2_and_characters_follow_in_sorted_order():
    v = Vocab.from_items(["ba", "ca"])
    assert (PAD, BOS, EOS) == (0, 1, 2) == (v.pad_id, v.bos_id, v.eos_id)
    assert v.chars == ("a", "b", "c")
    assert v.encode("abc") == [3, 4, 5]
    assert len(v) == 6


def test_same_items_in_any_order_give_the_same_vocab():
    assert Vocab.from_items(["Пётр", "Анна"]) == Vocab.from_items(["Анна", "Пётр", "Анна"])


def test_encode_decode_round_trip_with_cyrillic_and_yo():
    v = Vocab.from_items(["Алёна", "Ёжик", "Пётр"])
    for text in ["Алёна", "Ёжик", "Пётр", "рёж"]:
        assert v.decode(v.encode(text)) == text
    assert "ё" in v.chars and "Ё" in v.chars


def test_decomposed_yo_is_normalised_to_one_character():
    decomposed = unicodedata.normalize("NFD", "Алёна")
    assert len(decomposed) == 6
    v = Vocab.from_items([decomposed])
    assert "ё" in v.chars and "\u0308" not in v.chars
    assert v.encode(decomposed) == v.encode("Алёна")
    assert len(v.encode(decomposed)) == 5


def test_decode_skips_markers():
    v = Vocab.from_items(["ab"])
    assert v.decode([BOS, 3, PAD, 4, EOS, PAD]) == "ab"


def test_decode_rejects_ids_outside_the_vocabulary():
    v = Vocab.from_items(["ab"])
    with pytest.raises(ValueError, match="5"):
        v.decode([3, 5])


def test_unknown_character_error_names_the_character_its_code_point_and_the_item():
    v = Vocab.from_items(["Анна"])
    with pytest.raises(UnknownCharacterError) as info:
        v.encode("Анжела")
    message = str(info.value)
    assert "'ж'" in message and "U+0436" in message and "Анжела" in message
    assert isinstance(info.value, ValueError)
    assert info.value.char == "ж" and info.value.item == "Анжела"


def test_json_round_trip_gives_an_equal_vocab():
    v = Vocab.from_items(["Фёдор", "Max", "Жанна-Мария"])
    text = v.to_json()
    assert "Фёдор"[1] in text  # stored readable, not \\u-escaped
    w = Vocab.from_json(text)
    assert w == v and w.chars == v.chars and len(w) == len(v)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"chars": ["ab"]}',
        '{"chars": ["b", "a"]}',
        '{"chars": ["a", "a"]}',
        '{"markers": ["x"], "chars": ["a"]}',
    ],
)
def test_from_json_rejects_malformed_input(text):
    with pytest.raises(ValueError):
        Vocab.from_json(text)


def test_empty_items_cannot_make_a_vocab():
    with pytest.raises(ValueError):
        Vocab.from_items(["", ""])
