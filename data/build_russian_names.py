"""Build the bundled name lists from the `russian-names` package (PyPI, MIT licence).

Usage (stdlib only, Python 3.11):

    pip download --no-deps -d /tmp/rn russian-names==0.1.2
    python data/build_russian_names.py /tmp/rn/russian_names-0.1.2-py3-none-any.whl

SOURCE is the downloaded wheel, or a directory holding the package's data: an unpacked
wheel, a site-packages directory, or the installed `russian_names` package directory
itself. Output goes beside this script unless `--out DIR` is given.

The package keeps all its names in `russian_names/_data.zip`, one member `base.txt`: ten
lines (UTF-8), each a space-separated list, in the order its own code reads them
(russian_names/names.py, RussianNames._fill_base): male first names (rare, common), male
patronymics (rare, common), male surnames, then the same five for women. Patronymics are
stored, not derived. This script joins rare and common and writes six files, one name per
line, UTF-8, NFC, without duplicates, sorted in Russian alphabetical order (ё after е),
with a trailing newline. It also copies the package's licence to LICENSE.russian-names.

Cleaning, reported as it happens: NFC normalisation; surrounding whitespace stripped;
control and other invisible (Unicode category C) characters removed from inside an entry,
keeping the entry if what remains is a name; empty entries dropped; entries that are not
a capitalised Cyrillic word (letters, optionally joined by hyphens) dropped.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import sys
import unicodedata
import zipfile
from pathlib import Path

DATA_ZIP = "russian_names/_data.zip"
LICENSE_NAME = "LICENSE.russian-names"
# Output file -> indices of the base.txt lines it is built from (rare list first).
OUTPUTS = {
    "first_names_male": [0, 1],
    "first_names_female": [5, 6],
    "patronymics_male": [2, 3],
    "patronymics_female": [7, 8],
    "surnames_male": [4],
    "surnames_female": [9],
}
NAME = re.compile(r"[А-ЯЁ][а-яё]*(?:-[А-ЯЁ][а-яё]*)*")


def read_source(source: Path) -> tuple[bytes, str | None]:
    """Return the bytes of `_data.zip` and the package's licence text (None if absent)."""
    if source.is_file():
        with zipfile.ZipFile(source) as whl:
            licences = [n for n in whl.namelist() if re.search(r"\.dist-info/LICEN[CS]E", n)]
            licence = whl.read(licences[0]).decode("utf-8") if licences else None
            return whl.read(DATA_ZIP), licence
    for root in (source, source.parent):  # unpacked wheel / site-packages, or the package dir
        data = root / DATA_ZIP
        if data.is_file():
            licences = sorted(root.glob("russian_names-*.dist-info/LICEN[CS]E*"))
            licence = licences[0].read_text(encoding="utf-8") if licences else None
            return data.read_bytes(), licence
    raise SystemExit(f"no {DATA_ZIP} found in {source}")


def read_sections(data_zip: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(data_zip)) as inner:
        text = inner.read("base.txt").decode("utf-8")
    lines = text.splitlines()  # as the package does (russian_names/utils.py, load_data)
    if len(lines) != 10:
        raise SystemExit(f"expected 10 lists in base.txt, found {len(lines)}")
    return [line.split(" ") for line in lines]


def clean(entry: str, report: list[str]) -> str | None:
    """The cleaned name, or None; what was done is appended to `report`."""
    name = unicodedata.normalize("NFC", entry).strip()
    visible = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if visible != name:
        report.append(f"fixed   {name!r} -> {visible!r} (removed invisible/control characters)")
        name = visible
    if not name:
        report.append("empty")
        return None
    if not NAME.fullmatch(name):
        report.append(f"dropped {name!r}: not a capitalised Cyrillic name")
        return None
    return name


def russian_order(name: str) -> tuple[str, str]:
    # Code-point order of а..я is alphabetical; ё (U+0451) belongs right after е.
    return name.lower().replace("ё", "е\U0010ffff"), name


def build(sections: list[list[str]], out_dir: Path) -> dict[str, list[str]]:
    result = {}
    for out_name, parts in OUTPUTS.items():
        raw = [entry for i in parts for entry in sections[i]]
        report: list[str] = []
        cleaned = [clean(entry, report) for entry in raw]
        kept = [n for n in cleaned if n is not None]
        names = sorted(set(kept), key=russian_order)
        (out_dir / f"{out_name}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        count = {kind: sum(r.startswith(kind) for r in report) for kind in ("fixed", "dropped", "empty")}
        print(
            f"{out_name}: {len(raw)} entries, {count['fixed']} fixed, {count['dropped']} dropped, "
            f"{count['empty']} empty, {len(kept) - len(names)} duplicates removed -> {len(names)} names"
        )
        for line in report:
            if line != "empty":
                print("    " + line)
        result[out_name] = names
    return result


def summarise(result: dict[str, list[str]]) -> None:
    print("\n| file | names | distinct characters | length min / median / max |")
    print("|---|---|---|---|")
    for out_name, names in result.items():
        lengths = [len(n) for n in names]
        chars = len(set("".join(names)))
        print(
            f"| `{out_name}.txt` | {len(names):,} | {chars} | "
            f"{min(lengths)} / {statistics.median(lengths):g} / {max(lengths)} |"
        )
    every = sorted(set("".join(n for names in result.values() for n in names)))
    print(f"\nAll files: {sum(map(len, result.values())):,} lines, {len(every)} distinct characters:")
    print("".join(every))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="russian-names wheel, or a directory with its data")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    data_zip, licence = read_source(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    summarise(build(read_sections(data_zip), args.out))
    if licence is None:
        print(f"\nwarning: no licence file found in {args.source}; {LICENSE_NAME} not written")
    else:
        (args.out / LICENSE_NAME).write_text(licence, encoding="utf-8")
        copyright = next((line.strip() for line in licence.splitlines() if line.startswith("Copyright")), "")
        print(f"\nwrote {LICENSE_NAME} ({copyright})")


if __name__ == "__main__":
    main(sys.argv[1:])
