"""The `evaluate` params section, typed and checked: read by the evaluate stage and by
the findings report (which runs the same NE-edit analysis), so neither restates it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError
from stages.lib.core.params import load_params, parse_section
from stages.lib.evaluation.bootstrap import BootstrapParams
from stages.lib.metrics.spacy_cache import MODEL


@dataclass
class EvaluateParams:
    """params.yaml `evaluate`: how predictions are scored (defaults = params.yaml's)."""

    standin_in_avg: bool = False  # include stand-in datasets in `avg`
    ner_model: str = MODEL  # spaCy pipeline for the NE-edit analysis
    bootstrap: BootstrapParams = field(default_factory=BootstrapParams)


def parse_evaluate(params: dict[str, Any]) -> EvaluateParams:
    """The checked `evaluate` section of loaded params."""
    section = parse_section(EvaluateParams, params.get("evaluate") or {}, "evaluate")
    if section.bootstrap.resamples < 100:
        raise InputError(f"params.yaml: evaluate.bootstrap.resamples must be >= 100, "
                         f"got {section.bootstrap.resamples}")
    return section


def read_evaluate_params(path: str | Path) -> EvaluateParams:
    return parse_evaluate(load_params(path))
