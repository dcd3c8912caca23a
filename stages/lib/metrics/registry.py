"""The benchmark's metrics behind one interface, and the one table of them by name.

Every metric here is a corpus metric computed from per-item sufficient statistics
(docs/metrics.md), so each offers the same three steps:

    item_stats(inputs)        one dataset's items -> one JSON-able statistic per item
    score(stats)              the corpus score and its components (0-100) of those items
    resample(stats, indices)  the headline score of each row of item positions

`evaluate` scores a dataset and stores the statistics (metrics/items/<system>.json), the
bootstrap rescores resamples of them (stages/lib/evaluation/bootstrap.py) and `writing-alpaca score`
prints `corpus(inputs)`; all three find the metric with `get_metric`, the one place where
an unknown metric id is an error. The ids are those of data/benchmark/index.json and
params benchmark.datasets.<set>.metric, listed once in stages/lib/metrics/ids.py (which
the benchmark stage checks without importing any scorer).

The scorer modules are imported inside the functions below: looking a metric up must
not load another metric's code (spaCy for ERRANT when only SARI sets are compared).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from stages.lib.core.io import InputError
from stages.lib.metrics.ids import METRIC_IDS

if TYPE_CHECKING:
    from stages.lib.metrics.errant_scorer import HypEdit
    from stages.lib.metrics.m2format import M2Block


@dataclass(frozen=True)
class Inputs:
    """One dataset's items as the scorers read them, aligned by position.

    Text metrics (SARI, GLEU) read sources, hypotheses and per-item references. GEC
    metrics (M2, ERRANT) read the parsed gold M2 blocks, whose S lines are the sources,
    and hypotheses tokenized like those sources (`Inputs.gec`)."""

    sources: Sequence[str]
    hypotheses: Sequence[str]
    references: Sequence[Sequence[str]] = ()
    gold: Sequence[M2Block] = ()

    def __post_init__(self) -> None:
        n = len(self.sources)
        if len(self.hypotheses) != n or len(self.references) not in (0, n) \
                or len(self.gold) not in (0, n):
            raise ValueError(f"misaligned inputs: {n} sources, {len(self.hypotheses)} "
                             f"hypotheses, {len(self.references)} reference lists, "
                             f"{len(self.gold)} gold blocks")

    @classmethod
    def gec(cls, gold: Sequence[M2Block], hypotheses: Sequence[str]) -> Inputs:
        return cls([block.source for block in gold], hypotheses, gold=gold)

    @cached_property
    def hyp_edits(self) -> list[list[HypEdit]]:
        """ERRANT's edits from each source to its hypothesis (errant_parallel), extracted
        once: the ERRANT score and evaluate's edit analysis both read them."""
        from stages.lib.metrics.errant_scorer import extract_edits

        return extract_edits(self.sources, self.hypotheses)

    @cached_property
    def errant_breakdown(self) -> dict[str, dict]:
        """ERRANT's overall, per-type, per-operation and per-main-type scores."""
        from stages.lib.metrics.errant_scorer import errant_breakdown

        return errant_breakdown(self.gold, self.hypotheses, hyp_edits=self.hyp_edits)


def _no_details(inputs: Inputs) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Metric:
    """One benchmark metric: its id, where its gold lives and its three steps."""

    name: str
    headline: str    # the component of `score` that is the dataset's score
    gold_field: str  # the benchmark item field holding the gold: "references" or "m2"
    item_stats: Callable[[Inputs], list[Any]]
    score: Callable[[Sequence[Any]], dict[str, float]]
    resample: Callable[[Sequence[Any], np.ndarray], np.ndarray]
    # metric-specific entries of metrics/details/<system>.json beside "components"
    details: Callable[[Inputs], dict[str, Any]] = field(default=_no_details)

    def corpus(self, inputs: Inputs) -> dict[str, float]:
        """The corpus score and its components, as the official scorer prints them."""
        return self.score(self.item_stats(inputs))


def _replay(score: Callable[[Sequence[Any]], dict[str, float]], headline: str
            ) -> Callable[[Sequence[Any], np.ndarray], np.ndarray]:
    """Resampling for metrics whose corpus score replays a choice per item from the
    running totals (M2 annotators, ERRANT coders): each resample is scored in its order."""
    def resample(stats: Sequence[Any], indices: np.ndarray) -> np.ndarray:
        return np.array([score([stats[i] for i in row])[headline] for row in indices.tolist()])
    return resample


# SARI: the 9 counters x 4 n-gram orders per item; the corpus score takes their sums.

def _sari_stats(inputs: Inputs) -> list[Any]:
    from stages.lib.metrics.sari import item_stats

    return [item_stats(source, hypothesis, references) for source, hypothesis, references
            in zip(inputs.sources, inputs.hypotheses, inputs.references)]


def _sari_score(stats: Sequence[Any]) -> dict[str, float]:
    from stages.lib.metrics.sari import score_items

    return score_items(stats)


def _sari_resample(stats: Sequence[Any], indices: np.ndarray) -> np.ndarray:
    from stages.lib.metrics.sari import score_stats

    table = np.asarray(stats, dtype=np.int64)  # (items, 4 orders, 9 counters)
    sums = table[indices].sum(axis=1)  # integer sums: exact, order-free
    return np.array([score_stats(s)["sari"] for s in sums.tolist()])


# GLEU: the 10 numbers per (item, reference); the corpus score draws one reference per
# *position* with the script's seeded RNG, exactly as for any item list.

def _gleu_stats(inputs: Inputs) -> list[Any]:
    from stages.lib.metrics.gleu import item_stats

    return [item_stats(source, hypothesis, references) for source, hypothesis, references
            in zip(inputs.sources, inputs.hypotheses, inputs.references)]


def _gleu_score(stats: Sequence[Any]) -> dict[str, float]:
    from stages.lib.metrics.gleu import score_table, stats_table

    return score_table(*stats_table(stats))


def _gleu_resample(stats: Sequence[Any], indices: np.ndarray) -> np.ndarray:
    from stages.lib.metrics.gleu import score_table, stats_table

    table, num_refs = stats_table(stats)
    return np.array([score_table(table[row], num_refs[row])["gleu"] for row in indices])


# M2: (correct, proposed, gold) per annotator of each sentence.

def _m2_stats(inputs: Inputs) -> list[Any]:
    from stages.lib.metrics.m2 import item_options

    return [item_options(block, hypothesis)
            for block, hypothesis in zip(inputs.gold, inputs.hypotheses)]


def _m2_score(stats: Sequence[Any]) -> dict[str, float]:
    from stages.lib.metrics.m2 import score_options

    return score_options(stats)


# ERRANT: (tp, fp, fn) per coder pair of each sentence.

def _errant_stats(inputs: Inputs) -> list[Any]:
    from stages.lib.metrics.errant_scorer import item_counts

    return item_counts(inputs.gold, inputs.hyp_edits)


def _errant_score(stats: Sequence[Any]) -> dict[str, float]:
    from stages.lib.metrics.errant_scorer import score_counts

    return score_counts(stats)


def _errant_details(inputs: Inputs) -> dict[str, Any]:
    # TP/FN take the gold's types: only ERRANT-typed gold (BEA) has M/R/U
    return {"errant_operations": inputs.errant_breakdown["operations"]}


_HEAD = {name: metric_id.headline for name, metric_id in METRIC_IDS.items()}
METRICS: dict[str, Metric] = {
    "m2": Metric("m2", _HEAD["m2"], "m2", _m2_stats, _m2_score,
                 _replay(_m2_score, _HEAD["m2"])),
    "errant": Metric("errant", _HEAD["errant"], "m2", _errant_stats, _errant_score,
                     _replay(_errant_score, "f0.5"), _errant_details),
    "gleu": Metric("gleu", _HEAD["gleu"], "references", _gleu_stats, _gleu_score,
                   _gleu_resample),
    "sari": Metric("sari", _HEAD["sari"], "references", _sari_stats, _sari_score,
                   _sari_resample),
}
assert set(METRICS) == set(METRIC_IDS)  # one list of ids: metrics/ids.py


def get_metric(name: str, where: str | None = None) -> Metric:
    """The metric with id `name`; an unknown id is an error (naming `where`, the file
    that asked for it, when given)."""
    if name not in METRICS:
        raise InputError(f"{where + ': ' if where else ''}unknown metric {name!r} "
                         f"(known: {', '.join(METRICS)})")
    return METRICS[name]
