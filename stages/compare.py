"""compare: per-dataset difference of two systems' metrics (B - A).

    writing-alpaca compare base writing-alpaca [--metrics-dir metrics]

Reads metrics/<A>.json and metrics/<B>.json (written by `evaluate`) and prints a
Markdown table: dataset, A, B, B - A, with stand-in datasets marked and the average
last. Datasets only one system has are shown with a dash.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from stages.report import LABELS, dataset_columns, read_metrics


def compare_table(name_a: str, a: dict[str, Any], name_b: str, b: dict[str, Any]) -> str:
    columns = dataset_columns({name_a: a, name_b: b})
    infos = {**(b.get("details", {}).get("datasets") or {}),
             **(a.get("details", {}).get("datasets") or {})}
    lines = [f"| Dataset | {name_a} | {name_b} | Δ ({name_b} − {name_a}) |",
             "|---|---:|---:|---:|"]
    for key in [*columns, "avg"]:
        va, vb = a.get(key), b.get(key)
        label = "Avg." if key == "avg" else LABELS.get(key, key)
        if infos.get(key, {}).get("standin"):
            label += " †"
        fa = f"{va:.2f}" if isinstance(va, int | float) else "–"
        fb = f"{vb:.2f}" if isinstance(vb, int | float) else "–"
        both = isinstance(va, int | float) and isinstance(vb, int | float)
        delta = f"{vb - va:+.2f}" if both else "–"
        lines.append(f"| {label} | {fa} | {fb} | {delta} |")
    if any(info.get("standin") for info in infos.values()):
        lines.append("\n† stand-in dataset (not the paper's set)")
    return "\n".join(lines)


@click.command()
@click.argument("system_a")
@click.argument("system_b")
@click.option("--metrics-dir", default="metrics", show_default=True,
              type=click.Path(path_type=Path), help="Folder of metrics/<system>.json.")
def compare(system_a: str, system_b: str, metrics_dir: Path) -> None:
    """Print SYSTEM_A's and SYSTEM_B's scores per dataset and their difference."""
    metrics = read_metrics(metrics_dir, [system_a, system_b])
    click.echo(compare_table(system_a, metrics[system_a], system_b, metrics[system_b]))
