"""Markdown tables in the house style (`| a | b |`, then `|---|---:|`): the one renderer
the reports share."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A table of `rows` under `header`; `align` has one letter a column, `l` or `r`."""
    if len(align) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError("markdown_table: header, align and every row need as many columns")
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return "\n".join([_line(header), rule, *(_line(row) for row in rows)])


def _line(cells: Sequence[str]) -> str:
    # an empty cell is one space wide: `| n/a | | |`
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def score_cell(value: Any, half_width: Any = None) -> str:
    """A score as the reports print it (`48.65`, or `48.65 ± 2.3` with the half-width of
    its 95% interval); `–` where there is no number."""
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.2f}" + (f" ± {half_width:.1f}" if isinstance(half_width, int | float) else "")
