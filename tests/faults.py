"""The "What happens when…" table of docs/reliability.md, made from the tests that prove each row.

A test that checks how charrnn meets a fault or a bad input is decorated with
``@fault("the situation", "what the user sees")``; this module collects them, in test
module order, into the Markdown table that docs/reliability.md holds between the
``<!-- faults:start -->`` and ``<!-- faults:end -->`` lines.
``test_bad_input.py::test_readme_what_happens_table_is_generated_from_the_tests`` fails
when the page's table is not exactly the generated one, so every row of the table is a
statement some test checks.  Regenerate it with::

    python tests/faults.py --write
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import sys
from collections.abc import Callable

HERE = pathlib.Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "reliability.md"  # the page that holds the table
START, END = "<!-- faults:start -->", "<!-- faults:end -->"
# The test modules that hold @fault tests, in the order of the table.
MODULES = [
    "test_bad_input",
    "test_resume",
    "test_interrupt",
    "test_interrupt_long_calls",
    "test_best_model",
    "test_divergence",
    "test_core_robustness",
    "test_text_cli",
    "test_text_resume",
]


def fault(situation: str, outcome: str) -> Callable:
    """Mark a test as the proof of one row of the table."""

    def mark(test: Callable) -> Callable:
        rows = list(getattr(test, "fault_rows", []))
        rows.insert(0, (situation, outcome))  # decorators apply bottom-up: keep reading order
        test.fault_rows = rows
        return test

    return mark


def collect() -> list[tuple[str, str, str]]:
    """``(situation, outcome, test name)`` for every @fault test, module by module in
    :data:`MODULES` order and by line within a module."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    rows = []
    for name in MODULES:
        module = importlib.import_module(name)
        tests = [
            obj
            for obj in vars(module).values()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and hasattr(obj, "fault_rows")
        ]
        tests.sort(key=lambda f: f.__code__.co_firstlineno)
        for test in tests:
            for situation, outcome in test.fault_rows:
                rows.append((situation, outcome, f"{name}.py::{test.__name__}"))
    return rows


def table() -> str:
    lines = ["| What happens when… | What you see | Checked by |", "| --- | --- | --- |"]
    for situation, outcome, test in collect():
        cells = [c.replace("|", "\\|") for c in (situation, outcome)]
        lines.append(f"| {cells[0]} | {cells[1]} | `{test}` |")
    return "\n".join(lines)


def readme_table() -> str:
    """The table as docs/reliability.md holds it now ("" when its markers are missing)."""
    text = PAGE.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return ""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def write() -> None:
    text = PAGE.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{START}\n{table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(table())
