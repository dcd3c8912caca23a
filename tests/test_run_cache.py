"""The expensive stages can enter DVC's run cache.

DVC (dvc/stage/__init__.py, `no_cache_outs`) saves no run-cache entry for a stage with an
uncached output that is neither a metric nor a plot. Without one, an experiment run in a
temporary copy (`dvc exp run --temp`, the grid) that stops after its trainings has to
train again. The trainings and the generation stages must therefore keep every plain
output cached.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_CACHED = ("train", "predict")


def plain_outputs(stage: dict[str, Any]) -> list[tuple[str, bool]]:
    """(path, cached) for each entry of a stage's `outs` (not `metrics` or `plots`)."""
    found = []
    for entry in stage.get("outs") or []:
        if isinstance(entry, str):
            found.append((entry, True))
        else:
            (path, options), = entry.items()
            found.append((path, (options or {}).get("cache", True)))
    return found


@pytest.mark.parametrize("name", RUN_CACHED)
def test_every_plain_output_of_an_expensive_stage_is_cached(name: str) -> None:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    stage = stages[name].get("do", stages[name])
    outputs = plain_outputs(stage)
    assert outputs, name
    assert [path for path, cached in outputs if not cached] == [], name


def test_plain_outputs_reads_both_spellings() -> None:
    stage = {"outs": ["a", {"b": {"cache": False}}, {"c": None}],
             "metrics": [{"m.json": {"cache": False}}]}
    assert plain_outputs(stage) == [("a", True), ("b", False), ("c", True)]
