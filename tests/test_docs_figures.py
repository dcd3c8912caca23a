"""The docs quote results, they do not make them: every paired difference with its 95%
interval that README.md or a page of docs/ states is held by a committed report under
reports/ (written by a command) or by the dated decisions record, docs/results.md, where
each figure comes with its commit and the command that gave it. A report that is
re-made with other figures leaves the old ones in the docs failing here."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "docs" / "results.md"
QUOTING = [REPO / "README.md", *(path for path in sorted((REPO / "docs").glob("*.md"))
                                  if path != RECORD)]
# +4.47 [+2.88, +6.11]: a difference and its interval, as `compare` and the reports write them
INTERVAL = re.compile(r"([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]")


def held() -> str:
    return "\n".join(path.read_text(encoding="utf-8")
                     for path in [*sorted((REPO / "reports").glob("*.md")), RECORD])


def quoted_intervals() -> list[tuple[str, str, str, str]]:
    found = []
    for path in QUOTING:
        text = path.read_text(encoding="utf-8")
        for match in INTERVAL.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.name}:{line}", *match.groups()))
    return found


def test_every_quoted_interval_is_held_by_a_report() -> None:
    quoted = quoted_intervals()
    assert quoted  # the README quotes some: the pattern still matches them
    sources = held()
    # the reports' tables write `| +4.47 | [+2.88, +6.11] |`, their prose `+4.47 [+2.88, +6.11]`
    missing = [f"{where}: {delta} [{low}, {high}]" for where, delta, low, high in quoted
               if not re.search(rf"{re.escape(delta)}( \| | )\[{re.escape(low)}, "
                                rf"{re.escape(high)}\]", sources)]
    assert missing == []
