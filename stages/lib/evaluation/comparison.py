"""Paired comparison of two evaluated systems: Δ = B - A per dataset and on the average,
with the 95% interval of Δ, a paired-bootstrap p-value and a verdict word.

Used by `writing-alpaca compare`, the report and the findings. Both systems must have
been scored on the same items (same predict.max_items and seed), so that the bootstrap
resamples the same items for both (stages/lib/evaluation/bootstrap.py).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stages.lib.core.io import InputError
from stages.lib.core.tables import markdown_table
from stages.lib.data.benchmark_info import in_paper_order, label
from stages.lib.evaluation.bootstrap import mean_over, paired, system_resamples
from stages.lib.evaluation.results import read_items, read_results
from stages.lib.inference.decoding import decoding_from_settings


class SystemResults:
    """One system's scores, details, per-item statistics and (lazily) resampled scores."""

    def __init__(self, metrics_dir: Path, name: str) -> None:
        path = metrics_dir / f"{name}.json"
        self.name = name
        self.scores = read_results(path, f" (system {name})")
        self.items = read_items(path)
        self._resamples: dict[str, np.ndarray] = {}

    @property
    def datasets(self) -> list[str]:
        return list(self.items["datasets"])

    def resamples(self, datasets: list[str]) -> dict[str, np.ndarray]:
        todo = [d for d in datasets if d not in self._resamples]
        self._resamples.update(system_resamples(self.items, todo))
        return {d: self._resamples[d] for d in datasets}


def check_same_items(a: SystemResults, b: SystemResults, datasets: list[str]) -> None:
    if a.items["bootstrap"] != b.items["bootstrap"]:
        raise InputError(f"{a.name} and {b.name} were evaluated with different bootstrap "
                         f"settings ({a.items['bootstrap']} vs {b.items['bootstrap']})")
    for dataset in datasets:
        if a.items["datasets"][dataset]["ids"] != b.items["datasets"][dataset]["ids"]:
            raise InputError(f"{a.name} and {b.name} were scored on different {dataset} items "
                             f"(different predict.max_items or predict.seed?): a paired comparison "
                             f"needs the same items")


def compare_systems(a: SystemResults, b: SystemResults,
                    groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """{"a", "b", "resamples", "datasets": {d: row}, "avg": row}; a row holds a, b, delta,
    ci95 (of delta), p and verdict ("better" = B significantly better than A).

    With `groups` (name -> datasets, e.g. the paper's task groups) the result also holds
    "groups": {name: row} on the mean score of each group whose datasets both systems
    have; like the avg row, a group row names its datasets in "over"."""
    datasets = in_paper_order(set(a.datasets) & set(b.datasets))
    if not datasets:
        raise InputError(f"{a.name} and {b.name} have no dataset in common")
    check_same_items(a, b, datasets)
    res_a, res_b = a.resamples(datasets), b.resamples(datasets)
    rows: dict[str, Any] = {}
    for dataset in datasets:
        score_a, score_b = a.scores[dataset], b.scores[dataset]
        rows[dataset] = {"a": score_a, "b": score_b, **paired(
            res_a[dataset], res_b[dataset], round(score_b - score_a, 4))}
    avg_over = in_paper_order(set(a.scores["details"].get("avg_over", []))
                              & set(b.scores["details"].get("avg_over", [])))
    avg = None
    if avg_over and a.scores.get("avg") is not None and b.scores.get("avg") is not None:
        avg = {"a": a.scores["avg"], "b": b.scores["avg"], "over": avg_over, **paired(
            mean_over(res_a, avg_over), mean_over(res_b, avg_over),
            round(b.scores["avg"] - a.scores["avg"], 4))}
    result = {"a": a.name, "b": b.name, "resamples": a.items["bootstrap"]["resamples"],
              "datasets": rows, "avg": avg, **decodings(a, b)}
    if groups is not None:
        result["groups"] = {name: _mean_row(a, b, list(over), res_a, res_b)
                            for name, over in groups.items() if all(d in rows for d in over)}
    return result


def decodings(a: SystemResults, b: SystemResults) -> dict[str, Any]:
    """{"decodings": {system: label or None}, "decoding_a"/"decoding_b": each side's
    label (one system before and after a change has one name but two decodings),
    "same_decoding": bool or None}: whether the two systems' outputs were searched alike
    (beams and copy margin; the answer budget is shared by the items). None when either
    decoded nothing (the copy baseline) or its metrics predate the record: then nothing
    is claimed."""
    records = [system.scores["details"].get("decoding") for system in (a, b)]
    label_a, label_b = (record and record["label"] for record in records)
    labels = {a.name: label_a, b.name: label_b}
    same = None
    if all(records):
        searches = [decoding_from_settings({key: value for key, value in record.items()
                                            if key != "label"}).search()
                    for record in records if record]
        same = searches[0] == searches[1]
    return {"decodings": labels, "decoding_a": label_a, "decoding_b": label_b,
            "same_decoding": same}


def decoding_warning(result: dict[str, Any]) -> str | None:
    """The line that says a comparison's systems decoded differently, or None."""
    if result.get("same_decoding") is not False:
        return None
    a, b = result["a"], result["b"]
    return (f"Decodings differ ({a}: {result['decoding_a']}; {b}: "
            f"{result['decoding_b']}): Δ compares the systems and their decoders together.")


def _mean_row(a: SystemResults, b: SystemResults, over: list[str],
              res_a: dict[str, np.ndarray], res_b: dict[str, np.ndarray]) -> dict[str, Any]:
    """Δ = B − A on the mean score over the datasets `over`, paired per resample."""
    score_a = float(np.mean([a.scores[d] for d in over]))
    score_b = float(np.mean([b.scores[d] for d in over]))
    return {"a": score_a, "b": score_b, "over": over, **paired(
        mean_over(res_a, over), mean_over(res_b, over), round(score_b - score_a, 4))}


def _cells(name: str, row: dict[str, Any]) -> list[str]:
    low, high = row["ci95"]
    return [name, f"{row['a']:.2f}", f"{row['b']:.2f}", f"{row['delta']:+.2f}",
            f"[{low:+.2f}, {high:+.2f}]", f"{row['p']:.3f}", row["verdict"]]


def compare_table(result: dict[str, Any], standins: set[str]) -> str:
    a, b = result["a"], result["b"]
    rows = [_cells(label(dataset) + (" †" if dataset in standins else ""), row)
            for dataset, row in result["datasets"].items()]
    if result["avg"]:
        rows.append(_cells("Avg.", result["avg"]))
    lines = [markdown_table(["Dataset", a, b, f"Δ ({b} − {a})", "95% CI of Δ", "p", "verdict"],
                            rows, "lrrrlrl"), ""]
    lines.append(f"Paired bootstrap over items, {result['resamples']} resamples; verdict "
                 f"= {b} better/worse than {a} at p < 0.05, else inconclusive."
                 + (f" {warning}" if (warning := decoding_warning(result)) else ""))
    if result["avg"]:
        lines.append(f"Avg. over {', '.join(label(d) for d in result['avg']['over'])}.")
    if standins:
        lines.append("† stand-in dataset (not the paper's set)")
    return "\n".join(lines)
