"""Build the bundled name tables with counts from the `russiannames` package (PyPI, BSD-3-Clause).

Usage (needs pyarrow; only this script does, charrnn itself reads the output with the
standard library):

    pip download --no-deps -d /tmp/rn russiannames==2.0.0
    pip install pyarrow
    python data/build_russiannames.py /tmp/rn/russiannames-2.0.0-py3-none-any.whl

SOURCE is the wheel, or a directory holding ``names.parquet``, ``midnames.parquet`` and
``surnames.parquet`` (the package's ``russiannames/data``).  Output goes beside this script
unless ``--out DIR`` is given:

    ru_first_names.tsv.gz   name  count  gender
    ru_patronymics.tsv.gz   name  count  gender  father
    ru_surnames.tsv.gz      name  count  gender  female

UTF-8, NFC, tab-separated, one header line, gzip'ed deterministically (mtime 0), rows in
Russian alphabetical order (ё after е).  ``gender`` is ``m``, ``f``, ``u`` (the package's
"universal or unidentified") or empty (not identified).  ``father`` is the father's first
name a patronymic was recorded with, ``female`` the female form recorded for a male
surname; both may be empty.  The package's licence is copied to LICENSE.russiannames.

Cleaning (each step is counted and printed; see data/README.md):
  1. NFC, surrounding whitespace stripped, inner runs of whitespace made one space;
  2. Latin letters that look like Cyrillic ones (C, a, M, ...) inside an otherwise Cyrillic
     word are replaced by the Cyrillic letter;
  3. first names written as two capitalised words run together (ЦыренДоржи) are
     hyphenated (Цырен-Доржи);
  4. a word written in capitals (ИГОРЬ) or starting with a small letter is capitalised
     part by part (Игорь), only if the result is a valid name;
  5. patronymics with the Turkic particles оглы / кызы (son / daughter of) are written
     ``Мамед-оглы`` whatever the spelling in the source (``Мамед оглы``, ``Мамед-Оглы``);
  6. anything that is still not a name — ``[А-ЯЁ][а-яё]+`` words joined by hyphens, two
     letters at least — is dropped (initials, digits, punctuation, several words,
     organisations, Latin script);
  7. entries that became the same name are merged: counts summed, the gender of the
     entry with the larger count kept (an empty gender gives way to a known one), and so
     for ``father`` / ``female``.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import io
import re
import sys
import unicodedata
import zipfile
from pathlib import Path

TABLES = {  # parquet dataset -> (output file, extra column in the source, its output name)
    "names": ("ru_first_names.tsv.gz", None, None),
    "midnames": ("ru_patronymics.tsv.gz", "fname", "father"),
    "surnames": ("ru_surnames.tsv.gz", "f_form", "female"),
}
LICENSE_NAME = "LICENSE.russiannames"
PART = r"[А-ЯЁ][а-яё]+"
NAME = re.compile(rf"{PART}(?:-{PART})*")
PATRONYMIC_PARTICLE = re.compile(rf"({PART}(?:-{PART})*)[ -]+(оглы|кызы)", re.IGNORECASE)
CAMEL = re.compile(rf"{PART}(?:{PART})+")
# Latin letters with a Cyrillic twin of the same shape.
HOMOGLYPHS = str.maketrans("AaBCcEeHKMOoPpTXxy", "АаВСсЕеНКМОоРрТХху")
GENDERS = {"m", "f", "u", ""}


def read_tables(source: Path) -> tuple[dict[str, "object"], str | None]:
    """The three parquet tables (pyarrow Tables) and the package's licence text."""
    import pyarrow.parquet as pq

    tables = {}
    licence = None
    if source.is_file():
        with zipfile.ZipFile(source) as whl:
            for name in TABLES:
                tables[name] = pq.read_table(io.BytesIO(whl.read(f"russiannames/data/{name}.parquet")))
            licences = [n for n in whl.namelist() if re.search(r"\.dist-info/(licenses/)?LICEN[CS]E", n)]
            licence = whl.read(licences[0]).decode("utf-8") if licences else None
    else:
        for name in TABLES:
            tables[name] = pq.read_table(source / f"{name}.parquet")
        found = sorted(source.glob("LICEN[CS]E*")) or sorted(
            source.parent.glob("russiannames-*.dist-info/**/LICEN[CS]E*")
        )
        licence = found[0].read_text(encoding="utf-8") if found else None
    return tables, licence


def capitalise(text: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in text.split("-"))


def clean(raw: object, dataset: str, report: collections.Counter) -> str | None:
    """The cleaned name, or None when it is not a name; what was done is counted in ``report``."""
    if not isinstance(raw, str):
        return None
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if re.search("[А-ЯЁа-яё]", text) and re.search("[A-Za-z]", text):
        fixed = text.translate(HOMOGLYPHS)
        if not re.search("[A-Za-z]", fixed):
            report["latin look-alike letters replaced"] += 1
            text = fixed
    if dataset == "midnames":
        m = PATRONYMIC_PARTICLE.fullmatch(text)
        if m:
            base = m.group(1) if NAME.fullmatch(m.group(1)) else capitalise(m.group(1))
            result = f"{base}-{m.group(2).lower()}"
            if result != text:
                report["оглы/кызы spelling made 'Имя-оглы'"] += 1
            return result if NAME.fullmatch(base) else None
    if NAME.fullmatch(text):
        return text
    if dataset == "names" and CAMEL.fullmatch(text):
        report["run-together double first name hyphenated"] += 1
        return "-".join(re.findall(PART, text))
    in_capitals = text.isupper() and len(text.replace("-", "")) > 1
    if (in_capitals or text[:1].islower()) and re.fullmatch(r"[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)*", text):
        if NAME.fullmatch(capitalise(text)):
            report["capitals / small initial letter fixed"] += 1
            return capitalise(text)
    report["dropped: not a name"] += 1
    return None


def russian_order(name: str) -> tuple[str, str]:
    # Code-point order of а..я is alphabetical; ё (U+0451) belongs right after е.
    return name.lower().replace("ё", "е\U0010ffff"), name


def build(dataset: str, table, out_dir: Path) -> list[tuple]:
    out_name, extra, extra_out = TABLES[dataset]
    columns = table.to_pydict()
    report: collections.Counter = collections.Counter()
    merged: dict[str, list] = {}  # name -> [count, {gender: count}, {extra: count}]
    for i, raw in enumerate(columns["text"]):
        name = clean(raw, dataset, report)
        if name is None:
            continue
        count = int(columns["count"][i])
        gender = columns["gender"][i] or ""
        if gender not in GENDERS:
            raise SystemExit(f"{dataset}: unknown gender {gender!r} for {raw!r}")
        other = ""
        if extra is not None and columns[extra][i] is not None:
            other = clean(columns[extra][i], "surnames" if extra == "f_form" else "names", collections.Counter()) or ""
            if not other:
                report[f"{extra_out}: dropped, not a name"] += 1
        row = merged.setdefault(name, [0, collections.Counter(), collections.Counter()])
        if row[0]:
            report["merged with an entry of the same name"] += 1
        row[0] += count
        row[1][gender] += count
        row[2][other] += count
    rows = []
    for name in sorted(merged, key=russian_order):
        count, genders, others = merged[name]
        rows.append((name, count, _best(genders), *((_best(others),) if extra is not None else ())))
    header = ["name", "count", "gender"] + ([extra_out] if extra_out else [])
    lines = ["\t".join(header)] + ["\t".join(map(str, row)) for row in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with open(out_dir / out_name, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            gz.write(data)
    size = (out_dir / out_name).stat().st_size
    print(f"{dataset}: {len(columns['text']):,} entries -> {len(rows):,} names in {out_name} ({size:,} bytes)")
    for what, n in sorted(report.items()):
        print(f"    {what}: {n:,}")
    return rows


def _best(counter: collections.Counter) -> str:
    """The value with the largest count, a known (non-empty) value before an empty one."""
    known = {k: v for k, v in counter.items() if k}
    pool = known or counter
    return max(sorted(pool), key=lambda k: pool[k])


def summarise(dataset: str, rows: list[tuple]) -> None:
    by_gender = collections.Counter(row[2] or "-" for row in rows)
    total = sum(row[1] for row in rows)
    extra = sum(1 for row in rows if len(row) > 3 and row[3])
    print(
        f"| {dataset} | {len(rows):,} | {by_gender['m']:,} | {by_gender['f']:,} | {by_gender['u']:,} | "
        f"{by_gender['-']:,} | {total:,} | {extra:,} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="russiannames wheel, or the directory of its parquet files")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    tables, licence = read_tables(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    built = {dataset: build(dataset, table, args.out) for dataset, table in tables.items()}
    print("\n| table | names | m | f | u | no gender | sum of counts | with father / female form |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset, rows in built.items():
        summarise(dataset, rows)
    if licence is None:
        print(f"\nwarning: no licence file found in {args.source}; {LICENSE_NAME} not written")
    else:
        (args.out / LICENSE_NAME).write_text(licence, encoding="utf-8")
        print(f"\nwrote {LICENSE_NAME}")


if __name__ == "__main__":
    main(sys.argv[1:])
