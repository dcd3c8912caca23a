"""Claims of the paper tested on our systems: a pair of systems (Δ = B − A) on a measure
(one dataset, a task group's mean, or the average), with the paired bootstrap's interval
and p (stages/lib/evaluation/comparison.py), Holm-adjusted over the whole table, and a
verdict against the paper's Δ for the same pair of rows. The findings and ladder stages
build their tables here. Imports core, data, evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stages.lib.core.tables import markdown_table
from stages.lib.data.benchmark_info import label
from stages.lib.evaluation.bootstrap import ALPHA, holm
from stages.lib.evaluation.comparison import SystemResults, compare_systems


@dataclass(frozen=True)
class Claim:
    text: str                       # the paper's claim, in short
    a: str                          # our systems: Δ = b − a
    b: str
    paper_a: str                    # the paper's rows for the same comparison
    paper_b: str
    measures: tuple[str, ...]       # "avg", a dataset id, or a TASK_GROUPS key


# The paper's task groups (Table 4 header) over the benchmark's datasets.
TASK_GROUPS = {
    "grammaticality": ("conll", "bea"), "fluency": ("jfl", "itr-f"), "clarity": ("itr-l",),
    "coherence": ("itr-o",), "simplification": ("trk", "ast"), "neutralization": ("wnc",),
    "paraphrase": ("sts",),
}


def paper_rows(params: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The paper's published rows (params report.reference_rows), each as measure ->
    score (report.reference_columns)."""
    report = params.get("report") or {}
    columns = report.get("reference_columns") or []
    return {name: dict(zip(columns, row))
            for name, row in (report.get("reference_rows") or {}).items()}


def paper_value(rows: dict[str, dict[str, float]], row: str, measure: str) -> float | None:
    """The paper's score of ROW on a measure (a group is the mean of its datasets)."""
    values = rows.get(row, {})
    datasets = TASK_GROUPS.get(measure, (measure,))
    if not all(d in values for d in datasets):
        return None
    return float(np.mean([values[d] for d in datasets]))


def verdict(paper_delta: float | None, delta: float, p: float) -> str:
    if paper_delta is None or p >= ALPHA or delta == 0 or paper_delta == 0:
        return "inconclusive"
    return "reproduced" if (delta > 0) == (paper_delta > 0) else "contradicted"


def measure_label(measure: str, standins: set[str]) -> str:
    if measure == "avg":
        return "Avg."
    if measure in TASK_GROUPS:
        names = [label(d) + (" †" if d in standins else "") for d in TASK_GROUPS[measure]]
        return f"{measure} ({', '.join(names)})"
    return label(measure) + (" †" if measure in standins else "")


MIXED_LEGEND = (" ‡ A and B decode differently: the Δ compares the two systems as each "
                "is run, not their training data alone.")


def decode_differently(claim: Claim, decodings: dict[str, str | None]) -> bool:
    """The claim's two systems decoded differently (its row is marked ‡)."""
    return decodings.get(claim.a) != decodings.get(claim.b)


def mixed_legend(claims: list[Claim], systems: dict[str, Any],
                 decodings: dict[str, str | None]) -> str:
    """The ‡ legend, for a table where some row is marked; else nothing."""
    run = [c for c in claims if c.a in systems and c.b in systems]
    return MIXED_LEGEND if any(decode_differently(c, decodings) for c in run) else ""


def claims_table(claims: list[Claim], systems: dict[str, SystemResults],
                 paper: dict[str, dict[str, float]], standins: set[str],
                 decodings: dict[str, str | None]) -> tuple[str, list[dict[str, Any]]]:
    """The claims table; every verdict rests on its Holm-adjusted p over the whole table
    (one family: a table of ~16 tests at 0.05 each would expect a false hit by chance).
    A pair whose systems decode differently is marked ‡: its Δ is the systems' as each is
    run, not their training difference alone."""
    entries: list[list[str] | dict[str, Any]] = []  # finished cells (claim not run) or a row
    for claim in claims:
        if claim.a not in systems or claim.b not in systems:
            missing = [s for s in (claim.a, claim.b) if s not in systems]
            entries.append([claim.text, f"{claim.a} → {claim.b}", "-", *[""] * 7,
                            f"not run ({', '.join(missing)} missing)"])
            continue
        measured = compare_systems(systems[claim.a], systems[claim.b], TASK_GROUPS).measures()
        for measure in claim.measures:
            found = measured.get(measure)
            if found is None:  # not scored for both systems
                continue
            pa, pb = paper_value(paper, claim.paper_a, measure), paper_value(
                paper, claim.paper_b, measure)
            entries.append({**found.as_json(), "claim": claim, "measure": measure,
                            "paper_delta": None if pa is None or pb is None
                            else round(pb - pa, 2)})
    rows = [e for e in entries if isinstance(e, dict)]
    for row, adjusted in zip(rows, holm([row["p"] for row in rows])):
        row.update(p_holm=adjusted,
                   verdict=verdict(row["paper_delta"], row["delta"], adjusted))
    cells = []
    for entry in entries:
        if isinstance(entry, list):
            cells.append(entry)
            continue
        claim, (low, high) = entry["claim"], entry["ci95"]
        shown_paper = "n/a" if entry["paper_delta"] is None else f"{entry['paper_delta']:+.2f}"
        mixed = " ‡" if decode_differently(claim, decodings) else ""
        cells.append([claim.text, f"{claim.a} → {claim.b}{mixed}",
                      measure_label(entry["measure"], standins), f"{entry['a']:.2f}",
                      f"{entry['b']:.2f}", f"{entry['delta']:+.2f}", f"[{low:+.2f}, {high:+.2f}]",
                      f"{entry['p']:.3f}", f"{entry['p_holm']:.3f}", shown_paper,
                      f"**{entry['verdict']}**"])
    table = markdown_table(["Claim", "A → B", "Measure", "A", "B", "Δ", "95% CI of Δ", "p",
                            "Holm p", "paper Δ", "verdict"], cells, "lllrrrlrrrl")
    for row in rows:
        row["claim"] = row["claim"].text
    return table, rows


def copy_share_table(predictions: Path, systems: list[str], datasets: list[str]) -> str:
    """Per system and dataset, the share of outputs that copy their input (same words)."""
    from stages.lib.evaluation.copy_share import copy_share

    rows = []
    for system in systems:
        shares = copy_share(predictions / system)
        values = [shares[d] for d in datasets if d in shares]
        if not values:
            continue
        rows.append([system, *(f"{shares[d]:.0%}" if d in shares else "-" for d in datasets),
                     f"{sum(values) / len(values):.0%}"])
    return markdown_table(["System", *(label(d) for d in datasets), "mean"], rows,
                          "l" + "r" * (len(datasets) + 1))
