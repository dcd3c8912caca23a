"""metrics/<system>.json, metrics/details/<system>.json and metrics/items/<system>.json:
one home for reading and writing a system's evaluation results.

The scores DVC tracks as metrics (one number per dataset plus `avg`), the nested
breakdowns (95% intervals, metric components, ERRANT operations, edit actions, counts)
and the per-item statistics the bootstrap resamples are written to three files, so
`dvc metrics diff` and `dvc exp show` list 11 numbers per system instead of hundreds.
In memory a result stays one dict: the scores plus `details` (and `items`, when
`evaluate` made it).

The three files are one unit: the details and items files carry the sha256 of the
scores they were written with (`scores_sha256`) and the scores file is written last, so
a crash between the files, or a file left from another run, is refused when read
instead of being paired with scores it does not belong to. Files written before the
stamp existed (no `scores_sha256`) are read as they are.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_json, write_json

STAMP = "scores_sha256"


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


def write_results(metrics_file: str | Path, result: dict[str, Any]) -> None:
    """Scores to `metrics_file`, `result["details"]` beside it, and `result["items"]`, the
    per-item statistics the bootstrap resamples (stages/lib/evaluation/bootstrap.py), each atomic;
    the scores last, so the unit is complete only once they are in place."""
    scores = {key: value for key, value in result.items() if key not in ("details", "items")}
    stamp = {STAMP: scores_stamp(scores)}
    if "items" in result:
        write_json(items_path(metrics_file), {**result["items"], **stamp}, indent=None)
    write_json(details_path(metrics_file), {**result.get("details", {}), **stamp})
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
    metrics_file = Path(metrics_file)
    if STAMP in items:
        items = _check_stamp(path, items, _scores(metrics_file), metrics_file)
    return items


def _scores(metrics_file: Path) -> dict[str, Any]:
    if not metrics_file.is_file():
        raise InputError(f"{metrics_file}: metrics file not found")
    scores = read_json(metrics_file)
    if not isinstance(scores, dict):
        raise InputError(f"{metrics_file}: expected a JSON object of scores")
    return scores


def read_results(metrics_file: str | Path, hint: str = "") -> dict[str, Any]:
    """The scores with their `details` joined back (empty when the details file is absent;
    a file that still holds `details` inline is read as it is). `hint` is appended to
    the error when the metrics file is missing."""
    metrics_file = Path(metrics_file)
    if not metrics_file.is_file():
        raise InputError(f"{metrics_file}: metrics file not found{hint}")
    result = _scores(metrics_file)
    details = details_path(metrics_file)
    if "details" not in result:
        content = read_json(details) if details.is_file() else {}
        if not isinstance(content, dict):
            raise InputError(f"{details}: expected a JSON object of details")
        result["details"] = _check_stamp(details, content, dict(result), metrics_file)
    return result


def decoding_label(result: dict[str, Any]) -> str | None:
    """How a system's scored outputs were decoded (the record evaluate copied from its
    predictions), or None for a system that decoded nothing: the copy baseline, which
    predict alone recognises (its baseline.json)."""
    record = (result.get("details") or {}).get("decoding")
    return record.get("label") if isinstance(record, dict) else None
