"""The metric registry (stages/lib/metrics/registry.py) is the one dispatch point.

evaluate, the bootstrap (so compare, report and findings) and `writing-alpaca score` find
every metric through `get_metric`; none of them imports a scorer module itself, a
metric registered there alone is used by all of them, and an unknown id is one error.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_dvc_deps import REPO_ROOT, imported_modules
from test_evaluate import write_predictions
from test_predict import write_tiny_benchmark

from stages.evaluate import EvaluateParams, evaluate_system
from stages.lib.core.io import InputError
from stages.lib.core.params import load_params
from stages.lib.evaluation.bootstrap import BootstrapParams, interval, scores_for, system_resamples
from stages.lib.metrics.ids import METRIC_IDS
from stages.lib.metrics.registry import METRICS, Inputs, Metric, get_metric

SCORERS = {f"stages.lib.metrics.{name}" for name in ("sari", "gleu", "m2", "errant_scorer")}
# everything that scores or resamples a metric by its name
CALLERS = ["stages.evaluate", "stages.score", "stages.findings", "stages.report",
           "stages.compare", "stages.lib.evaluation.bootstrap", "stages.lib.evaluation.comparison",
           "stages.lib.evaluation.predictions"]


def test_every_benchmark_metric_in_params_resolves() -> None:
    datasets = load_params(REPO_ROOT / "params.yaml")["benchmark"]["datasets"]
    used = {spec["metric"] for spec in datasets.values()}
    assert used == {"m2", "errant", "gleu", "sari"}
    for name in used:
        metric = get_metric(name)
        assert metric.name == name and metric.gold_field in ("references", "m2")
    # the benchmark stage and the adapter card know the ids from metrics/ids.py, which
    # imports no scorer (their stages must not re-run when a scorer changes)
    assert set(METRICS) == set(METRIC_IDS)
    assert all(METRICS[name].headline == METRIC_IDS[name].headline for name in METRICS)


def test_unknown_metric_is_one_clear_error() -> None:
    with pytest.raises(InputError, match=r"^bench/x.jsonl: unknown metric 'bleu' "
                                         r"\(known: m2, errant, gleu, sari\)$"):
        get_metric("bleu", "bench/x.jsonl")
    # the bootstrap (compare, report, findings) raises the very same error
    with pytest.raises(InputError, match=r"^unknown metric 'bleu' \(known: m2, errant, "):
        scores_for("bleu", [[1]], np.zeros((1, 1), dtype=np.int64))


@pytest.mark.parametrize("module", CALLERS)
def test_callers_reach_the_scorers_only_through_the_registry(module: str) -> None:
    assert not imported_modules(REPO_ROOT, module) & SCORERS
    assert SCORERS <= imported_modules(REPO_ROOT, "stages.lib.metrics.registry")


def _chars(inputs: Inputs) -> list[int]:
    return [len(h) for h in inputs.hypotheses]


def _total(stats: Sequence[Any]) -> dict[str, float]:
    return {"chars": float(sum(stats)), "items": float(len(stats))}


def _resampled(stats: Sequence[Any], indices: np.ndarray) -> np.ndarray:
    return np.array([float(sum(stats[i] for i in row)) for row in indices])


def test_a_metric_registered_there_is_used_by_evaluate_and_bootstrap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METRICS, "chars", Metric("chars", "chars", "references", _chars,
                                                 _total, _resampled))
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    index = json.loads((bench / "index.json").read_text())
    index["trk"]["metric"] = "chars"
    (bench / "index.json").write_text(json.dumps(index))
    preds = write_predictions(bench, tmp_path / "preds", {"trk-0000": "x" * 1000})
    params = EvaluateParams(bootstrap=BootstrapParams(resamples=100))
    result = evaluate_system(bench, preds, params, datasets="trk,jfl")
    outputs = [r["output"] for r in map(json.loads, (preds / "trk.jsonl").read_text().splitlines())]
    assert result.scores["trk"] == sum(map(len, outputs)) >= 1000
    trk = result.datasets["trk"]
    assert trk["metric"] == "chars" and trk["components"] == _total(_chars(Inputs(outputs, outputs)))
    assert result.items.datasets["trk"]["stats"] == [len(o) for o in outputs]
    # compare / report / findings resample the stored statistics with the same entry
    resampled = system_resamples(result.items, ["trk"])["trk"]
    assert resampled.shape == (100,) and resampled.max() >= 1000
    assert trk["ci95"] == [round(v, 4) for v in interval(resampled)]


def test_corpus_equals_the_scorer_modules() -> None:
    from stages.lib.metrics.gleu import corpus_gleu
    from stages.lib.metrics.m2 import corpus_m2, parse_m2
    from stages.lib.metrics.sari import corpus_sari

    sources = ["the cat sat on mat .", "a dog barked loud ."]
    hyps = ["the cat sat on the mat .", "a dog barked ."]
    refs = [["the cat sat on the mat .", "a cat sat on the mat ."], ["a dog barked loudly ."]]
    inputs = Inputs(sources, hyps, references=refs)
    assert get_metric("sari").corpus(inputs) == corpus_sari(sources, hyps, refs)
    assert get_metric("gleu").corpus(inputs) == corpus_gleu(sources, hyps, refs)
    blocks = parse_m2("S The cat sat .\nA 1 2|||Nn|||cats|||REQUIRED|||-NONE-|||0\n\n"
                      "S Fine .\nA 0 1|||R|||Good|||REQUIRED|||-NONE-|||0\n")
    gec_hyps = ["The cats sat .", "Fine ."]
    assert get_metric("m2").corpus(Inputs.gec(blocks, gec_hyps)) == corpus_m2(blocks, gec_hyps)
    assert get_metric("m2").corpus(Inputs.gec(blocks, gec_hyps))["f0.5"] > 0
    with pytest.raises(ValueError, match="misaligned inputs"):
        Inputs(sources, hyps[:1], references=refs)
