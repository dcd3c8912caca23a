"""metrics/<system>.json, metrics/details/<system>.json and metrics/items/<system>.json:
one home for reading and writing a system's evaluation results.

The scores DVC tracks as metrics (one number per dataset plus `avg`), the nested
breakdowns (95% intervals, metric components, ERRANT operations, edit actions, counts)
and the per-item statistics the bootstrap resamples are written to three files, so
`dvc metrics diff` and `dvc exp show` list 11 numbers per system instead of hundreds.
In memory a result stays one dict: the scores plus `details` (and `items`, when
`evaluate` made it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.lib.io import InputError, read_json, write_json


def details_path(metrics_file: str | Path) -> Path:
    """metrics/<system>.json -> metrics/details/<system>.json."""
    metrics_file = Path(metrics_file)
    return metrics_file.parent / "details" / metrics_file.name


def items_path(metrics_file: str | Path) -> Path:
    """metrics/<system>.json -> metrics/items/<system>.json (per-item statistics)."""
    metrics_file = Path(metrics_file)
    return metrics_file.parent / "items" / metrics_file.name


def write_results(metrics_file: str | Path, result: dict[str, Any]) -> None:
    """Scores to `metrics_file`, `result["details"]` beside it, and `result["items"]`, the
    per-item statistics the bootstrap resamples (stages/lib/bootstrap.py), all atomic."""
    scores = {key: value for key, value in result.items() if key not in ("details", "items")}
    if "items" in result:
        write_json(items_path(metrics_file), result["items"], indent=None)
    write_json(details_path(metrics_file), result.get("details", {}))
    write_json(metrics_file, scores)


def read_items(metrics_file: str | Path) -> dict[str, Any]:
    """The per-item statistics written beside `metrics_file` by `evaluate`."""
    path = items_path(metrics_file)
    if not path.is_file():
        raise InputError(f"{path}: per-item statistics not found; re-run "
                         f"`dvc repro evaluate@{Path(metrics_file).stem}`")
    items = read_json(path)
    if not isinstance(items, dict) or not {"bootstrap", "datasets"} <= set(items):
        raise InputError(f"{path}: expected an object with 'bootstrap' and 'datasets'")
    return items


def read_results(metrics_file: str | Path, hint: str = "") -> dict[str, Any]:
    """The scores with their `details` joined back (empty when the details file is absent;
    a file that still holds `details` inline is read as it is). `hint` is appended to
    the error when the metrics file is missing."""
    metrics_file = Path(metrics_file)
    if not metrics_file.is_file():
        raise InputError(f"{metrics_file}: metrics file not found{hint}")
    result = read_json(metrics_file)
    if not isinstance(result, dict):
        raise InputError(f"{metrics_file}: expected a JSON object of scores")
    details = details_path(metrics_file)
    if "details" not in result:
        result["details"] = read_json(details) if details.is_file() else {}
    return result
