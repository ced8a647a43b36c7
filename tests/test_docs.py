"""README.md and docs/*.md stay true: their commands parse, their code runs, their links
resolve, and the figures that the code can re-derive cheaply are the code's.

* Every ``charrnn …`` line in a code block parses with the real parser,
  ``charrnn.cli.build_parser()`` (abbreviations off, so a misspelt option fails). A synopsis
  line is expanded first: ``[…]`` groups are left out in one expansion and put in in the
  others, each alternative of ``a | b`` and ``lstm|rnn|gru`` is taken in turn, ``NAME...``
  is given twice, ``…`` alone stands for other options and is dropped, and a placeholder
  (``FILE``, ``N``, ``NAME=FILE``, ``OUT.safetensors``, …) becomes a value of its kind.
* The README's Python API block runs as shown; every Python block of the pages compiles.
* Every relative link and image points to a file that exists, and an ``#anchor`` to a
  heading of that file (GitHub's rule for heading anchors).
* The counts of bundled names and presets, the parameter counts, the subcommands, the
  options of docs/cli.md and their defaults are checked against the code (the fault
  table of docs/reliability.md is checked by tests/faults.py).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import pathlib
import re
import shlex
from typing import Optional, Union

import pytest

import charrnn
from charrnn.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def rel(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- reading Markdown ---------------------------------------------------------------------


@dataclasses.dataclass
class Block:
    page: pathlib.Path
    lang: str
    line: int  # line number of the first line inside the fence
    lines: list[str]


FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


def split_page(path: pathlib.Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced code blocks of a page, and its other lines (numbered from 1)."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    fence: Optional[str] = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(2)
                blocks.append(Block(path, m.group(3).lower(), number + 1, []))
            else:
                prose.append((number, line))
        elif m and m.group(2).startswith(fence[0]) and len(m.group(2)) >= len(fence) and not m.group(3):
            fence = None
        else:
            blocks[-1].lines.append(line)
    assert fence is None, f"{rel(path)}: a code block is not closed"
    return blocks, prose


def command_lines(block: Block) -> list[tuple[int, str]]:
    """``(line number, command)`` for every ``charrnn …`` command of a shell-like block: in a
    ``console`` block the lines after ``$ ``, elsewhere every line (``$ `` dropped); a line
    ending in ``\\``, and a synopsis line's indented ``[…`` continuation, are joined; cut at
    ``&&`` and ``;``."""
    if block.lang not in ("", "sh", "bash", "shell", "console", "text"):
        return []
    logical: list[list] = []  # [line number, text, continued by a backslash]
    for offset, raw in enumerate(block.lines):
        line = raw.strip()
        if logical and logical[-1][2]:
            logical[-1][1] += " " + line.removesuffix("\\")
            logical[-1][2] = line.endswith("\\")
        elif logical and raw[:1].isspace() and line[:1] in "[(-" and logical[-1][1].startswith("charrnn "):
            logical[-1][1] += " " + line  # the synopsis goes on
        elif line.startswith("$ ") or block.lang != "console":
            line = line.removeprefix("$ ")
            logical.append([block.line + offset, line.removesuffix("\\"), line.endswith("\\")])
        else:
            logical.append([block.line + offset, "", False])  # output
    found = []
    for number, line, _ in logical:
        for part in re.split(r"\s&&\s|;\s", line):
            if part.strip().startswith("charrnn "):
                found.append((number, part.strip()))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|_(?=\w)|(?<=\w)_", "", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in split_page(path)[1]:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
    return result


def links(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of every Markdown link and image outside code."""
    found = []
    for number, line in split_page(path)[1]:
        line = re.sub(r"`[^`]*`", "", line)
        for m in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            found.append((number, m.group(1)))
    return found


def section(path: pathlib.Path, heading: str) -> str:
    """The text under a ``## heading`` of a page, up to the next ``## ``."""
    text = path.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"{rel(path)} has no section '## {heading}'"
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Markdown tables in ``text``, as lists of cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*:?-{3,}", line):
            rows.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return [r for r in rows if r and r[0] not in ("option", "preset")]  # drop the header rows


# -- synopsis lines -----------------------------------------------------------------------


@dataclasses.dataclass
class Word:
    text: str
    repeat: bool = False


@dataclasses.dataclass
class Choice:  # a value written as lstm|rnn|gru
    texts: list[str]


@dataclasses.dataclass
class Group:  # [ … ] or ( … ), with alternatives separated by " | "
    alternatives: list[list["Node"]]
    optional: bool


Node = Union[Word, Choice, Group]

# What a placeholder stands for: the option's kind of value.
NUMBERS = {
    "N": "3",
    "K": "3",
    "STEPS": "3",
    "X": "0.5",
    "T": "0.5",
    "P": "0.5",
    "WD": "0.1",
    "DECAY": "0.9",
    "COMMAND": "train",
}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*(\.[A-Za-z0-9.]+)?$")


def substitute(word: str) -> str:
    """``FILE`` -> ``file``, ``N`` -> ``3``, ``NAME=FILE`` -> ``name=file``; other words as
    they are."""
    if "=" in word and not word.startswith("-"):
        return "=".join(substitute(part) for part in word.split("="))
    if PLACEHOLDER.match(word):
        return NUMBERS.get(word, word.lower())
    return word


def tokens(command: str) -> list[str]:
    """Shell words, with the grammar's brackets and bars split off (quoted words stay whole)."""
    out: list[str] = []
    for word in shlex.split(command, comments=True):
        if " " in word:  # was quoted
            out.append(word)
            continue
        head = re.match(r"^[\[(]*", word).group()
        tail = re.search(r"[\])]*$", word[len(head) :]).group()
        out.extend(head)
        if word[len(head) : len(word) - len(tail)]:
            out.append(word[len(head) : len(word) - len(tail)])
        out.extend(tail)
    return out


def parse_synopsis(words: list[str]) -> list[Node]:
    pos = 0

    def sequence(closing: Optional[str]) -> list[list[Node]]:
        nonlocal pos
        alternatives: list[list[Node]] = [[]]
        while pos < len(words):
            w = words[pos]
            pos += 1
            if w in ("]", ")"):
                assert w == closing, f"unbalanced {w!r} in {' '.join(words)}"
                return alternatives
            if w == "|":
                alternatives.append([])
            elif w in ("[", "("):
                alternatives[-1].append(Group(sequence("]" if w == "[" else ")"), optional=w == "["))
            elif w == "…":
                pass  # "other options"
            elif w == "..." and closing is not None:  # (--category NAME=FILE ...): the option again
                alternatives[-1] = alternatives[-1] * 2
            elif w == "...":
                alternatives[-1][-1] = _repeated(alternatives[-1][-1])
            elif w.endswith(("...", "…")):
                alternatives[-1].append(Word(w.rstrip(".…"), repeat=True))
            elif "|" in w:
                alternatives[-1].append(Choice(w.split("|")))
            else:
                alternatives[-1].append(Word(w))
        assert closing is None, f"unclosed group in {' '.join(words)}"
        return alternatives

    top = sequence(None)
    return top[0] if len(top) == 1 else [Group(top, optional=False)]


def _repeated(node: Node) -> Node:
    if isinstance(node, Word):
        return Word(node.text, repeat=True)
    if isinstance(node, Group):
        return Group([alt * 2 for alt in node.alternatives], node.optional)
    return node


def arity(nodes: list[Node]) -> int:
    n = 1
    for node in nodes:
        if isinstance(node, Choice):
            n = max(n, len(node.texts))
        elif isinstance(node, Group):
            n = max(n, len(node.alternatives), *(arity(a) for a in node.alternatives))
    return n


def expand(nodes: list[Node], pick: int, optional: bool) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Word):
            out.extend([node.text] * (2 if node.repeat else 1))
        elif isinstance(node, Choice):
            out.append(node.texts[pick % len(node.texts)])
        elif optional or not node.optional:
            out.extend(expand(node.alternatives[pick % len(node.alternatives)], pick, optional))
    return out


def expansions(command: str) -> list[list[str]]:
    """Concrete argument lists (without the leading ``charrnn``) for a command or synopsis."""
    nodes = parse_synopsis(tokens(command))
    assert nodes and isinstance(nodes[0], Word) and nodes[0].text == "charrnn", command
    nodes = nodes[1:]
    result = [concrete(expand(nodes, 0, optional=False))]
    for pick in range(arity(nodes)):
        args = concrete(expand(nodes, pick, optional=True))
        if args not in result:
            result.append(args)
    return result


def concrete(args: list[str]) -> list[str]:
    """Placeholders replaced by values: the first choice of an option that has choices
    (``--preset NAME``), else by :func:`substitute`."""
    parser = parser_once()
    current = parser
    out: list[str] = []
    for arg in args:
        if current is parser and arg in subcommands(parser):
            current = subcommands(parser)[arg]
        action = actions(current).get(out[-1]) if out else None
        if PLACEHOLDER.match(arg) and action is not None and action.choices:
            out.append(str(list(action.choices)[0]))
        else:
            out.append(substitute(arg))
    return out


@functools.lru_cache(maxsize=None)
def parser_once() -> argparse.ArgumentParser:
    """The real parser, for reading its options (parsing never changes it)."""
    return build_parser()


@functools.lru_cache(maxsize=None)
def strict_parser() -> argparse.ArgumentParser:
    """The real parser, with abbreviations off (``--hid`` must not pass for ``--hidden``)."""
    parser = build_parser()
    for p in [parser, *subcommands(parser).values()]:
        p.allow_abbrev = False
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def parse_error(args: list[str]) -> Optional[str]:
    """None when ``charrnn ARGS`` parses, else what the parser says."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            strict_parser().parse_args(args)
        except SystemExit as e:
            if e.code == 0:  # --help, --version
                return None
            return err.getvalue().strip() or f"exit status {e.code}"
    return None


def inline_commands(page: pathlib.Path) -> list[tuple[int, str]]:
    """``charrnn …`` commands in the inline code of a page's prose."""
    return [(n, m) for n, line in split_page(page)[1] for m in re.findall(r"`(charrnn [^`]+)`", line)]


def mention_error(args: list[str]) -> Optional[str]:
    """None when the subcommand and every option of a mention such as ``charrnn train
    --resume CKPT`` exist (a mention in prose need not be a whole command), else what is
    wrong."""
    parser = parser_once()
    current, takes_value = parser, False
    for arg in args:
        if arg.startswith("-") and arg != "-":
            action = actions(current).get(arg.split("=")[0])
            if arg in ("-h", "--help"):
                continue
            if action is None:
                return f"{arg}: no such option of {current.prog}"
            takes_value = action.nargs != 0 and "=" not in arg
        elif takes_value:
            takes_value = False
        elif current is parser:
            if arg not in subcommands(parser):
                return f"{arg}: no such subcommand"
            current = subcommands(parser)[arg]
    return None


COMMANDS = [(rel(b.page), n, c) for page in PAGES for b in split_page(page)[0] for n, c in command_lines(b)]
MENTIONS = [(rel(page), n, c) for page in PAGES for n, c in inline_commands(page)]


def test_the_pages_show_commands_to_check():
    pages = {page for page, _, _ in COMMANDS}
    assert {"README.md", "docs/cli.md", "docs/text.md", "docs/conditional.md", "docs/interop.md"} <= pages
    assert len(COMMANDS) >= 50 and len(MENTIONS) >= 30


@pytest.mark.parametrize("page, line, command", COMMANDS, ids=[f"{p}:{n}" for p, n, _ in COMMANDS])
def test_every_command_shown_parses_with_the_real_parser(page, line, command):
    for args in expansions(command):
        error = parse_error(args)
        assert error is None, f"{page}:{line}: charrnn {shlex.join(args)}\n  (from: {command})\n  {error}"


@pytest.mark.parametrize("page, line, mention", MENTIONS, ids=[f"{p}:{n}" for p, n, _ in MENTIONS])
def test_every_command_mentioned_in_the_text_names_real_options(page, line, mention):
    for args in expansions(mention):
        error = mention_error(args)
        assert error is None, f"{page}:{line}: `{mention}`: {error}"


@pytest.mark.parametrize(
    "synopsis, expected",
    [
        ("charrnn eval MODEL FILE [--json]", [["eval", "model", "file"], ["eval", "model", "file", "--json"]]),
        (
            "charrnn train [--cell lstm|gru] [--epochs N | --max-steps N]",
            [["train"], ["train", "--cell", "lstm", "--epochs", "3"], ["train", "--cell", "gru", "--max-steps", "3"]],
        ),
        (
            'charrnn classify MODEL NAME... --prime "ROMEO: [x]"  # c',
            [["classify", "model", "name", "name", "--prime", "ROMEO: [x]"]],
        ),
        (
            "charrnn train (--preset NAME | --category NAME=FILE ...) …",
            [
                ["train", "--preset", "ru-first-by-gender"],
                ["train", "--category", "name=file", "--category", "name=file"],
            ],
        ),
    ],
)
def test_synopsis_expansion(synopsis, expected):
    assert expansions(synopsis) == expected


@pytest.mark.parametrize(
    "command",
    [
        "charrnn train --hid 3",  # an abbreviation is not the option
        "charrnn train [--cell lstm|lsmt]",  # each alternative is tried
        "charrnn sample MODEL [--temperature FILE]",
        "charrnn train --max-steps N [--epochs N | --epocs N]",
        "charrnn frobnicate",
    ],
)
def test_a_wrong_command_is_caught(command):
    assert any(parse_error(args) for args in expansions(command))


@pytest.mark.parametrize(
    "mention", ["charrnn train --hid", "charrnn frobnicate", "charrnn sample [--epocs N]", "charrnn --threads 2 trian"]
)
def test_a_wrong_mention_is_caught(mention):
    assert any(mention_error(args) for args in expansions(mention))


# -- code ---------------------------------------------------------------------------------


def python_blocks(page: pathlib.Path) -> list[Block]:
    return [b for b in split_page(page)[0] if b.lang == "python"]


def test_every_python_block_compiles():
    blocks = [b for page in PAGES for b in python_blocks(page)]
    assert len(blocks) >= 5
    for b in blocks:
        compile("\n".join(b.lines), f"{rel(b.page)}:{b.line}", "exec")


def test_the_readme_python_api_block_runs_as_shown(tmp_path, monkeypatch):
    (block,) = python_blocks(README)  # the "Python API" section's
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile("\n".join(block.lines), f"README.md:{block.line}", "exec"), namespace)
    # What the block says it leaves behind: a model file, a resumable checkpoint, a model.
    assert (tmp_path / "names.safetensors").is_file() and (tmp_path / "run.ckpt.safetensors").is_file()
    assert isinstance(namespace["model"], charrnn.CharRNN) and namespace["history"].best is not None


# -- links --------------------------------------------------------------------------------

LINKS = [(page, n, target) for page in PAGES for n, target in links(page) if not re.match(r"^[a-z]+:", target)]


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.split("#")[0]).resolve() for p, _, t in LINKS if p == README}
    missing = sorted(rel(page) for page in set(DOCS.glob("*.md")) - linked)
    assert not missing, f"README.md links no page {', '.join(missing)} (add it under 'Documentation')"


@pytest.mark.parametrize("page, line, target", LINKS, ids=[f"{rel(p)}:{n}:{t}" for p, n, t in LINKS])
def test_every_relative_link_resolves(page, line, target):
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    assert dest.exists(), f"{rel(page)}:{line}: {target}: no such file"
    if anchor:
        assert dest.suffix == ".md", f"{rel(page)}:{line}: {target}: an anchor into a file that is not Markdown"
        assert anchor in anchors(dest), f"{rel(page)}:{line}: {target}: {rel(dest)} has no heading #{anchor}"


def test_slugs_follow_githubs_rule():
    assert slug("Names by gender and kind: conditional models") == "names-by-gender-and-kind-conditional-models"
    assert slug("What happens when…") == "what-happens-when"
    assert slug("`charrnn train`") == "charrnn-train"
    assert slug("Learning-rate decay (both modes)") == "learning-rate-decay-both-modes"


# -- figures ------------------------------------------------------------------------------


def numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]


def test_readme_counts_of_the_bundled_names():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"bundled Russian first names \((\d+) of them: (\d+) male, (\d+) female\)", text)
    assert m, "README.md: the count of the bundled first names is gone"
    male, female = charrnn.datasets.russian_names("first", "male"), charrnn.datasets.russian_names("first", "female")
    assert numbers(m.group(0)) == [len(charrnn.datasets.russian_names("first")), len(male), len(female)]


def test_readme_training_output_matches_the_data_and_the_model():
    text = README.read_text(encoding="utf-8")
    data = re.search(r"^data: ([\d,]+) train / ([\d,]+) val items from bundled Russian first names$", text, re.M)
    vocab = re.search(r"^vocab: (\d+) ids \(3 markers \+ (\d+) characters: (\S+)\)$", text, re.M)
    model = re.search(r"^model: lstm hidden (\d+) x (\d+) layer\(s\), embed (\d+), ([\d,]+) parameters", text, re.M)
    assert data and vocab and model, "README.md: the output of charrnn train is gone"
    # What `charrnn train` does with its defaults (the split it prints moves nothing here).
    train_items, val_items = charrnn.split(charrnn.datasets.russian_names("first"), val_fraction=0.1, seed=0)
    assert numbers(data.group(0)) == [len(train_items), len(val_items)]
    v = charrnn.Vocab.from_items(train_items)
    assert (int(vocab.group(1)), int(vocab.group(2)), vocab.group(3)) == (len(v), len(v.chars), "".join(v.chars))
    hidden, layers, embed, params = numbers(model.group(0))
    assert charrnn.CharRNN(v, cell="lstm", hidden=hidden, layers=layers, embed=embed).num_params == params


def test_preset_table_matches_the_bundled_data():
    rows = table_rows(section(DOCS / "conditional.md", "Names by gender and kind"))
    rows = [r for r in rows if r[0].startswith("`ru-")]
    (preset_option,) = [a for a in subcommands(build_parser())["train"]._actions if "--preset" in a.option_strings]
    assert [r[0].strip("`") for r in rows] == list(preset_option.choices)
    for name, categories in rows:
        shown = {c: int(n.replace(",", "")) for c, n in re.findall(r"`(\w+)` \(([\d,]+)", categories)}
        data = charrnn.datasets.preset(name.strip("`"))
        labels = list(data.labels)
        assert shown == {c: labels.count(k) for k, c in enumerate(data.categories)}, name


def _vocab_of(size: int) -> charrnn.Vocab:
    return charrnn.Vocab.from_items(["".join(chr(0x100 + i) for i in range(size))])


def test_text_page_parameter_counts():
    text = (DOCS / "text.md").read_text(encoding="utf-8")
    m = re.search(r"^\| parameters \| ([\d,]+) \| \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    big = re.search(r"\(([\d,]+) parameters; Adam", text)
    distinct = re.search(r"\(([\d,]+) characters, (\d+) distinct\)", text)
    assert m and big and distinct
    v = _vocab_of(int(distinct.group(2)))  # tiny Shakespeare's characters
    cells = ("lstm", "gru", "rnn")
    counts = [charrnn.CharRNN(v, cell=cell, hidden=128, layers=2, embed=32).num_params for cell in cells]
    assert numbers(m.group(0)) == counts
    assert numbers(big.group(1)) == [charrnn.CharRNN(v, cell="lstm", hidden=512, layers=2, embed=64).num_params]


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="../shared/data/tinyshakespeare.txt is not there")
def test_text_page_figures_of_tiny_shakespeare():
    text = (DOCS / "text.md").read_text(encoding="utf-8")
    size = re.search(
        r"\(([\d,]+) characters, (\d+) distinct\), contiguous\s+90/5/5 split: ([\d,]+) characters to train on, ([\d,]+) each",
        text,
    )
    streams = re.search(r"the defaults: (\d+) streams of ([\d,]+) characters, (\d+) batches per\s+epoch", text)
    assert size and streams
    book = charrnn.load_text(SHAKESPEARE)
    train_text, val_text, test_text = charrnn.split_text(book, val_fraction=0.05, test_fraction=0.05)
    shown = [int(g.replace(",", "")) for g in size.groups()]
    assert shown == [len(book), len(set(book)), len(train_text), len(val_text)] and len(val_text) == len(test_text)
    b, length, batches = numbers(streams.group(0))
    assert length == (len(train_text) - 1) // b and batches == -(-length // 50)  # --seq-len 50


# -- the command reference ----------------------------------------------------------------

CLI = DOCS / "cli.md"


def documented(rows: list[list[str]]) -> dict[str, list[str]]:
    """First cell -> the row, for every option or argument named in the first cell."""
    out = {}
    for row in rows:
        for code in re.findall(r"`([^`]+)`", row[0]):
            out[code.split()[0]] = row
    return out


def actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    out = {}
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        for name in a.option_strings or [(a.metavar or a.dest.upper()) + ("..." if a.nargs in ("*", "+") else "")]:
            out[name] = a
    return out


def reference_sections() -> dict[str, str]:
    text = CLI.read_text(encoding="utf-8")
    return dict(re.findall(r"^## `charrnn (\w+)`\n(.*?)(?=^## |\Z)", text, re.S | re.M))


def test_cli_reference_has_one_section_per_subcommand_in_the_parsers_order():
    shown, real = list(reference_sections()), list(subcommands(build_parser()))
    assert not set(real) - set(shown), (
        f"docs/cli.md has no '## `charrnn X`' section for {sorted(set(real) - set(shown))}"
    )
    assert not set(shown) - set(real), (
        f"docs/cli.md documents subcommands that do not exist: {sorted(set(shown) - set(real))}"
    )
    assert shown == real, "docs/cli.md: the sections are not in the order of 'charrnn --help'"


def test_cli_reference_documents_every_option_and_no_other():
    parser = build_parser()
    pairs = [("Global options", parser, table_rows(section(CLI, "Global options")))]
    pairs += [(name, subcommands(parser)[name], table_rows(text)) for name, text in reference_sections().items()]
    for name, p, rows in pairs:
        shown, real = set(documented(rows)), set(actions(p))
        assert not real - shown, f"docs/cli.md, {name}: undocumented {sorted(real - shown)}"
        assert not shown - real, f"docs/cli.md, {name}: documents options that do not exist: {sorted(shown - real)}"


def _same(shown: str, default) -> bool:
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return float(shown) == default
        except ValueError:
            return False
    return shown == str(default)


def test_cli_reference_defaults_are_the_parsers():
    """The defaults the reference shows are the code's: the parser's own, or, for the
    training options whose parser default is None (so that a typed option can be told
    from a default), names mode's ``TrainConfig``."""
    parser = build_parser()
    names_config = dataclasses.asdict(charrnn.TrainConfig.for_mode("names"))
    pairs = [(parser, table_rows(section(CLI, "Global options")), {})]
    pairs += [
        (subcommands(parser)[name], table_rows(text), names_config if name == "train" else {})
        for name, text in reference_sections().items()
    ]
    checked = 0
    for p, rows, config in pairs:
        shown = documented(rows)
        for name, action in actions(p).items():
            default = action.default
            if default is None:
                default = config.get({"batch": "batch_size"}.get(action.dest, action.dest))
            if default in (None, False, "", argparse.SUPPRESS):
                continue
            action = argparse.Namespace(default=default)
            cell = shown[name][1].split("(text:")[0].strip().strip("`")
            assert _same(cell, action.default), f"{name}: the reference says {cell!r}, the parser {action.default!r}"
            checked += 1
    assert checked >= 15, f"only {checked} defaults checked"


def text_defaults() -> dict:
    """Text mode's defaults, from the training config where there is one."""
    config = getattr(charrnn, "TrainConfig", None)
    if config is not None and hasattr(config, "for_mode"):
        text = config.for_mode("text")
        return dataclasses.asdict(text) if dataclasses.is_dataclass(text) else vars(text)
    from charrnn.text_training import TEXT_DEFAULTS

    return TEXT_DEFAULTS


def test_cli_reference_text_mode_defaults_are_the_codes():
    rows = table_rows(reference_sections()["train"])
    shown = {}
    for row in rows:
        m = re.search(r"\(text: ([^)]+)\)", row[1])
        if m:
            shown[re.findall(r"`([^`]+)`", row[0])[0].split()[0]] = m.group(1)
    assert len(shown) >= 8
    defaults = text_defaults()
    for option, value in shown.items():
        key = option.lstrip("-").replace("-", "_")
        key = key if key in defaults else {"batch": "batch_size"}.get(key, key)  # TrainConfig's name
        assert _same(value, defaults[key]), (
            f"{option}: the reference says {value!r} in text mode, the code {defaults[key]!r}"
        )
