"""``charrnn sample``: names from a names model, text from a text model.

charrnn sample names.safetensors -n 20 --temperature 0.8 --prefix Ан
charrnn sample gender.safetensors --category female --novel -n 20
charrnn sample gender.safetensors --category male --prefix Ан --beam 5
charrnn sample shakespeare.safetensors --prime "ROMEO:" --length 2000 --temperature 0.8
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from ..data import load_lines
from ..model import DEFAULT_MAX_LEN, load
from ..names.translit import SYSTEMS as TRANSLIT_SYSTEMS
from ..names.translit import transliterate
from ..sampling import SeenNames, read_seen, sample_filtered
from .args import non_negative_int, positive_int
from .common import HelpFormatter, add_model_argument, checkpoint_mode, subcommand

__all__ = ["add_parser", "run"]

DEFAULT_N = 10  # names `charrnn sample` writes
DEFAULT_LENGTH = 1000  # characters `charrnn sample --length` writes for a text model
STREAM_CHUNK = 16  # characters per write (and flush) when streaming a sample to stdout
# Options that only mean something for names models (their parser default is None or False).
NAMES_ONLY = {
    "n": "-n",
    "max_len": "--max-len",
    "category": "--category",
    "novel": "--novel",
    "exclude": "--exclude",
    "min_len": "--min-len",
    "max_draws": "--max-draws",
    "beam": "--beam",
    "starts_with": "--starts-with",
    "ends_with": "--ends-with",
    "contains": "--contains",
    "regex": "--regex",
    "resample": "--resample",
    "translit": "--translit",
}
# The constraints applied while drawing (charrnn.constraints), by option.
CONSTRAINTS = ("starts_with", "ends_with", "contains", "regex", "resample")


def add_parser(sub: Any) -> None:
    p = subcommand(
        sub,
        "sample",
        "generate names (or text) with a trained model",
        "Generate names with MODEL, one per line (a text model: a stream of text).",
        run,
        formatter_class=HelpFormatter,
    )
    add_model_argument(p)
    p.add_argument("-n", type=positive_int, metavar="N", default=None, help=f"how many names (default: {DEFAULT_N})")
    p.add_argument("--temperature", type=float, metavar="T", default=1.0, help="< 1: safer names, > 1: wilder names")
    p.add_argument(
        "--top-k",
        type=positive_int,
        metavar="K",
        default=None,
        help="draw only from the K most likely characters (1: greedy)",
    )
    p.add_argument(
        "--top-p",
        type=float,
        metavar="P",
        default=None,
        help="draw only from the most likely characters that make up probability P (nucleus sampling)",
    )
    p.add_argument("--prefix", metavar="TEXT", default="", help="every name starts with this text")
    p.add_argument(
        "--max-len",
        type=positive_int,
        metavar="N",
        default=None,
        help="maximum characters per name, prefix included (longer names are cut; with a constraint, --novel "
        f"or --exclude no name is longer) (default: {DEFAULT_MAX_LEN})",
    )
    p.add_argument("--seed", type=non_negative_int, metavar="N", default=0, help="the same seed gives the same names")
    p.add_argument("--category", metavar="NAME", default=None, help="the category to sample (conditional models)")
    p.add_argument(
        "--novel",
        action="store_true",
        help="only names the model was not trained on, none repeated (draws until it has N, saying how many it took)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        metavar="FILE",
        default=None,
        help="never print a name listed in FILE (one per line; repeatable)",
    )
    p.add_argument(
        "--min-len",
        type=positive_int,
        metavar="N",
        default=None,
        help="at least N characters per name, prefix included (a constraint, as --ends-with)",
    )
    c = p.add_argument_group(
        "constraints, applied while drawing (every name meets them; one no name can meet is an error)"
    )
    c.add_argument("--starts-with", metavar="S", default=None, help="every name starts with S")
    c.add_argument("--ends-with", metavar="S", default=None, help="every name ends with S (e.g. ская)")
    c.add_argument(
        "--contains", action="append", metavar="S", default=None, help="every name contains S (repeatable: all)"
    )
    c.add_argument("--regex", metavar="R", default=None, help="every whole name matches the regular expression R")
    c.add_argument(
        "--resample",
        type=positive_int,
        metavar="K",
        default=None,
        help="draw K candidates per name and keep one by its importance weight: closer to the model's own "
        "distribution over the names that meet the constraints, K times the work (default: 16; 1: plain masking)",
    )
    p.add_argument(
        "--translit",
        choices=list(TRANSLIT_SYSTEMS),
        default=None,
        help="also print each name in Latin letters: icao (as in Russian passports), gost, gost-b, bgn, scholarly",
    )
    p.add_argument(
        "--max-draws",
        type=positive_int,
        metavar="N",
        default=None,
        help="with --novel/--exclude: give up after drawing N names (default: 1000 + 100 x -n)",
    )
    p.add_argument(
        "--beam",
        type=positive_int,
        metavar="K",
        default=None,
        help="instead of sampling: the K most likely names starting with --prefix, with their log-probabilities",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object: {"names": [...], "draws": N, ...} (with --beam: {"completions": [...]})',
    )
    g = p.add_argument_group("text models (trained with --mode text)")
    g.add_argument(
        "--prime",
        metavar="TEXT",
        default=None,
        help="warm the state on TEXT, print it, then continue it (default: start as after a newline)",
    )
    g.add_argument(
        "--length",
        type=positive_int,
        metavar="N",
        default=None,
        help=f"characters to generate after the prime, streamed as they come (default: {DEFAULT_LENGTH})",
    )


def run(args: argparse.Namespace) -> int:
    if args.prime is not None or args.length is not None or checkpoint_mode(args.model) == "text":
        return _text(args)
    args.n = DEFAULT_N if args.n is None else args.n
    args.max_len = DEFAULT_MAX_LEN if args.max_len is None else args.max_len
    return _names(args)


def _names(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.categories is not None and args.category is None:
        raise ValueError(f"this model is conditional: give --category ({', '.join(model.categories)})")
    constraints = {key: getattr(args, key) for key in CONSTRAINTS if getattr(args, key) is not None}
    if args.beam is not None:
        flags = [("--novel", "novel"), ("--exclude", "exclude"), ("--min-len", "min_len")]
        flags += [(NAMES_ONLY[key], key) for key in CONSTRAINTS]
        used = [opt for opt, key in flags if getattr(args, key)]
        if used:
            raise ValueError(f"--beam lists the most likely names; it does not combine with {', '.join(used)}")
        found = model.beam_search(prefix=args.prefix, beam=args.beam, max_len=args.max_len, category=args.category)
        if args.json:
            completions = [{"name": name, "log_prob": logp} for name, logp in found]
            print(
                json.dumps(
                    {"prefix": args.prefix, "category": args.category, "completions": completions}, ensure_ascii=False
                )
            )
        else:
            for name, logp in found:
                print(f"{name}\t{logp:.4f}")
        return 0
    options = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "prefix": args.prefix,
        "seed": args.seed,
        "category": args.category,
    }
    if not (args.novel or args.exclude):
        names = model.sample(n=args.n, max_len=args.max_len, min_len=args.min_len, **options, **constraints)
        if args.json:
            record = {"names": names, "draws": len(names), "category": args.category}
            if args.translit:
                record.update(latin=[transliterate(x, args.translit) for x in names], translit=args.translit)
            print(json.dumps(record, ensure_ascii=False))
        else:
            print("\n".join(_shown(names, args.translit)))
        return 0
    exclude = SeenNames()
    if args.novel:
        seen = read_seen(args.model)
        if seen is None:
            print(
                f"warning: {args.model} holds no list of the names it was trained on (only 'charrnn train' writes one): "
                f"--novel can only avoid repeats" + (" and the --exclude files" if args.exclude else ""),
                file=sys.stderr,
            )
        else:
            exclude = seen
    for path in args.exclude or ():
        exclude = exclude | SeenNames.from_items(load_lines(path))
    result = sample_filtered(
        model,
        args.n,
        exclude=exclude,
        unique=args.novel,
        min_len=args.min_len or 1,
        max_len=args.max_len,
        max_draws=args.max_draws,
        **options,
        **constraints,
    )
    if args.json:
        record = {**result.to_dict(), "category": args.category}
        if args.translit:
            record.update(latin=[transliterate(x, args.translit) for x in result.names], translit=args.translit)
        print(json.dumps(record, ensure_ascii=False))
    elif result.names:
        print("\n".join(_shown(result.names, args.translit)))
    reasons = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.rejected.items())
    if not args.json:
        print(
            f"drew {result.draws} name(s) to find {len(result.names)}" + (f" (rejected: {reasons})" if reasons else ""),
            file=sys.stderr,
        )
    if not result.complete:
        print(
            f"charrnn: error: found only {len(result.names)} of {args.n} names in {result.draws} draws; "
            f"allow more with --max-draws, or loosen the filters (a higher --temperature gives more variety)",
            file=sys.stderr,
        )
        return 1
    return 0


def _shown(names: list[str], system: Optional[str]) -> list[str]:
    """The lines ``charrnn sample`` prints: a name, or with ``--translit`` the name, a tab
    and its Latin spelling."""
    if system is None:
        return names
    return [f"{x}\t{transliterate(x, system)}" for x in names]


def _text(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.mode != "text":
        raise ValueError(
            f"{args.model} is a names model (trained on one item per line); --prime/--length are for text models "
            f"(charrnn train FILE --mode text): use --prefix"
        )
    used = [flag for key, flag in NAMES_ONLY.items() if getattr(args, key) not in (None, False)]
    if used:
        raise ValueError(
            f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} for names models; {args.model} writes text (use --length)"
        )
    prime = args.prime if args.prime is not None else args.prefix
    length = args.length if args.length is not None else DEFAULT_LENGTH
    chunks = model.generate_text(
        prime,
        length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        chunk=STREAM_CHUNK,
    )
    if args.json:
        text = "".join(chunks)
        print(json.dumps({"prime": prime, "text": text, "length": len(text), "seed": args.seed}, ensure_ascii=False))
        return 0
    stdout = sys.stdout
    stdout.write(prime)
    stdout.flush()
    last = prime[-1:] or "\n"
    for chunk in chunks:
        stdout.write(chunk)
        stdout.flush()
        last = chunk[-1:] or last
    if last != "\n":
        stdout.write("\n")
    stdout.flush()
    return 0
