"""compare: is system B better than system A? Per dataset and on the average.

    writing-alpaca compare alpaca writing-alpaca [--metrics-dir metrics] [--json]
    writing-alpaca compare writing-alpaca writing-alpaca --metrics-dir before --b-metrics-dir metrics

Reads metrics/<system>.json, metrics/details/<system>.json and the per-item statistics
metrics/items/<system>.json written by `evaluate`, and prints per dataset: A, B,
Δ = B − A, the 95% interval of Δ and a p-value from a paired bootstrap over the items
(the same resampled items for both systems, each resample scored exactly like the
official scorer would score it; stages/lib/evaluation/bootstrap.py), and a verdict: better / worse
(B vs A, p < 0.05) or inconclusive.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from stages.lib.evaluation.comparison import SystemResults, compare_systems, compare_table


@click.command()
@click.argument("system_a")
@click.argument("system_b")
@click.option("--metrics-dir", default="metrics", show_default=True,
              type=click.Path(path_type=Path), help="Folder of metrics/<system>.json.")
@click.option("--b-metrics-dir", type=click.Path(path_type=Path), default=None,
              help="Read SYSTEM_B from this folder instead (e.g. one system before and "
                   "after an experiment).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def compare(system_a: str, system_b: str, metrics_dir: Path, b_metrics_dir: Path | None,
            as_json: bool) -> None:
    """Compare SYSTEM_B with SYSTEM_A: Δ, its 95% interval, p-value and verdict."""
    a = SystemResults(metrics_dir, system_a)
    b = SystemResults(b_metrics_dir or metrics_dir, system_b)
    result = compare_systems(a, b)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    click.echo(compare_table(result, a.results.standins))
