"""Paired comparison of two evaluated systems: Δ = B - A per dataset and on the average,
with the 95% interval of Δ, a paired-bootstrap p-value and a verdict word.

Used by `writing-alpaca compare`, the report and the findings. Both systems must have
been scored on the same items (same predict.max_items and seed), so that the bootstrap
resamples the same items for both (stages/lib/evaluation/bootstrap.py).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stages.lib.core.io import InputError, check_name
from stages.lib.core.tables import markdown_table
from stages.lib.data.benchmark_info import in_paper_order, label
from stages.lib.evaluation.bootstrap import mean_over, paired, system_resamples
from stages.lib.evaluation.results import read_items, read_results
from stages.lib.inference.decoding import decoding_from_settings


class SystemResults:
    """One system's results and per-item statistics and (lazily) its resampled scores."""

    def __init__(self, metrics_dir: Path, name: str) -> None:
        path = metrics_dir / f"{check_name(name, 'system')}.json"
        self.name = name
        self.results = read_results(path, f" (system {name})")
        self.items = read_items(path)
        self._resamples: dict[str, np.ndarray] = {}

    @property
    def datasets(self) -> list[str]:
        return list(self.items.datasets)

    def resamples(self, datasets: list[str]) -> dict[str, np.ndarray]:
        todo = [d for d in datasets if d not in self._resamples]
        self._resamples.update(system_resamples(self.items, todo))
        return {d: self._resamples[d] for d in datasets}


@dataclass(frozen=True)
class Paired:
    """Δ = B − A on one measure: both scores, Δ, the 95% interval of Δ, the paired-
    bootstrap p and the verdict ("better" = B significantly better than A). A mean (the
    average, a task group) names its datasets in `over`."""

    a: float
    b: float
    delta: float
    ci95: list[float]
    p: float
    verdict: str
    over: list[str] | None = None

    def as_json(self) -> dict[str, Any]:
        over = {} if self.over is None else {"over": self.over}
        return {"a": self.a, "b": self.b, **over, "delta": self.delta, "ci95": self.ci95,
                "p": self.p, "verdict": self.verdict}


def _paired(a: float, b: float, res_a: np.ndarray, res_b: np.ndarray,
            over: list[str] | None = None) -> Paired:
    return Paired(a=a, b=b, over=over, **paired(res_a, res_b, round(b - a, 4)))


@dataclass(frozen=True)
class Comparison:
    """System B against system A: a `Paired` per common dataset, on the average and, when
    asked, per task group; and whether the two decoded alike (`same_decoding` None when
    either decoded nothing, the copy baseline, or predates the decoding record)."""

    a: str
    b: str
    resamples: int
    datasets: dict[str, Paired]
    avg: Paired | None
    decoding_a: str | None
    decoding_b: str | None
    same_decoding: bool | None
    groups: dict[str, Paired] | None = None

    def measures(self) -> dict[str, Paired]:
        """Measure ("avg", a dataset id or a group name) -> its row."""
        return {**self.datasets, **(self.groups or {}),
                **({"avg": self.avg} if self.avg else {})}

    def decoding_warning(self) -> str | None:
        """The line that says the systems decoded differently, or None."""
        if self.same_decoding is not False:
            return None
        return (f"Decodings differ ({self.a}: {self.decoding_a}; {self.b}: "
                f"{self.decoding_b}): Δ compares the systems and their decoders together.")

    def as_json(self) -> dict[str, Any]:
        """`compare --json`'s object."""
        result = {"a": self.a, "b": self.b, "resamples": self.resamples,
                  "datasets": {d: row.as_json() for d, row in self.datasets.items()},
                  "avg": self.avg.as_json() if self.avg else None,
                  "decodings": {self.a: self.decoding_a, self.b: self.decoding_b},
                  "decoding_a": self.decoding_a, "decoding_b": self.decoding_b,
                  "same_decoding": self.same_decoding}
        if self.groups is not None:
            result["groups"] = {name: row.as_json() for name, row in self.groups.items()}
        return result


def check_same_items(a: SystemResults, b: SystemResults, datasets: list[str]) -> None:
    if a.items.bootstrap != b.items.bootstrap:
        raise InputError(f"{a.name} and {b.name} were evaluated with different bootstrap "
                         f"settings ({a.items.bootstrap} vs {b.items.bootstrap})")
    for dataset in datasets:
        if a.items.ids(dataset) != b.items.ids(dataset):
            raise InputError(f"{a.name} and {b.name} were scored on different {dataset} items "
                             f"(different predict.max_items or predict.seed?): a paired comparison "
                             f"needs the same items")


def compare_systems(a: SystemResults, b: SystemResults,
                    groups: Mapping[str, Sequence[str]] | None = None) -> Comparison:
    """B against A on every dataset both scored and on the average; with `groups` (name ->
    datasets, e.g. the paper's task groups) also on the mean score of each group whose
    datasets both systems have."""
    datasets = in_paper_order(set(a.datasets) & set(b.datasets))
    if not datasets:
        raise InputError(f"{a.name} and {b.name} have no dataset in common")
    check_same_items(a, b, datasets)
    res_a, res_b = a.resamples(datasets), b.resamples(datasets)
    ra, rb = a.results, b.results
    rows = {dataset: _paired(ra.scores[dataset], rb.scores[dataset], res_a[dataset],
                             res_b[dataset]) for dataset in datasets}
    avg_over = in_paper_order(set(ra.avg_over) & set(rb.avg_over))
    avg = None
    if avg_over and ra.score("avg") is not None and rb.score("avg") is not None:
        avg = _paired(ra.scores["avg"], rb.scores["avg"], mean_over(res_a, avg_over),
                      mean_over(res_b, avg_over), avg_over)
    chosen_groups = None
    if groups is not None:
        chosen_groups = {name: _mean_row(a, b, list(over), res_a, res_b)
                         for name, over in groups.items() if all(d in rows for d in over)}
    return Comparison(a=a.name, b=b.name, resamples=a.items.bootstrap["resamples"],
                      datasets=rows, avg=avg, groups=chosen_groups,
                      **_decodings(a.results.decoding, b.results.decoding))


def _decodings(record_a: dict[str, Any] | None, record_b: dict[str, Any] | None
               ) -> dict[str, Any]:
    """Each side's decoding label (one system before and after a change has one name but
    two decodings) and whether the two searched alike (beams and copy margin; the answer
    budget is shared by the items); None when either decoded nothing."""
    same = None
    if record_a and record_b:
        searches = [decoding_from_settings({key: value for key, value in record.items()
                                            if key != "label"}).search()
                    for record in (record_a, record_b)]
        same = searches[0] == searches[1]
    return {"decoding_a": record_a and record_a["label"],
            "decoding_b": record_b and record_b["label"], "same_decoding": same}


def _mean_row(a: SystemResults, b: SystemResults, over: list[str],
              res_a: dict[str, np.ndarray], res_b: dict[str, np.ndarray]) -> Paired:
    """Δ = B − A on the mean score over the datasets `over`, paired per resample."""
    score_a = float(np.mean([a.results.scores[d] for d in over]))
    score_b = float(np.mean([b.results.scores[d] for d in over]))
    return _paired(score_a, score_b, mean_over(res_a, over), mean_over(res_b, over), over)


def _cells(name: str, row: Paired) -> list[str]:
    low, high = row.ci95
    return [name, f"{row.a:.2f}", f"{row.b:.2f}", f"{row.delta:+.2f}",
            f"[{low:+.2f}, {high:+.2f}]", f"{row.p:.3f}", row.verdict]


def compare_table(result: Comparison, standins: set[str]) -> str:
    a, b = result.a, result.b
    rows = [_cells(label(dataset) + (" †" if dataset in standins else ""), row)
            for dataset, row in result.datasets.items()]
    if result.avg:
        rows.append(_cells("Avg.", result.avg))
    lines = [markdown_table(["Dataset", a, b, f"Δ ({b} − {a})", "95% CI of Δ", "p", "verdict"],
                            rows, "lrrrlrl"), ""]
    lines.append(f"Paired bootstrap over items, {result.resamples} resamples; verdict "
                 f"= {b} better/worse than {a} at p < 0.05, else inconclusive."
                 + (f" {warning}" if (warning := result.decoding_warning()) else ""))
    if result.avg and result.avg.over:
        lines.append(f"Avg. over {', '.join(label(d) for d in result.avg.over)}.")
    if standins:
        lines.append("† stand-in dataset (not the paper's set)")
    return "\n".join(lines)
