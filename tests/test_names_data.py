"""The bundled russiannames tables, charrnn.datasets.russiannames, and counted lists (load_counts)."""

from __future__ import annotations

import gzip
import re
import unicodedata
from importlib import resources

import pytest

import charrnn
from charrnn import datasets
from charrnn.counted import Counted, load_counts, parse_counts
from charrnn.errors import DataError
from charrnn.names import tables

NAME = re.compile(r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)*(?:-оглы|-кызы)?")


@pytest.mark.parametrize(
    "select, rows, male, female",
    [
        (tables.first_names, 29_996, 19_223, 8_244),
        (tables.patronymics, 45_978, 29_293, 16_010),
        (tables.surnames, 363_368, 124_286, 111_087),
    ],
)
def test_tables_have_the_documented_rows_and_genders(select, rows, male, female):
    # The figures of data/README.md.
    assert len(select()) == rows
    assert len(select("male")) == male
    assert len(select("female")) == female
    assert {r.gender for r in select()} <= {"male", "female", "any", None}


@pytest.mark.parametrize("select", [tables.first_names, tables.patronymics, tables.surnames])
def test_every_row_is_a_clean_unique_name_with_a_positive_count(select):
    rows = select()
    names = [r.name for r in rows]
    assert len(set(names)) == len(names)
    for r in rows:
        assert NAME.fullmatch(r.name), r
        assert unicodedata.is_normalized("NFC", r.name)
        assert isinstance(r.count, int) and r.count >= 1


def test_the_counts_put_the_common_names_first():
    first = datasets.russiannames("first")
    assert first.items[:3] == ["Александр", "Николай", "Иван"]
    assert first.counts == sorted(first.counts, reverse=True)
    female = dict(zip(*datasets.russiannames("first", gender="female")))
    assert female["Елена"] == 62_796 and "Иван" not in female
    male = dict(zip(*datasets.russiannames("patronymic", gender="male")))
    assert male["Иванович"] == 128_841  # 128,108 + 733 written ИВАНОВИЧ, merged


def test_min_count_drops_the_rare_names():
    common = datasets.russiannames("surname", gender="female", min_count=100)
    assert common.counts and min(common.counts) >= 100
    assert len(common.items) < len(tables.surnames("female")) / 10


def test_pairs_link_fathers_to_patronymics_and_male_to_female_surnames():
    pairs = {(f, p, g) for f, p, g, _ in tables.patronymic_pairs()}
    assert ("Илья", "Ильинична", "female") in pairs and ("Иван", "Иванович", "male") in pairs
    assert len(tables.patronymic_pairs()) == 13_726
    surname = {m: f for m, f, _ in tables.surname_pairs()}
    assert surname["Иванов"] == "Иванова" and surname["Достоевский"] == "Достоевская"
    assert len(surname) == 74_024


def test_cleaning_merged_capitals_and_fixed_look_alike_latin_letters():
    first = {r.name: r for r in tables.first_names()}
    assert "СЕРГЕЙ" not in first and first["Сергей"].gender == "male"
    assert "Цырен-Доржи" in first  # ЦыренДоржи, hyphenated
    surnames = {r.name for r in tables.surnames()}
    assert "Султанова" in surnames and not any(re.search("[A-Za-z]", s) for s in surnames)
    assert "Мамед-оглы" in {r.name for r in tables.patronymics()}


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="gender"):
        tables.first_names("m")
    with pytest.raises(ValueError, match="min_count"):
        tables.surnames(min_count=0)
    with pytest.raises(ValueError, match="kind"):
        datasets.russiannames("surnames")


def test_the_old_lists_are_still_there():
    assert len(datasets.russian_names("first", "male")) == 408
    assert len(datasets.russian_names("patronymics", "female")) == 428


# -- counted lists ---------------------------------------------------------------------


def test_load_counts_reads_name_tab_count_lines(tmp_path):
    path = tmp_path / "names.tsv"
    path.write_text("Иван\t90136\nМария\t47828\n\nИван\t4\n", encoding="utf-8")
    counted = load_counts(path)
    assert counted == Counted(["Иван", "Мария"], [90140, 47828])  # a repeated item has its counts summed
    assert charrnn.load_counts is load_counts


def test_load_counts_finds_the_columns_by_the_header(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("gender,count,name\nm,3,Олег\nf,2.5,Анна\n", encoding="utf-8")
    assert load_counts(path) == Counted(["Олег", "Анна"], [3, 2.5])


def test_load_counts_reads_gzip_and_the_bundled_tables_round_trip():
    data = (resources.files("charrnn") / "data" / "ru_first_names.tsv.gz").read_bytes()
    counted = parse_counts(data, "ru_first_names.tsv.gz")
    rows = tables.first_names()
    assert counted.items == [r.name for r in rows] and counted.counts == [r.count for r in rows]


def test_weights_temper_the_counts():
    counted = Counted(["a", "b"], [9, 1])
    assert counted.weights() == pytest.approx([0.9, 0.1])
    assert counted.weights(0.5) == pytest.approx([0.75, 0.25])
    assert counted.weights(0) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError):
        counted.weights(-1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no items"),
        ("Иван\tмного\n", "line 1: .*header has no 'count'"),
        ("Иван\t3\nОлег\tмного\n", "line 2: count 'много' is not a number"),
        ("Иван\t-3\n", "line 1: count '-3' must be"),
        ("Иван\tnan\n", "must be a finite number"),
        ("Иван\t3\nОлег\n", "line 2: expected 2 fields"),
        ("\t3\n", "line 1: empty item"),
    ],
)
def test_malformed_counted_files_are_data_errors_naming_the_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_counts(path)


def test_a_broken_gzip_or_non_utf8_file_is_a_data_error():
    with pytest.raises(DataError, match="gzip"):
        parse_counts(gzip.compress("Иван\t1\n".encode())[:-6], "x.gz")
    with pytest.raises(DataError, match="UTF-8"):
        parse_counts(b"\xff\xfe\t1\n", "x.tsv")


def test_the_licence_travels_with_the_tables():
    licence = (resources.files("charrnn") / "data" / "LICENSE.russiannames").read_text(encoding="utf-8")
    assert licence.startswith("BSD 3-Clause License") and "Copyright (c) 2018, Ivan Begtin" in licence


# -- the cleaning of the rebuild script (data/build_russiannames.py; pyarrow is needed
# only to read the parquet files, not for these functions) ------------------------------


@pytest.fixture(scope="module")
def build():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "data" / "build_russiannames.py"
    spec = importlib.util.spec_from_file_location("build_russiannames", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "dataset, raw, cleaned",
    [
        ("names", " Иван ", "Иван"),
        ("names", "ИГОРЬ", "Игорь"),
        ("names", "алексей", "Алексей"),
        ("names", "ЦыренДоржи", "Цырен-Доржи"),
        ("surnames", "Cултанова", "Султанова"),  # a Latin C
        ("surnames", "Римский-Корсаков", "Римский-Корсаков"),
        ("midnames", "Мамед оглы", "Мамед-оглы"),
        ("midnames", "Мамед-Оглы", "Мамед-оглы"),
        ("midnames", "ГУСЕЙН ОГЛЫ", "Гусейн-оглы"),
        ("names", "В.Л.", None),
        ("names", "Русла6н", None),
        ("names", "ZAHID", None),
        ("surnames", "Эль Хатиб", None),
        ("surnames", "Ю", None),
        ("surnames", "-Салимгареев", None),
        ("midnames", "МГиреевна", None),
        ("names", None, None),
    ],
)
def test_the_rebuild_script_cleans_entries_as_documented(build, dataset, raw, cleaned):
    import collections

    assert build.clean(raw, dataset, collections.Counter()) == cleaned


def test_the_rebuild_script_keeps_the_larger_counts_value(build):
    import collections

    assert build._best(collections.Counter({"m": 5, "u": 7})) == "u"
    assert build._best(collections.Counter({"": 9, "f": 1})) == "f"  # a known value before an empty one
    assert build._best(collections.Counter({"": 3})) == ""
