"""The benchmark's metric ids: the one list of them, with what each headlines and the
name a model card shows. A leaf that imports nothing: the benchmark stage checks ids and
the adapter card names them without loading a scorer (so a scorer's change re-runs
neither), and the registry (registry.py) builds its table over the same ids.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricId:
    headline: str  # the component of the metric's score that is a dataset's score
    label: str     # as a model card names it


METRIC_IDS: dict[str, MetricId] = {
    "m2": MetricId("f0.5", "M2 F0.5"),
    "errant": MetricId("f0.5", "ERRANT F0.5"),
    "gleu": MetricId("gleu", "GLEU"),
    "sari": MetricId("sari", "SARI"),
}
