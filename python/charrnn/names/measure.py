"""How well the patronymic and surname rules agree with the bundled tables.

The tables are noisy (typos in the fathers' names, «Пётрович» for Пётр, «Фомична» beside
the standard «Фоминична», both «Валерьевич» and «Валериевич»): the rules follow the
standard grammar and the disagreements are listed here, by the rule that made the form,
not learnt.  ``python -m charrnn.names.measure`` prints the report kept in
``docs/names.md``; ``tests/test_names_rules.py`` asserts its figures.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

from . import tables
from .patronymic import patronymic
from .surname import female_surname

__all__ = ["Agreement", "measure_patronymics", "measure_surname_pairs", "measure_invariant_surnames", "main"]


@dataclass
class Agreement:
    """Agreement of a rule with the pairs of a table."""

    what: str
    pairs: int = 0
    agree: int = 0
    occurrences: int = 0  # sum of the counts of the pairs
    agree_occurrences: int = 0
    # rule -> [(given, rule's form, table's form, count)], largest count first
    errors: dict[str, list[tuple[str, str, str, int]]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.agree / self.pairs if self.pairs else math.nan

    @property
    def weighted_accuracy(self) -> float:
        """The share of the occurrences (pairs weighted by their counts) that agree."""
        return self.agree_occurrences / self.occurrences if self.occurrences else math.nan

    def add(self, given: str, predicted: str, expected: str, count: int, rule: str) -> None:
        self.pairs += 1
        self.occurrences += count
        if predicted == expected:
            self.agree += 1
            self.agree_occurrences += count
        else:
            self.errors.setdefault(rule, []).append((given, predicted, expected, count))

    def finish(self) -> "Agreement":
        for rows in self.errors.values():
            rows.sort(key=lambda r: (-r[3], r[0], r[2]))
        self.errors = dict(sorted(self.errors.items(), key=lambda kv: (-len(kv[1]), kv[0])))
        return self

    def report(self, examples: int = 6) -> str:
        lines = [
            f"{self.what}: {self.agree:,} of {self.pairs:,} pairs agree ({100 * self.accuracy:.2f}%); "
            f"weighted by count {100 * self.weighted_accuracy:.2f}% of {self.occurrences:,} occurrences",
        ]
        for rule, rows in self.errors.items():
            shown = "; ".join(f"{g} → {p} (table: {e}, {c:,})" for g, p, e, c in rows[:examples])
            lines.append(
                f"  - rule {rule!r}: {len(rows):,} disagreements, {sum(r[3] for r in rows):,} occurrences: {shown}"
            )
        return "\n".join(lines)


def measure_patronymics() -> Agreement:
    """The patronymic rules on every ``(father, patronymic)`` pair of the bundled table."""
    result = Agreement("patronymic rules on the father → patronymic pairs")
    for father, name, gender, count in tables.patronymic_pairs():
        derived = patronymic(father)
        result.add(father, derived.for_gender(gender), name, count, derived.rule)
    return result.finish()


def measure_surname_pairs() -> Agreement:
    """The female-form rules on every recorded male → female surname pair."""
    result = Agreement("surname rules on the male → female pairs")
    for male, female, count in tables.surname_pairs():
        form = female_surname(male)
        result.add(male, form.form, female, count, form.rule)
    return result.finish()


def measure_invariant_surnames() -> Agreement:
    """The surname rules on the surnames the table marks as the same for both genders
    (gender ``any``): the female form should be the surname itself."""
    result = Agreement("surname rules on the surnames used by both genders")
    for row in tables.surnames("any"):
        form = female_surname(row.name)
        result.add(row.name, form.form, row.name, row.count, form.rule)
    return result.finish()


def rule_counts() -> dict[str, collections.Counter]:
    """How many pairs each rule handled (for the documentation)."""
    pat = collections.Counter(patronymic(f).rule for f, _, _, _ in tables.patronymic_pairs())
    sur = collections.Counter(female_surname(m).rule for m, _, _ in tables.surname_pairs())
    return {"patronymic": pat, "surname": sur}


def main() -> None:
    for agreement in (measure_patronymics(), measure_surname_pairs(), measure_invariant_surnames()):
        print(agreement.report())
        print()


if __name__ == "__main__":
    main()
