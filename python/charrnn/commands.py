"""The command line beyond train/sample/eval: categories, filtered sampling, beam search,
classify, score, export/import, plot.  :mod:`charrnn.cli` builds its parser with the
functions here and runs the commands they register.

    charrnn train --preset ru-first-by-gender --out gender.safetensors --log run.jsonl
    charrnn train --category male=men.txt --category female=women.txt
    charrnn sample gender.safetensors --category female --novel -n 20
    charrnn sample gender.safetensors --category male --prefix Ан --beam 5
    charrnn classify gender.safetensors Саша Евгения --json
    charrnn score names.safetensors Анна Ахтунг --json
    charrnn export names.safetensors --to torch names.torch.safetensors
    charrnn import names.torch.safetensors --out back.safetensors
    charrnn plot run.jsonl --out curves.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional

from .argtypes import positive_int as _positive_int, non_negative_int as _non_negative_int
from .checkpoint import load
from .cli_ngram import add_parser as add_ngram_parser
from .data import load_lines
from .errors import DataError
from .labelled import PRESETS, Labelled, preset
from .model import DEFAULT_CATEGORY_DIM, CharRNN
from .sampling import SEEN_KEY, SeenNames, read_seen, sample_filtered

__all__ = [
    "add_train_options",
    "add_sample_options",
    "add_commands",
    "labelled_data",
    "category_args",
    "print_category_counts",
    "final_samples",
    "seen_metadata",
    "save_trained",
    "sample_command_applies",
    "run_sample",
    "cmd_classify",
    "cmd_score",
    "cmd_export",
    "cmd_import",
    "cmd_plot",
]


class _IntermixedParser(argparse.ArgumentParser):
    """Lets options and a list of positionals mix (``score MODEL --category f Анна Яна``),
    which plain ``parse_args`` refuses once a ``nargs="*"`` positional was matched empty."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inside:  # parse_known_intermixed_args calls parse_known_args itself
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def _intermixed(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.__class__ = _IntermixedParser
    return p


def _category_spec(text: str) -> str:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {text!r}")
    return text


# -- train ----------------------------------------------------------------------------


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options ``charrnn train`` gets for conditional models and for watching training."""
    g = p.add_argument_group(
        "categories (a conditional model: one model for several labelled lists)",
        "The model learns one embedding per category and is then sampled, scored and "
        "classified by category. Validation is a --val-fraction of each category.",
    )
    g.add_argument(
        "--category",
        type=_category_spec,
        action="append",
        metavar="NAME=FILE",
        default=None,
        help="a labelled list: the items of FILE belong to category NAME (repeat for each category)",
    )
    g.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="a labelled set from the bundled names: "
        + "; ".join(f"{name}: {description}" for name, (description, _) in PRESETS.items()),
    )
    g.add_argument(
        "--category-dim",
        type=_positive_int,
        metavar="N",
        default=DEFAULT_CATEGORY_DIM,
        help="size of the learnt category embedding",
    )
    g = p.add_argument_group("seeing training")
    g.add_argument(
        "--log",
        metavar="FILE.jsonl",
        default=None,
        help="write every evaluation (train/val NLL, perplexity, step, ...) to FILE as JSON lines; "
        "draw it with 'charrnn plot FILE'",
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar with the live loss and chars/s during each epoch, on stderr "
        "(default: when stderr is a terminal and --json is not given)",
    )


def labelled_data(args: argparse.Namespace, max_chars: Optional[int]) -> Optional[tuple[Labelled, str]]:
    """``(items, description)`` of ``--preset`` or ``--category`` (None without either)."""
    specs: list[str] = getattr(args, "category", None) or []
    name = getattr(args, "preset", None)
    if not specs and not name:
        return None
    if specs and name:
        raise DataError("give either --preset or --category NAME=FILE options, not both")
    if args.file is not None:
        raise DataError(f"give the training data either as FILE ({args.file}) or with --category/--preset, not both")
    if args.val is not None:
        raise DataError("--val does not go with --category/--preset: validation is a --val-fraction of each category")
    if name:
        return preset(name), f"the {name} preset"
    lists: dict[str, list[str]] = {}
    absolute = []
    for spec in specs:
        category, _, path = spec.partition("=")
        category = category.strip()
        if category in lists:
            raise DataError(f"category {category!r} is given twice (--category {spec})")
        lists[category] = load_lines(path, dedupe=args.dedupe, max_line_chars=max_chars)
        absolute.append(f"{category}={os.path.abspath(path)}")
    args.category = absolute  # recorded in training checkpoints: resumable from any folder
    if len(lists) < 2:
        print("warning: only one --category: the model learns a single category", file=sys.stderr)
    return Labelled.from_lists(lists), "; ".join(f"{c}: {spec.partition('=')[2]}" for c, spec in zip(lists, specs, strict=True))


def category_args(args: argparse.Namespace, items: Sequence[str]) -> dict[str, Any]:
    """``CharRNN`` keyword arguments for the categories of ``items`` (none for plain items)."""
    if not isinstance(items, Labelled):
        return {}
    return {"categories": items.categories, "category_dim": args.category_dim}


def print_category_counts(train_items: Sequence[str], val_items: Sequence[str], out: Any) -> None:
    if isinstance(train_items, Labelled):
        val_counts = val_items.counts() if isinstance(val_items, Labelled) else {}
        parts = [f"{c} {n:,}/{val_counts.get(c, 0):,}" for c, n in train_items.counts().items()]
        print(f"categories (train/val items): {', '.join(parts)}", file=out)


def final_samples(model: CharRNN, n: int, seed: int) -> list[str]:
    """The lines ``charrnn train`` prints as samples: ``n`` names, or ``n`` per category
    (``[category] name``)."""
    if model.categories is None:
        return model.sample(n=n, seed=seed)
    lines = []
    for k, category in enumerate(model.categories):
        lines += [f"[{category}] {name}" for name in model.sample(n=n, seed=seed + k, category=category)]
    return lines


def seen_metadata(*lists: Optional[Sequence[str]]) -> dict[str, str]:
    """The ``seen_items`` checkpoint entry for every item of ``lists`` (see :mod:`charrnn.sampling`)."""
    items = [item for items in lists if items for item in items]
    return {SEEN_KEY: SeenNames.from_items(items).to_metadata()}


def save_trained(
    model: CharRNN, path: str, extra: dict[str, Any], train_items: Sequence[str], val_items: Optional[Sequence[str]]
) -> None:
    """Save the model ``charrnn train`` trained, with the names it saw (for ``sample --novel``)."""
    from .checkpoint import save

    save(model, path, extra=extra, extra_metadata=seen_metadata(train_items, val_items))


# -- sample ---------------------------------------------------------------------------


def add_sample_options(p: argparse.ArgumentParser) -> None:
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
        type=_positive_int,
        metavar="N",
        default=None,
        help="at least N characters per name, prefix included (shorter names are drawn again)",
    )
    p.add_argument(
        "--max-draws",
        type=_positive_int,
        metavar="N",
        default=None,
        help="with --novel/--exclude/--min-len: give up after drawing N names (default: 1000 + 100 x -n)",
    )
    p.add_argument(
        "--beam",
        type=_positive_int,
        metavar="K",
        default=None,
        help="instead of sampling: the K most likely names starting with --prefix, with their log-probabilities",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object: {"names": [...], "draws": N, ...} (with --beam: {"completions": [...]})',
    )


def sample_command_applies(args: argparse.Namespace) -> bool:
    """Whether ``charrnn sample`` needs :func:`run_sample` (any option beyond the basic ones)."""
    return any(
        getattr(args, key, None) not in (None, False)
        for key in ("category", "novel", "exclude", "min_len", "max_draws", "beam", "json")
    )


def run_sample(args: argparse.Namespace) -> int:
    model = load(args.model)
    if model.categories is not None and args.category is None:
        raise ValueError(f"this model is conditional: give --category ({', '.join(model.categories)})")
    if args.beam is not None:
        used = [opt for opt, key in (("--novel", "novel"), ("--exclude", "exclude"), ("--min-len", "min_len")) if getattr(args, key)]
        if used:
            raise ValueError(f"--beam lists the most likely names; it does not combine with {', '.join(used)}")
        found = model.beam_search(prefix=args.prefix, beam=args.beam, max_len=args.max_len, category=args.category)
        if args.json:
            print(
                json.dumps(
                    {
                        "prefix": args.prefix,
                        "category": args.category,
                        "completions": [{"name": name, "log_prob": logp} for name, logp in found],
                    },
                    ensure_ascii=False,
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
    if not (args.novel or args.exclude or args.min_len is not None):
        names = model.sample(n=args.n, max_len=args.max_len, **options)
        if args.json:
            print(json.dumps({"names": names, "draws": len(names), "category": args.category}, ensure_ascii=False))
        else:
            print("\n".join(names))
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
    )
    if args.json:
        print(json.dumps({**result.to_dict(), "category": args.category}, ensure_ascii=False))
    elif result.names:
        print("\n".join(result.names))
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


# -- classify, score, export, import, plot -----------------------------------------------


def add_commands(sub: Any) -> None:
    """Register classify, score, export, import and plot."""
    p = sub.add_parser(
        "classify",
        help="the probability of each category for each name (conditional models)",
        description="P(category | name) by Bayes' rule: P(name | category) from the model times the prior "
        "P(category), normalised. The prior is each category's share of the training items (stored in the "
        "model), or uniform with --prior uniform.",
    )
    _intermixed(p)
    p.add_argument("model", metavar="MODEL", help="a conditional model (trained with --category or --preset)")
    p.add_argument("names", metavar="NAME", nargs="*", help="names to classify")
    p.add_argument("--file", metavar="FILE", help="also classify the names in FILE (one per line)")
    p.add_argument("--prior", choices=["training", "uniform"], default="training", help="the prior P(category)")
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per name, in input order: {"name": ..., "probs": {category: p, ...}, "category": best}',
    )
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser(
        "score",
        help="log-probability of names, total and per character",
        description="The natural log-probability (nats) the model gives each name and each of its characters "
        "(given the ones before it), the end marker included. Closer to 0 is more typical; the mean per "
        "character compares names of different lengths.",
    )
    _intermixed(p)
    p.add_argument("model", metavar="MODEL", help="a checkpoint written by 'charrnn train'")
    p.add_argument("names", metavar="NAME", nargs="*", help="names to score")
    p.add_argument("--file", metavar="FILE", help="also score the names in FILE (one per line)")
    p.add_argument("--category", metavar="NAME", default=None, help="score under this category (conditional models)")
    p.add_argument("--sort", action="store_true", help="most typical first (by mean log-probability per character)")
    p.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per name: {"name", "log_prob", "mean_log_prob", "chars": [{"char", "log_prob"}, ...]}',
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "export",
        help="write a model as a PyTorch state dict",
        description="Write MODEL as a PyTorch state dict (safetensors) for the nn.Module shown in the README; "
        "the vocabulary and configuration travel in its metadata.",
    )
    p.add_argument("model", metavar="MODEL", help="a checkpoint written by 'charrnn train'")
    p.add_argument("--to", choices=["torch"], required=True, help="the target framework")
    p.add_argument("out", metavar="OUT", help="the state dict to write (.safetensors)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import",
        help="read a PyTorch state dict back into a charrnn model",
        description="Read a PyTorch state dict (safetensors) of the README's nn.Module into a charrnn model. "
        "A file written by 'charrnn export' needs nothing else; for one saved by PyTorch, give the "
        "vocabulary (--vocab) and, for a conditional model, the category names (--config).",
    )
    p.add_argument("state_dict", metavar="STATE_DICT", help="safetensors file (safetensors.torch.save_file)")
    p.add_argument(
        "--vocab", metavar="FILE", help="JSON: a list of the characters of ids 3, 4, ... (0 pad, 1 start, 2 end)"
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help='JSON object with any of "vocab", "categories" (names, in id order), "category_counts", "cell", "seed"',
    )
    p.add_argument("--out", metavar="PATH", required=True, help="the charrnn model to write")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "plot",
        help="draw the learning curves of a training log",
        description="Draw train and validation perplexity against optimizer steps from a log written by "
        "'charrnn train --log FILE'. Needs matplotlib: pip install 'charrnn[plot]'.",
    )
    p.add_argument("log", metavar="LOG", help="a JSON-lines log written by 'charrnn train --log'")
    p.add_argument("--out", metavar="PATH", default=None, help="the picture to write (.png, .svg, .pdf; default: LOG with .png)")
    p.add_argument("--title", default=None, help="the title (default: the log's file name)")
    p.add_argument("--log-scale", action="store_true", help="a logarithmic perplexity axis")
    p.set_defaults(func=cmd_plot)
    add_ngram_parser(sub)  # charrnn ngram: the counting baseline (charrnn.cli_ngram)


def _names(args: argparse.Namespace) -> list[str]:
    names = list(args.names)
    if args.file:
        names += load_lines(args.file)
    if not names:
        raise ValueError("no names given (give them as arguments or with --file)")
    return names


def cmd_classify(args: argparse.Namespace) -> int:
    from .classify import classify

    model = load(args.model)
    if model.categories is None:
        raise ValueError(f"{args.model} is not a conditional model (train one with --category or --preset)")
    names = _names(args)
    for name, probs in zip(names, classify(model, names, prior=args.prior), strict=True):
        best = max(probs, key=probs.__getitem__)
        if args.json:
            print(json.dumps({"name": name, "probs": probs, "category": best}, ensure_ascii=False))
        else:
            print(f"{name}\t{best}\t" + "  ".join(f"{c} {p:.3f}" for c, p in probs.items()))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .scoring import score

    model = load(args.model)
    if model.categories is not None and args.category is None:
        raise ValueError(f"this model is conditional: give --category ({', '.join(model.categories)})")
    scores = score(model, _names(args), category=args.category)
    if args.sort:
        scores = sorted(scores, key=lambda s: -s.mean)
    for s in scores:
        if args.json:
            print(json.dumps(s.to_dict(), ensure_ascii=False))
        else:
            chars = " ".join(f"{c}{p:+.2f}" for c, p in zip(s.chars, s.log_probs, strict=True))
            print(f"{s.name}\t{s.total:.3f}\t{s.mean:.3f}/char\t{chars}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .interop import export_torch

    model = load(args.model)
    export_torch(model, args.out)
    print(f"wrote the PyTorch state dict of {model} to {args.out}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .interop import import_torch

    model = import_torch(args.state_dict, vocab=args.vocab, config=args.config)
    model.save(args.out, extra={"imported_from": os.path.abspath(args.state_dict)})
    print(f"wrote {model} to {args.out}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plot import plot_log

    out = args.out or (os.path.splitext(args.log)[0] + ".png")
    n = plot_log(args.log, out, title=args.title, log_scale=args.log_scale)
    print(f"drew {n} evaluation(s) from {args.log} into {out}", file=sys.stderr)
    return 0

