"""metrics/<system>.json, metrics/details/<system>.json and metrics/items/<system>.json:
one home for reading and writing a system's evaluation results.

The scores DVC tracks as metrics (one number per dataset plus `avg`), the nested
breakdowns (95% intervals, metric components, ERRANT operations, edit actions, counts)
and the per-item statistics the bootstrap resamples are written to three files, so
`dvc metrics diff` and `dvc exp show` list 11 numbers per system instead of hundreds.
In memory they are one `Results` value (the scores, the details, and the `ItemStats`
when `evaluate` made them or a comparison read them); the rest of the code asks it for
what it needs instead of indexing the files' nested dicts.

The three files are one unit: the details and items files carry the sha256 of the
scores they were written with (`scores_sha256`) and the scores file is written last, so
a crash between the files, or a file left from another run, is refused when read
instead of being paired with scores it does not belong to. Files written before the
stamp existed (no `scores_sha256`) are read as they are.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_json, write_json

STAMP = "scores_sha256"


@dataclass(frozen=True)
class ItemStats:
    """metrics/items/<system>.json: the bootstrap settings and, per dataset, its metric,
    the scored item ids and the per-item statistics the bootstrap resamples."""

    bootstrap: dict[str, Any]
    datasets: dict[str, dict[str, Any]]

    def ids(self, dataset: str) -> list[str]:
        return self.datasets[dataset]["ids"]

    def as_json(self) -> dict[str, Any]:
        return {"bootstrap": self.bootstrap, "datasets": self.datasets}


@dataclass(frozen=True)
class Results:
    """One system's evaluation: `scores` as DVC tracks them (dataset id -> score, "avg"),
    `details` as evaluate wrote them (per dataset: metric, n, size, standin, 95%
    interval, metric components; the avg's interval and datasets; the decoding record)."""

    scores: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    items: ItemStats | None = None

    def score(self, key: str) -> Any:
        """A dataset's score or "avg" (None when not scored)."""
        return self.scores.get(key)

    @property
    def datasets(self) -> dict[str, dict[str, Any]]:
        """Per scored dataset, its details."""
        return self.details.get("datasets") or {}

    def interval(self, key: str) -> dict[str, Any]:
        """The details entry holding `key`'s 95% interval (a dataset id, or "avg")."""
        info = self.details.get("avg") if key == "avg" else self.datasets.get(key)
        return info or {}

    @property
    def avg_over(self) -> list[str]:
        """The datasets the average is taken over (stand-ins are left out by default)."""
        return list(self.details.get("avg_over", []))

    @property
    def standins(self) -> set[str]:
        return {d for d, info in self.datasets.items() if info.get("standin")}

    @property
    def decoding(self) -> dict[str, Any] | None:
        """How the scored outputs were decoded (predict's record, with its label), or
        None for a system that decoded nothing: the copy baseline (its baseline.json,
        stages/lib/inference/systems.py)."""
        record = self.details.get("decoding")
        return record if isinstance(record, dict) else None

    @property
    def decoding_label(self) -> str | None:
        return self.decoding.get("label") if self.decoding else None


def details_path(metrics_file: str | Path) -> Path:
    """metrics/<system>.json -> metrics/details/<system>.json."""
    metrics_file = Path(metrics_file)
    return metrics_file.parent / "details" / metrics_file.name


def items_path(metrics_file: str | Path) -> Path:
    """metrics/<system>.json -> metrics/items/<system>.json (per-item statistics)."""
    metrics_file = Path(metrics_file)
    return metrics_file.parent / "items" / metrics_file.name


def scores_stamp(scores: dict[str, Any]) -> str:
    """sha256 of the scores as JSON with sorted keys (floats round-trip exactly)."""
    return hashlib.sha256(json.dumps(scores, sort_keys=True).encode()).hexdigest()


def _check_stamp(path: Path, content: dict[str, Any], scores: dict[str, Any],
                 metrics_file: Path) -> dict[str, Any]:
    """`content` without its stamp, after checking the stamp names these scores."""
    stamp = content.get(STAMP)
    if stamp is not None and stamp != scores_stamp(scores):
        raise InputError(f"{path}: written by another evaluate run than {metrics_file} (a run "
                         f"stopped between its files?); re-run "
                         f"`dvc repro evaluate@{metrics_file.stem}`")
    return {key: value for key, value in content.items() if key != STAMP}


def write_results(metrics_file: str | Path, results: Results) -> None:
    """Scores to `metrics_file`, the details beside it, and the items, the per-item
    statistics the bootstrap resamples (stages/lib/evaluation/bootstrap.py), each atomic;
    the scores last, so the unit is complete only once they are in place."""
    stamp = {STAMP: scores_stamp(results.scores)}
    if results.items is not None:
        write_json(items_path(metrics_file), {**results.items.as_json(), **stamp}, indent=None)
    write_json(details_path(metrics_file), {**results.details, **stamp})
    write_json(metrics_file, results.scores)


def read_items(metrics_file: str | Path) -> ItemStats:
    """The per-item statistics written beside `metrics_file` by `evaluate`."""
    path = items_path(metrics_file)
    if not path.is_file():
        raise InputError(f"{path}: per-item statistics not found; re-run "
                         f"`dvc repro evaluate@{Path(metrics_file).stem}`")
    items = read_json(path)
    if not isinstance(items, dict) or not {"bootstrap", "datasets"} <= set(items):
        raise InputError(f"{path}: expected an object with 'bootstrap' and 'datasets'")
    metrics_file = Path(metrics_file)
    if STAMP in items:
        items = _check_stamp(path, items, _scores(metrics_file), metrics_file)
    return ItemStats(bootstrap=items["bootstrap"], datasets=items["datasets"])


def _scores(metrics_file: Path) -> dict[str, Any]:
    if not metrics_file.is_file():
        raise InputError(f"{metrics_file}: metrics file not found")
    scores = read_json(metrics_file)
    if not isinstance(scores, dict):
        raise InputError(f"{metrics_file}: expected a JSON object of scores")
    return scores


def read_results(metrics_file: str | Path, hint: str = "") -> Results:
    """The scores with their `details` joined back (empty when the details file is absent;
    a file that still holds `details` inline is read as it is). `hint` is appended to
    the error when the metrics file is missing."""
    metrics_file = Path(metrics_file)
    if not metrics_file.is_file():
        raise InputError(f"{metrics_file}: metrics file not found{hint}")
    scores = _scores(metrics_file)
    if "details" in scores:
        details = scores.pop("details")
        return Results(scores, details if isinstance(details, dict) else {})
    path = details_path(metrics_file)
    content = read_json(path) if path.is_file() else {}
    if not isinstance(content, dict):
        raise InputError(f"{path}: expected a JSON object of details")
    return Results(scores, _check_stamp(path, content, scores, metrics_file))
