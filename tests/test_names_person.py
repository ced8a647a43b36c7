"""Whole people (ФИО), their Latin spellings and their cases; `charrnn person` and
`charrnn patronymic`."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from charrnn.errors import InvalidNameError, MissingDependencyError
from charrnn.names import Person, TableSource, decline, people, person, transliterate
from charrnn.names import declension as declension_module
from charrnn.names.patronymic import patronymic
from charrnn.names.surname import surname_for
from charrnn.names.tables import first_names, surnames

HAS_PYTROVICH = declension_module.available()
needs_pytrovich = pytest.mark.skipif(
    not HAS_PYTROVICH, reason="declension needs the optional 'pytrovich' package (pip install 'charrnn[declension]')"
)


def test_every_part_of_a_person_agrees_with_the_gender():
    male_first = {r.name for r in first_names("male")}
    female_first = {r.name for r in first_names("female")}
    male_family = {r.name for r in surnames("male")}
    invariant = {r.name for r in surnames("any")}
    for p in people(200, seed=3):
        assert p.first in (male_first if p.gender == "male" else female_first)
        assert p.father in male_first
        assert p.patronymic == patronymic(p.father).for_gender(p.gender)
        if p.surname not in invariant:
            if p.gender == "male":
                assert p.surname in male_family
            else:  # the female form of a male surname of the table
                assert p.surname in {surname_for(s, "female") for s in male_family if s[:4] == p.surname[:4]}
    genders = [p.gender for p in people(400, seed=4)]
    assert 150 < genders.count("female") < 250  # either gender, with equal chances


def test_the_same_seed_gives_the_same_people():
    assert list(people(20, seed=7)) == list(people(20, seed=7))
    assert list(people(20, seed=7)) != list(people(20, seed=8))
    assert person(seed=5) == person(seed=5)


def test_fixed_parts_are_kept_and_made_to_agree():
    p = person(gender="female", first="Анна", surname="Толстой", father="Лев", seed=1)
    assert p == Person("Толстая", "Анна", "Львовна", "female", "Лев")
    assert p.full() == "Толстая Анна Львовна" and p.full("fps") == "Анна Львовна Толстая"
    assert person(first="Мария", seed=2).gender == "female"  # the table knows the gender of Мария
    assert person(first="Игорь", seed=2).gender == "male"


def test_names_are_drawn_in_proportion_to_their_counts():
    rng = random.Random(0)
    source = TableSource()
    drawn = [source.first_name("male", rng) for _ in range(4000)]
    common = drawn.count("Александр") / len(drawn)
    table = {r.name: r.count for r in first_names("male")}
    expected = table["Александр"] / sum(table.values())
    assert common == pytest.approx(expected, abs=0.015)
    flat = TableSource(power=0.0)
    drawn = [flat.first_name("male", rng) for _ in range(2000)]
    assert drawn.count("Александр") < 10  # 1 / 19,223 each when every name weighs alike


def test_the_name_source_is_pluggable():
    class Fixed:
        def first_name(self, gender, rng):
            return "Олег" if gender == "male" else "Ольга"

        def surname(self, gender, rng):
            return surname_for("Лисицын", gender)

    p = person(gender="female", seed=0, source=Fixed())
    assert (p.surname, p.first, p.patronymic, p.father) == ("Лисицына", "Ольга", "Олеговна", "Олег")


def test_bad_arguments_are_typed_errors():
    with pytest.raises(InvalidNameError):
        person(first="Anna")
    with pytest.raises(InvalidNameError):
        person(father="")
    with pytest.raises(ValueError, match="gender"):
        person(gender="f")
    with pytest.raises(ValueError, match="seed"):
        person(seed=-1)
    with pytest.raises(ValueError, match="power"):
        TableSource(power=-1)
    with pytest.raises(TypeError, match="unexpected"):
        list(people(1, patronymic="Иванович"))


@pytest.mark.parametrize(
    "system, latin",
    [
        ("icao", "Shchukina Iuliia Igorevna"),
        ("gost", "Ŝukina Ûliâ Igorevna"),
        ("gost-b", "Shhukina Yuliya Igorevna"),
        ("bgn", "Shchukina Yuliya Igorevna"),
        ("scholarly", "Ščukina Julija Igorevna"),
    ],
)
def test_latin_spellings(system, latin):
    assert transliterate("Щукина Юлия Игоревна", system) == latin


def test_icao_is_the_default_and_yo_is_transliterated_in_every_system():
    p = Person("Воробьёва", "Алёна", "Ильинична", "female", "Илья")
    assert p.latin() == "Vorobeva Alena Ilinichna"  # as in a Russian passport
    for system in ("gost", "bgn", "scholarly"):
        assert "ё" not in transliterate("Ёлкин Семён", system)
        assert "ë" in transliterate("Семён", system)
    with pytest.raises(ValueError, match="unknown transliteration system"):
        transliterate("Иван", "iso")


def test_nominative_needs_no_extra():
    assert decline("Иванова", "Анна", "Сергеевна", "female", "nomn") == ("Иванова", "Анна", "Сергеевна")
    with pytest.raises(ValueError, match="unknown case"):
        decline("Иванова", "Анна", "Сергеевна", "female", "dative")


@needs_pytrovich
@pytest.mark.parametrize(
    "case, expected",
    [
        ("gent", "Ивановой Анны Сергеевны"),
        ("datv", "Ивановой Анне Сергеевне"),
        ("accs", "Иванову Анну Сергеевну"),
        ("ablt", "Ивановой Анной Сергеевной"),
        ("loct", "Ивановой Анне Сергеевне"),
    ],
)
def test_a_woman_in_every_case(case, expected):
    p = Person("Иванова", "Анна", "Сергеевна", "female", "Сергей")
    assert p.declined(case).full() == expected
    assert p.declined(case).father == "Сергей"


@needs_pytrovich
def test_men_and_indeclinable_surnames():
    assert (
        Person("Толстой", "Лев", "Николаевич", "male", "Николай").declined("ablt").full()
        == "Толстым Львом Николаевичем"
    )
    assert decline("Седых", "Пётр", "Ильич", "male", "gent") == ("Седых", "Петра", "Ильича")
    assert decline("Кох", "Анна", "Ильинична", "female", "datv") == ("Кох", "Анне", "Ильиничне")
    assert decline("Шевченко", "Тарас", "Григорьевич", "male", "datv")[0] == "Шевченко"
    assert decline("Римская-Корсакова", "Анна", "Мамед-кызы", "female", "gent") == (
        "Римской-Корсаковой",
        "Анны",
        "Мамед-кызы",
    )
    assert decline("Алиев", "Мамед", "Ахмед-оглы", "male", "ablt") == ("Алиевым", "Мамедом", "Ахмед-оглы")


def test_without_pytrovich_declension_is_a_missing_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytrovich", None)  # makes `import pytrovich...` fail
    monkeypatch.setitem(sys.modules, "pytrovich.maker", None)
    monkeypatch.setitem(sys.modules, "pytrovich.enums", None)
    declension_module._pytrovich.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"pip install 'charrnn\[declension\]'"):
            decline("Иванова", "Анна", "Сергеевна", "female", "datv")
        assert not declension_module.available()
    finally:
        declension_module._pytrovich.cache_clear()


# -- the commands ------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charrnn", *args], capture_output=True, text=True, timeout=120)


def test_person_json_prints_one_object_a_line_and_nothing_else():
    result = run("person", "-n", "5", "--gender", "female", "--translit", "icao", "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 5
    for r in records:
        assert r["gender"] == "female" and r["case"] == "nomn" and r["translit"] == "icao"
        assert r["patronymic"] == patronymic(r["father"]).female
        assert r["full"] == f"{r['surname']} {r['first']} {r['patronymic']}"
        assert r["latin"] == transliterate(r["full"], "icao")
    again = run("person", "-n", "5", "--gender", "female", "--translit", "icao", "--seed", "3", "--json")
    assert again.stdout == result.stdout
    # The same people as the Python API.
    assert [r["full"] for r in records] == [p.full() for p in people(5, gender="female", seed=3)]


def test_person_plain_output_and_fixed_parts():
    result = run(
        "person", "-n", "2", "--surname", "Толстой", "--father", "Илья", "--gender", "female", "--translit", "bgn"
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        cyrillic, latin = line.split("\t")
        assert cyrillic.startswith("Толстая ") and cyrillic.endswith(" Ильинична")
        assert latin.startswith("Tolstaya ") and latin.endswith(" Il’inichna")


@needs_pytrovich
def test_person_case():
    result = run("person", "-n", "3", "--gender", "female", "--case", "datv", "--json", "--seed", "1")
    assert result.returncode == 0, result.stderr
    for r, p in zip(map(json.loads, result.stdout.splitlines()), people(3, gender="female", seed=1), strict=True):
        assert r["full"] == p.declined("datv").full() and r["case"] == "datv"
        assert r["patronymic"].endswith("вне") or r["patronymic"].endswith("чне")


@pytest.mark.parametrize(
    "args, message",
    [
        (["person", "--first", "Anna"], "first name 'Anna' is not a Russian name"),
        (["person", "--gender", "f"], "invalid choice"),
        (["person", "-n", "0"], "must be at least 1"),
        (["person", "--power", "-1"], "--power"),
        (["person", "--min-count", "1000000"], "first name is seen 1,000,000 times or more in the table"),
        (["patronymic", "Ivan"], "father's name 'Ivan' is not a Russian name"),
        (["patronymic", "Иван", ""], "father's name is empty"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_patronymic_command():
    result = run("patronymic", "Илья", "Лев", "Фома", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"father": "Илья", "male": "Ильич", "female": "Ильинична"},
        {"father": "Лев", "male": "Львович", "female": "Львовна"},
        {"father": "Фома", "male": "Фомич", "female": "Фоминична"},
    ]
    plain = run("patronymic", "Пётр")
    assert plain.stdout == "Пётр\tПетрович\tПетровна\n"


def test_person_case_without_the_extra_is_one_line_naming_the_install_command():
    # Run the command in a fresh interpreter where `import pytrovich` fails.
    code = (
        "import sys; sys.modules['pytrovich'] = None; sys.modules['pytrovich.maker'] = None; "
        "sys.modules['pytrovich.enums'] = None; from charrnn.cli import main; "
        "sys.exit(main(['person', '-n', '2', '--case', 'gent']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "charrnn: error: declension needs the 'pytrovich' package, which is not installed: "
        "pip install 'charrnn[declension]'"
    ]
    # The nominative needs nothing.
    code = code.replace("'gent'", "'nomn'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2
