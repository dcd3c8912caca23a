"""ladder: each base's rungs with intervals, each step as a Holm-adjusted paired claim."""
from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from test_evaluate import GOLD_FIXES
from test_findings import _evaluate
from test_predict import write_tiny_benchmark

from stages.ladder import ladder
from stages.lib.core.io import read_jsonl
from stages.lib.evaluation.claims import TASK_GROUPS

PAPER = {"reference_columns": ["conll", "bea", "sts", "avg"],
         "reference_rows": {"LLaMA-7B": [19.21, 22.42, 32.34, 30.64],
                            "Alpaca-7B": [52.86, 36.19, 41.19, 43.07],
                            "Writing-Alpaca-7B": [55.88, 46.35, 43.30, 48.65]}}
RUNGS = {"small": ["base", "alpaca", "writing-alpaca"],
         "pre-trained": ["p-base", "p-alpaca", "p-writing-alpaca"]}


def write_params(path: Path, rungs: dict = RUNGS) -> Path:
    path.write_text(yaml.safe_dump({
        "report": PAPER,
        "ladder": {"rungs": rungs, "paper_rungs": ["LLaMA-7B", "Alpaca-7B",
                                                   "Writing-Alpaca-7B"]}}))
    return path


def run_ladder(tmp_path: Path, bench: Path, params: Path) -> object:
    return CliRunner().invoke(ladder, [
        "--metrics", str(tmp_path / "metrics"), "--predictions", str(tmp_path / "predictions"),
        "--benchmark", str(bench), "--params", str(params), "--out", str(tmp_path / "ladder.md")])


def test_ladder_report(tmp_path: Path) -> None:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    references = {item["id"]: item["references"][0] for dataset in ("jfl", "trk", "sts")
                  for item in read_jsonl(bench / f"{dataset}.jsonl")}
    metrics = tmp_path / "metrics"
    # small base: copies, then fixes the GEC sets, then also gives the references;
    # the pre-trained base climbs only its first step (its writing rung = its alpaca)
    _evaluate(bench, tmp_path, metrics, "copy", {})
    _evaluate(bench, tmp_path, metrics, "base", {})
    _evaluate(bench, tmp_path, metrics, "alpaca", dict(GOLD_FIXES))
    _evaluate(bench, tmp_path, metrics, "writing-alpaca", {**GOLD_FIXES, **references})
    _evaluate(bench, tmp_path, metrics, "p-base", {})
    _evaluate(bench, tmp_path, metrics, "p-alpaca", dict(GOLD_FIXES))
    _evaluate(bench, tmp_path, metrics, "p-writing-alpaca", dict(GOLD_FIXES))
    result = run_ladder(tmp_path, bench, write_params(tmp_path / "params.yaml"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "ladder.md").read_text()
    lines = text.splitlines()
    # every rung of both bases, the copy baseline and the paper's three rows
    for system, base in [("copy", "-"), ("base", "small"), ("p-writing-alpaca", "pre-trained")]:
        assert any(line.startswith(f"| {system} | {base} |") for line in lines), system
    assert "| *Alpaca-7B (paper)* | LLaMA-7B |" in text
    scores = next(line for line in lines if line.startswith("| alpaca | small |"))
    assert " ± " in scores  # each score with the half-width of its interval
    # each step of each ladder, with the paper's step and a Holm-adjusted p
    first = next(line for line in lines if "| base → alpaca | Avg. |" in line)
    assert "| +12.43 |" in first  # the paper's Δ Avg. 30.64 -> 43.07
    flat = next(line.split("|") for line in lines
                if "| p-alpaca → p-writing-alpaca | Avg. |" in line)
    assert flat[6].strip() == "+0.00" and "inconclusive" in flat[11]
    steps = [line.split("|") for line in lines if " → " in line and "| **" in line]
    # per base: Avg.; then Avg. and each task group whose sets the tiny benchmark holds
    held = {path.stem for path in bench.glob("*.jsonl")}
    groups = [g for g, sets in TASK_GROUPS.items() if set(sets) <= held]
    assert groups == ["grammaticality", "paraphrase"]
    assert len(steps) == 2 * (1 + 1 + len(groups))
    assert all(float(r[9]) >= float(r[8]) for r in steps)  # Holm p >= p
    assert "- small: Instruction tuning helps: Avg. " in text
    assert "## How often each rung leaves its input unchanged" in text
    assert any(line.startswith("| p-base |") and "100%" in line for line in lines)
    # every rung decodes alike here: no pair is marked, so no ‡ legend either
    assert "‡" not in text


def test_a_rung_without_metrics_or_a_short_ladder_is_one_line(tmp_path: Path) -> None:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    metrics = tmp_path / "metrics"
    for system in ("copy", "base", "alpaca", "writing-alpaca"):
        _evaluate(bench, tmp_path, metrics, system, {})
    result = run_ladder(tmp_path, bench, write_params(tmp_path / "params.yaml"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {metrics}: no metrics of p-base, p-alpaca, p-writing-alpaca (ladder.rungs; "
        "`make ladder` builds them)")
    short = write_params(tmp_path / "short.yaml", {"small": ["base", "alpaca"]})
    result = run_ladder(tmp_path, bench, short)
    assert result.exit_code == 2 and "ladder.rungs.small: 2 systems, expected 3" in result.output
    assert not (tmp_path / "ladder.md").exists()
