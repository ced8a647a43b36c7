"""Reading the guide's chapters: their ```python blocks and the result numbers they quote.

Used by ``make_results.py`` (runs each chapter at full size) and ``tests/test_guide.py``
(runs each at small size and checks the text against ``results.json``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from pathlib import Path
from typing import Any

GUIDE = Path(__file__).resolve().parent
LANGS = ("en", "ru")
# ```python runs; ```python source=charrnn.reference._rnn_step shows a package function and
# must be exactly its source (inspect.getsource); other fences (```text, ```sh) are shown only.
FENCE = re.compile(r"^```([\w-]*)[ \t]*([^\n]*)\n(.*?)^```", re.S | re.M)
# A number quoted from results.json is written in bold: **3.14**, **97.3 %** is not one.
QUOTED = re.compile(r"\*\*(-?\d[\d.]*(?:e-?\d+)?)\*\*")
FIGURE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def chapters(lang: str = "en") -> list[Path]:
    return sorted((GUIDE / lang).glob("[0-9][0-9]-*.md"))


def code_blocks(path: Path) -> list[str]:
    """The blocks that run, in order."""
    return [
        body for lang, info, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang == "python" and not info
    ]


def source_blocks(path: Path) -> list[tuple[str, str]]:
    """``(dotted name, shown text)`` of each block that shows a package function."""
    return [
        (info[len("source=") :], body)
        for lang, info, body in FENCE.findall(path.read_text(encoding="utf-8"))
        if lang == "python" and info.startswith("source=")
    ]


def source_of(dotted: str) -> str:
    """``inspect.getsource`` of e.g. ``charrnn.reference._rnn_step`` (a string constant such as
    ``charrnn.interop.TORCH_MODULE_SOURCE``: the string itself)."""
    module_name, _, attr = dotted.rpartition(".")
    while True:
        try:
            obj = importlib.import_module(module_name)
            break
        except ModuleNotFoundError:
            if "." not in module_name:
                raise
            module_name, _, outer = module_name.rpartition(".")
            attr = f"{outer}.{attr}"
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj if isinstance(obj, str) else inspect.getsource(obj)  # a string constant: its text


def prose(path: Path) -> str:
    """The chapter's text without its fenced blocks."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def quoted_numbers(path: Path) -> list[str]:
    return QUOTED.findall(prose(path))


def figures(path: Path) -> list[Path]:
    return [(path.parent / ref).resolve() for ref in FIGURE.findall(prose(path))]


def run_chapter(path: Path, small: bool) -> dict[str, Any]:
    """Execute the chapter's python blocks top to bottom in one fresh namespace."""
    old = os.environ.get("CHARRNN_GUIDE_SMALL")
    os.environ["CHARRNN_GUIDE_SMALL"] = "1" if small else "0"
    ns: dict[str, Any] = {"__name__": f"guide_{path.stem.replace('-', '_')}"}
    try:
        for k, block in enumerate(code_blocks(path)):
            exec(compile(block, f"{path.name} block {k + 1}", "exec"), ns)
    finally:
        if old is None:
            del os.environ["CHARRNN_GUIDE_SMALL"]
        else:
            os.environ["CHARRNN_GUIDE_SMALL"] = old
    return ns


def flat_values(results: Any) -> set[str]:
    """Every number in the results file, as the text writes it."""
    out: set[str] = set()
    if isinstance(results, dict):
        for v in results.values():
            out |= flat_values(v)
    elif isinstance(results, list):
        for v in results:
            out |= flat_values(v)
    elif isinstance(results, (int, float)) and not isinstance(results, bool):
        out.add(str(results))
    return out
