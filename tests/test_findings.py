"""findings: the paper's claims as paired comparisons with verdicts, NE edits, speed."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from test_evaluate import GOLD_FIXES, write_predictions
from test_predict import write_tiny_benchmark

from stages.evaluate import EvaluateParams, evaluate_system
from stages.findings import findings
from stages.lib.core.io import read_jsonl
from stages.lib.evaluation.bootstrap import BootstrapParams
from stages.lib.evaluation.claims import TASK_GROUPS, paper_value, verdict
from stages.lib.evaluation.comparison import SystemResults, compare_systems
from stages.lib.evaluation.results import write_results
from stages.lib.inference.decoding import Decoding


def _evaluate(bench: Path, root: Path, metrics: Path, system: str, outputs: dict,
              decoding: Decoding | None = None) -> None:
    preds = write_predictions(bench, root / "predictions" / system, outputs,
                              decoding=decoding or Decoding())
    write_results(metrics / f"{system}.json", evaluate_system(
        bench, preds, EvaluateParams(bootstrap=BootstrapParams(resamples=200))))


def test_verdict_follows_the_papers_sign_and_p() -> None:
    assert verdict(+5.0, +2.0, 0.01) == "reproduced"
    assert verdict(+5.0, -2.0, 0.01) == "contradicted"
    assert verdict(-1.7, -2.0, 0.01) == "reproduced"
    assert verdict(+5.0, +2.0, 0.20) == "inconclusive"
    assert verdict(None, +2.0, 0.01) == "inconclusive"


def test_paper_value_of_a_group_is_the_mean_of_its_datasets() -> None:
    rows = {"X": {"conll": 50.0, "bea": 40.0, "sts": 30.0}}
    assert paper_value(rows, "X", "grammaticality") == 45.0
    assert paper_value(rows, "X", "sts") == 30.0
    assert paper_value(rows, "X", "fluency") is None  # jfl/itr-f unknown
    assert paper_value(rows, "Y", "avg") is None


def test_findings_table(tmp_path: Path) -> None:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    references = {item["id"]: item["references"][0] for dataset in ("jfl", "trk", "sts")
                  for item in read_jsonl(bench / f"{dataset}.jsonl")}
    metrics = tmp_path / "metrics"  # every system, the grid's included
    # base copies; alpaca fixes the GEC sets; writing-alpaca also gives the references;
    # writing-only = alpaca's outputs (so STS drops against writing-alpaca)
    _evaluate(bench, tmp_path, metrics, "base", {})
    _evaluate(bench, tmp_path, metrics, "alpaca", dict(GOLD_FIXES))
    # the writing adapters decode with beams and a copy margin, the others greedily
    margin = Decoding(num_beams=4, copy_margin=0.5)
    _evaluate(bench, tmp_path, metrics, "writing-alpaca", {**GOLD_FIXES, **references}, margin)
    _evaluate(bench, tmp_path, metrics, "writing-only", dict(GOLD_FIXES), margin)
    speed = tmp_path / "speed"
    for beams, rate in ((1, 5.0), (16, 0.5)):
        (speed / f"beam{beams}").mkdir(parents=True)
        (speed / f"beam{beams}" / "timing.json").write_text(json.dumps({
            "system": "gec-only", "num_beams": beams, "items": 6, "items_per_s": rate,
            "inference": "device cpu", "batch_size": 4, "torch_threads": 2}))
        (speed / f"beam{beams}" / "scores.json").write_text(json.dumps({"conll": 10.0 * beams}))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "report": {"reference_columns": ["conll", "bea", "sts", "avg"],
                   "reference_rows": {"LLaMA-7B": [19.21, 22.42, 32.34, 30.64],
                                      "Alpaca-7B": [52.86, 36.19, 41.19, 43.07],
                                      "Writing-Alpaca-7B": [55.88, 46.35, 43.30, 48.65],
                                      "- Generic instruction data": [56.31, 46.99, 27.79, 46.91]}},
        "grid": {"paper_rows": {"LLaMA-7B-GEC": {"conll": 65.2, "bea": 54.6}}},
        # the writing adapters decode with beams and a copy margin, the others greedily
        "predict": {"num_beams": 1, "copy_margin": None},
        "systems": {name: {"adapter": f"adapters/{name}",
                           "predict": {"num_beams": 4, "copy_margin": 0.5}}
                    for name in ("writing-alpaca", "writing-only")}}))
    out = tmp_path / "findings.md"
    result = CliRunner().invoke(findings, [
        "--metrics", str(metrics), "--speed", str(speed),
        "--predictions", str(tmp_path / "predictions"), "--benchmark", str(bench),
        "--params", str(params), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    lines = text.splitlines()
    row = next(line for line in lines if "base → alpaca" in line)
    assert "| +12.43 |" in row  # the paper's Δ Avg. 30.64 -> 43.07
    # writing-only vs writing-alpaca on STS: the paper's drop, measured here too
    sts = next(line for line in lines if "writing-alpaca → writing-only | STS" in line)
    assert "| -15.51 |" in sts and sts.split("|")[6].strip().startswith("-")
    # every verdict rests on the Holm-adjusted p of the whole claims table
    claim_rows = [line.split("|") for line in lines
                  if " → " in line and "not run" not in line and "| **" in line]
    assert "| p | Holm p |" in text and claim_rows
    raw = [float(r[8]) for r in claim_rows]
    adjusted = [float(r[9]) for r in claim_rows]
    assert all(h >= p for h, p in zip(adjusted, raw))
    for cells, p_holm in zip(claim_rows, adjusted):
        if p_holm >= 0.05:
            assert "inconclusive" in cells[11]
    # a pair decoded differently is marked, and every system's decoding is named
    assert any("| alpaca → writing-alpaca ‡ |" in line for line in lines)
    assert not any("base → alpaca ‡" in line or "writing-only ‡" in line for line in lines)
    assert ("Decoding (as each system's predictions record it): greedy: alpaca, base; "
            "beam 4, copy margin 0.5: writing-alpaca, writing-only. ‡ A and B decode "
            "differently") in text
    # systems not run are named, not silently dropped
    assert "not run (writing-alpaca-full missing)" in text
    assert "not run (gec-only missing)" in text
    assert "## Named-entity edits" in text and "| CoNLL |" in text
    speed_rows = [line for line in lines if line.startswith("| gec-only |")]
    assert [r.split("|")[2].strip() for r in speed_rows] == ["1", "16"]
    assert "| 0.50 |" in speed_rows[1] and "| 160.00 |" in speed_rows[1]
    # the prose comes from stages/templates/findings.md, every placeholder filled
    assert "$" not in text and "(1000 resamples" not in text and "(200 resamples, seed 0)" in text
    assert "touches a named entity (spaCy NER on the source)" in text
    assert "(items: CoNLL 3, BEA 2)" in text and text.endswith("threads |\n")

    # the claims' Δ are compare_systems' rows; a task group is the mean of its datasets
    a, b = SystemResults(metrics, "alpaca"), SystemResults(metrics, "writing-alpaca")
    result = compare_systems(a, b, TASK_GROUPS)
    assert result.groups is not None
    group = result.groups["grammaticality"]
    assert group.over == ["conll", "bea"]
    assert group.a == (a.results.scores["conll"] + a.results.scores["bea"]) / 2
    assert "fluency" not in result.groups  # itr-f is not in the fixture benchmark
    assert "groups" not in compare_systems(a, b).as_json()  # `compare --json` stays as it was
