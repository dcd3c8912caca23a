"""evaluate@<system>: score a system's predictions with each dataset's paper metric.

Per dataset (the metric named in data/benchmark/index.json): conll -> MaxMatch (M2)
F0.5 on the gold blocks of the predicted items, bea -> ERRANT F0.5, jfl -> GLEU,
the others -> SARI; all 0-100 (paper Table 2). metrics/<system>.json holds one flat
numeric key per dataset plus `avg` (what `dvc metrics diff` shows);
metrics/details/<system>.json (stages/lib/evaluation/results.py) holds the details: item counts,
95% bootstrap intervals per dataset and for `avg`, the metric's components, stand-in
flags and, for the GEC sets, the edit analysis of the paper's sec. 4.2 (ERRANT operation
breakdown and the share of the system's corrections that touch a named entity);
metrics/items/<system>.json the per-item sufficient statistics the intervals and
`writing-alpaca compare` resample (stages/lib/evaluation/bootstrap.py).

Only the items present in the predictions are scored (predict.max_items
selection); each must exist in the benchmark. Stand-in datasets (a substitute corpus,
index.json `standin: true`) are scored and flagged but left out of `avg` unless
evaluate.standin_in_avg is true; so are sets declared `in_avg: false` (a set of one's
own beside the paper's, which keeps `avg` the paper's average).

Each metric is looked up in stages/lib/metrics/registry.py; GEC hypotheses are tokenized
like the gold source before M2/ERRANT scoring (stages/lib/evaluation/predictions.py).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from stages.lib.data.benchmark_info import chosen_datasets, read_index
from stages.lib.evaluation.bootstrap import (
    interval,
    mean_over,
    resample_indices,
    scores_for,
)
from stages.lib.evaluation.evaluate_config import EvaluateParams, read_evaluate_params
from stages.lib.evaluation.gec_analysis import ne_touch_share, operation_counts
from stages.lib.evaluation.predictions import align_predictions, metric_inputs
from stages.lib.evaluation.results import ItemStats, Results, write_results
from stages.lib.inference.decoding import DECODING_RECORD, read_record
from stages.lib.metrics.registry import Inputs, get_metric


def score_dataset(metric_name: str, items: list[dict[str, Any]], outputs: list[str],
                  params: EvaluateParams, where: str) -> tuple[float, dict[str, Any], list[Any]]:
    """(score 0-100, details, per-item sufficient statistics) of one dataset's outputs.

    The score is computed from the per-item statistics, the same way the bootstrap
    scores a resample (stages/lib/evaluation/bootstrap.py)."""
    metric = get_metric(metric_name, where)
    inputs = metric_inputs(metric, items, outputs, where)
    stats = metric.item_stats(inputs)
    components = metric.score(stats)
    details: dict[str, Any] = {"components": components}
    if metric.gold_field == "m2":
        details.update(gec_analysis(inputs, params.ner_model))
    details.update(metric.details(inputs))
    return components[metric.headline], details, stats


def gec_analysis(inputs: Inputs, ner_model: str) -> dict[str, Any]:
    """The edit analysis of a GEC set (paper sec. 4.2) from the system's ERRANT edits."""
    return {
        "errant_overall": inputs.errant_breakdown["overall"],
        # paper Figure 1: the system's edits by action (Missing = insertion,
        # Replacement, Unnecessary = deletion), with ERRANT TP/FP/FN per action
        "edit_actions": operation_counts(inputs.hyp_edits),
        "named_entities": ne_touch_share(inputs.sources, inputs.hyp_edits, ner_model),
    }


def evaluate_system(benchmark: Path, predictions: Path, params: EvaluateParams,
                    datasets: str | None = None) -> Results:
    """The flat scores and `avg`, their details (with 95% bootstrap intervals) and the
    per-item statistics (stages/lib/evaluation/results.py writes each to its file)."""
    bootstrap = params.bootstrap
    index = read_index(benchmark)
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    item_stats: dict[str, Any] = {}
    resampled: dict[str, np.ndarray] = {}
    for dataset in chosen_datasets(index, datasets, "--datasets"):
        info = index[dataset]
        items, outputs = align_predictions(benchmark, predictions, dataset)
        metric = str(info.get("metric"))
        score, extra, stats = score_dataset(metric, items, outputs, params,
                                            f"{benchmark / dataset}.jsonl")
        standin = bool(info.get("standin")) or any(item.get("standin") for item in items)
        resampled[dataset] = scores_for(metric, stats,
                                        resample_indices(len(stats), dataset, bootstrap))
        scores[dataset] = round(score, 4)
        details[dataset] = {"metric": metric, "n": len(items), "size": info.get("size"),
                            "standin": standin, **_interval_details(resampled[dataset]), **extra}
        item_stats[dataset] = {"metric": metric, "ids": [item["id"] for item in items],
                               "stats": stats}
    # stand-ins (unless standin_in_avg) and sets declared `in_avg: false` are left out
    in_avg = [d for d in scores if index[d].get("in_avg", True)
              and (params.standin_in_avg or not details[d]["standin"])]
    result: dict[str, Any] = dict(scores)
    result["avg"] = round(sum(scores[d] for d in in_avg) / len(in_avg), 4) if in_avg else None
    summary = {
        "datasets": details,
        "avg_over": in_avg,
        "avg": _interval_details(mean_over(resampled, in_avg)) if in_avg else {},
        "excluded_standins": [d for d in scores if details[d]["standin"] and d not in in_avg],
        "n_items": sum(d["n"] for d in details.values()),
        # how the outputs were made (predict's decoding.json; None: the copy baseline,
        # or predictions written before it was recorded)
        "decoding": recorded_decoding(predictions),
    }
    return Results(result, summary, ItemStats(asdict(bootstrap), item_stats))


def recorded_decoding(predictions: Path) -> dict[str, Any] | None:
    """The decoding record of a predictions folder, with its label, or None."""
    record = predictions / DECODING_RECORD
    if not record.is_file():
        return None
    decoding = read_record(record)
    return {"label": decoding.label, **decoding.record()}


def _interval_details(resampled: np.ndarray) -> dict[str, Any]:
    low, high = interval(resampled)
    return {"ci95": [round(low, 4), round(high, 4)], "half_width": round((high - low) / 2, 4)}


@click.command()
@click.option("--system", required=True, help="System name (for messages).")
@click.option("--predictions", required=True, type=click.Path(path_type=Path),
              help="Folder predictions/<system>/ with <dataset>.jsonl.")
@click.option("--benchmark", required=True, type=click.Path(path_type=Path),
              help="Benchmark folder (index.json + <dataset>.jsonl).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Metrics file metrics/<system>.json (details go to "
                   "metrics/details/<system>.json).")
@click.option("--datasets", default=None,
              help="Comma-separated subset of the benchmark (predicted with the same subset).")
def evaluate(system: str, predictions: Path, benchmark: Path, params_path: Path,
             out: Path, datasets: str | None) -> None:
    """Score a system's predictions per dataset (paper metrics, 0-100) -> OUT json."""
    result = evaluate_system(benchmark, predictions, read_evaluate_params(params_path),
                             datasets)
    write_results(out, result)
    shown = ", ".join(f"{d} {result.scores[d]:.2f}" for d in result.datasets)
    avg = "n/a" if result.score("avg") is None else f"{result.scores['avg']:.2f}"
    click.echo(f"evaluate@{system}: {shown}; avg {avg}", err=True)
