"""Paired bootstrap over benchmark items: 95% intervals and significance of differences.

Every metric here is a corpus metric (not a mean of sentence scores), so a resample is
scored the way the official scorer would score the resampled item list: from each item's
sufficient statistics, which `evaluate` stores in metrics/items/<system>.json, with the
metric's own `resample` (stages/lib/metrics/registry.py):

    sari    the 9 counters x 4 n-gram orders per item; the corpus score takes their sums
    gleu    the 10 numbers per (item, reference); the corpus score re-draws one reference
            per *position* with the script's seeded RNG, exactly as for any item list
    m2      (correct, proposed, gold) per annotator; the annotator choice depends on the
            running totals, so it is replayed over the resampled sequence
    errant  (tp, fp, fn) per coder pair; the coder choice is replayed the same way

The resampled item positions depend only on (seed, dataset, number of items), so every
system evaluated on the same items is resampled identically: differences are paired.
An identity resample reproduces the metric exactly (tests/test_bootstrap.py).
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.lib.evaluation.results import ItemStats
from stages.lib.metrics.registry import get_metric

ALPHA = 0.05  # two-sided; intervals are 95%


@dataclass
class BootstrapParams:
    """params.yaml `evaluate.bootstrap` (stages/evaluate.py reads it)."""

    resamples: int = 1000
    seed: int = 0


def resample_indices(n: int, dataset: str, params: BootstrapParams) -> np.ndarray:
    """(resamples, n) item positions drawn with replacement; the same for every system."""
    # crc32, not hash(): Python salts str hashes per process
    rng = np.random.default_rng([params.seed, zlib.crc32(dataset.encode("utf-8"))])
    return rng.integers(0, n, size=(params.resamples, n))


def scores_for(metric: str, stats: Sequence[Any], indices: np.ndarray) -> np.ndarray:
    """The corpus score of each row of `indices` (item positions into `stats`)."""
    scorer = get_metric(metric)
    if not len(stats):
        raise ValueError("no items to resample")
    return scorer.resample(stats, np.atleast_2d(indices))


def interval(values: np.ndarray) -> list[float]:
    """Percentile 95% interval."""
    low, high = np.percentile(values, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return [float(low), float(high)]


def p_value(deltas: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value of a difference: twice the smaller share of
    resamples on either side of zero (add-one smoothed, so never exactly 0). A system
    compared with itself gets 1.0."""
    count = len(deltas)
    at_most = (int(np.sum(deltas <= 0)) + 1) / (count + 1)
    at_least = (int(np.sum(deltas >= 0)) + 1) / (count + 1)
    return min(1.0, 2 * min(at_most, at_least))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values, in the input order.

    Testing many claims (a findings table, a sweep of variants) at 0.05 each makes a
    false "significant" likely somewhere; Holm's adjusted p-values keep the chance of any
    false rejection in the family at 0.05 with no assumption about dependence. The k-th
    smallest p (from 0) is multiplied by (m - k), made non-decreasing, capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def verdict(delta: float, p: float) -> str:
    if p >= ALPHA or delta == 0:
        return "inconclusive"
    return "better" if delta > 0 else "worse"


def system_resamples(items: ItemStats, datasets: Sequence[str]) -> dict[str, np.ndarray]:
    """dataset -> resampled scores of one system, from its metrics/items file."""
    params = BootstrapParams(**items.bootstrap)
    out = {}
    for dataset in datasets:
        entry = items.datasets[dataset]
        indices = resample_indices(len(entry["stats"]), dataset, params)
        out[dataset] = scores_for(entry["metric"], entry["stats"], indices)
    return out


def mean_over(resamples: dict[str, np.ndarray], datasets: Sequence[str]) -> np.ndarray:
    """Per resample, the mean score over `datasets` (how `avg` is formed)."""
    return np.mean([resamples[d] for d in datasets], axis=0)


def paired(a: np.ndarray, b: np.ndarray, delta: float) -> dict[str, Any]:
    """Δ = B - A with its 95% interval, p-value and verdict ("better" = B better)."""
    deltas = b - a
    p = p_value(deltas)
    return {"delta": delta, "ci95": interval(deltas), "p": p, "verdict": verdict(delta, p)}
