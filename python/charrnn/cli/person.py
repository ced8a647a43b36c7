"""``charrnn person``: whole people (Фамилия Имя Отчество) whose parts agree in gender.

    $ charrnn person -n 3 --seed 1
    $ charrnn person --gender female --translit icao --json
    $ charrnn person --case datv          # "выдан ..." (needs: pip install 'charrnn[declension]')

First names, fathers' names and surnames are drawn from the bundled tables in proportion
to their counts (:class:`charrnn.names.person.TableSource`); the patronymic is derived
from the father's name and the surname put in the form for the gender.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .args import non_negative_int, positive_int

__all__ = ["add_parser", "run"]

TRANSLIT = ("icao", "gost", "gost-b", "bgn", "scholarly")
CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")


def _power(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


DEFAULT_SOURCE = "table"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "person",
        help="generate whole people: Фамилия Имя Отчество, agreeing in gender",
        description="Generate people (surname, first name, patronymic) whose parts agree in gender. Names are "
        "drawn from the bundled russiannames tables in proportion to how often people bear them; the "
        "patronymic is derived from the father's first name by the rules of Russian grammar.",
    )
    p.add_argument("-n", type=positive_int, metavar="N", default=10, help="how many people (default: %(default)s)")
    p.add_argument("--gender", choices=["male", "female"], default=None, help="default: either, with equal chances")
    p.add_argument(
        "--translit",
        choices=TRANSLIT,
        default=None,
        help="also print the name in Latin letters: icao (ICAO Doc 9303, as in Russian passports), gost "
        "(GOST 7.79 system A = ISO 9), gost-b (GOST 7.79 system B), bgn (BGN/PCGN), scholarly",
    )
    p.add_argument(
        "--case",
        choices=CASES,
        default="nomn",
        help="grammatical case: nomn gent datv accs ablt loct (other than nomn needs the declension extra: "
        "pip install 'charrnn[declension]') (default: %(default)s)",
    )
    p.add_argument("--first", metavar="NAME", default=None, help="every person has this first name")
    p.add_argument("--surname", metavar="NAME", default=None, help="every person has this surname (its male form)")
    p.add_argument("--father", metavar="NAME", default=None, help="every person's father has this first name")
    p.add_argument(
        "--source",
        choices=["table", "model"],
        default=DEFAULT_SOURCE,
        help="where first names and surnames come from: table (drawn from the bundled russiannames tables; "
        "--power and --min-count apply) or model (written by the shipped pretrained models ru-first-* and "
        "ru-surname-*: new names too) (default: %(default)s)",
    )
    p.add_argument(
        "--power",
        type=_power,
        metavar="X",
        default=1.0,
        help="draw names with probability proportional to count**X (1: as common as they are, 0: all "
        "alike) (default: %(default)s)",
    )
    p.add_argument(
        "--min-count",
        type=positive_int,
        metavar="N",
        default=1,
        help="leave out names seen fewer than N times (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        metavar="N",
        default=0,
        help="the same seed gives the same people (default: %(default)s)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per person: {"surname", "first", "patronymic", "gender", "father", "case", "full"} '
        'and, with --translit, "latin" and "translit"',
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..names.declension import decline
    from ..names.person import ModelSource, TableSource, people
    from ..names.translit import transliterate

    fixed = {k: getattr(args, k) for k in ("first", "surname", "father") if getattr(args, k) is not None}
    source = ModelSource() if args.source == "model" else TableSource(power=args.power, min_count=args.min_count)
    if args.case != "nomn":
        decline("Иванов", "Иван", "Иванович", "male", args.case)  # a missing extra fails before any output
    for p in people(args.n, gender=args.gender, seed=args.seed, source=source, **fixed):
        shown = p.declined(args.case) if args.case != "nomn" else p
        if args.json:
            record = {**shown.as_dict(), "case": args.case, "full": shown.full()}
            if args.translit:
                record["latin"] = transliterate(shown.full(), args.translit)
                record["translit"] = args.translit
            print(json.dumps(record, ensure_ascii=False))
        else:
            line = shown.full()
            if args.translit:
                line += "\t" + transliterate(shown.full(), args.translit)
            print(line)
    return 0
