"""The guide (docs/guide): every chapter's code runs, both languages show the same code,
every number the text quotes is the one make_results.py wrote, every figure exists."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"
sys.path.insert(0, str(GUIDE))
import guidecode  # noqa: E402

RESULTS = json.loads((GUIDE / "results.json").read_text(encoding="utf-8"))
EN = guidecode.chapters("en")
NEEDS_TORCH = {"07"}


def test_both_languages_have_the_same_chapters_and_the_index_links_them():
    assert EN, "no chapters"
    assert [p.name for p in EN] == [p.name for p in guidecode.chapters("ru")]
    index = (GUIDE / "index.md").read_text(encoding="utf-8")
    for lang in guidecode.LANGS:
        for p in guidecode.chapters(lang):
            assert f"{lang}/{p.name}" in index, f"index.md does not link {lang}/{p.name}"


@pytest.mark.parametrize("name", [p.name for p in EN])
def test_russian_and_english_chapters_have_the_same_code_blocks(name):
    en = guidecode.code_blocks(GUIDE / "en" / name)
    assert en, f"{name} has no python block"
    assert guidecode.code_blocks(GUIDE / "ru" / name) == en


@pytest.mark.parametrize("lang", guidecode.LANGS)
@pytest.mark.parametrize("name", [p.name for p in EN])
def test_shown_package_functions_are_their_current_source(lang, name):
    path = GUIDE / lang / name
    shown = guidecode.source_blocks(path)
    assert [n for n, _ in shown] == [n for n, _ in guidecode.source_blocks(GUIDE / "en" / name)]
    for dotted, body in shown:
        assert body == guidecode.source_of(dotted), f"{lang}/{name} shows an outdated {dotted} (run fill_code.py)"


@pytest.mark.parametrize("lang", guidecode.LANGS)
@pytest.mark.parametrize("name", [p.name for p in EN])
def test_every_quoted_number_is_in_results_json_and_every_figure_exists(lang, name):
    path = GUIDE / lang / name
    known = guidecode.flat_values(RESULTS.get(name[:2], {}))
    missing = [n for n in guidecode.quoted_numbers(path) if n not in known]
    assert not missing, f"{lang}/{name} quotes numbers that results.json[{name[:2]!r}] lacks: {missing}"
    for fig in guidecode.figures(path):
        assert fig.is_file(), f"{lang}/{name} shows a missing figure {fig}"
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{fig} is not a PNG"


@pytest.mark.parametrize("name", [p.name for p in EN])
def test_chapter_code_runs_top_to_bottom_at_small_size(name, tmp_path, monkeypatch):
    if name[:2] in NEEDS_TORCH and importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed: the PyTorch chapter's code needs it (pip install torch)")
    monkeypatch.chdir(tmp_path)  # files the code writes land here
    ns = guidecode.run_chapter(GUIDE / "en" / name, small=True)
    assert ns.get("SMALL") is True, f"{name} does not read CHARRNN_GUIDE_SMALL into SMALL"
