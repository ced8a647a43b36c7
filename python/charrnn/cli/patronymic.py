"""``charrnn patronymic NAME...``: the son's and the daughter's patronymic of each father.

    $ charrnn patronymic Илья Лев Никита
    Илья    Ильич    Ильинична
    ...
    $ charrnn patronymic Фома --json
    {"father": "Фома", "male": "Фомич", "female": "Фоминична"}

The rules are those of :mod:`charrnn.names.patronymic`.  Every name is checked before
anything is printed: one bad name is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "patronymic",
        help="the patronymics (son's and daughter's) of fathers' first names",
        description="For each father's first NAME, the son's and the daughter's patronymic (отчество) by the "
        "rules of Russian grammar: Илья → Ильич / Ильинична, Лев → Львович / Львовна.",
    )
    p.add_argument("names", metavar="NAME", nargs="+", help="fathers' first names, in Cyrillic letters")
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per name, in input order: {"father": ..., "male": ..., "female": ...}',
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..names.patronymic import patronymic

    results = [patronymic(name) for name in args.names]  # InvalidNameError before any output
    for name, result in zip(args.names, results, strict=True):
        father = name.strip()
        if args.json:
            print(json.dumps({"father": father, "male": result.male, "female": result.female}, ensure_ascii=False))
        else:
            print(f"{father}\t{result.male}\t{result.female}")
    return 0
