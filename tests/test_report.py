"""report and compare: table with reference rows, stand-in notes, charts, differences."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from test_evaluate import GOLD_FIXES, write_predictions
from test_predict import write_tiny_benchmark

from stages.compare import compare
from stages.evaluate import EvaluateParams, evaluate_system
from stages.lib.core.io import read_jsonl
from stages.lib.evaluation.bootstrap import BootstrapParams
from stages.lib.evaluation.results import write_results
from stages.lib.inference.decoding import Decoding
from stages.report import report

SYSTEMS = ("copy", "tuned")


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """metrics/ as `evaluate` writes it for two systems on the tiny benchmark: `copy`
    (output = input) and `tuned` (gold fixes on GEC, references elsewhere)."""
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    fixes = dict(GOLD_FIXES)
    for dataset in ("jfl", "trk", "sts"):
        for item in read_jsonl(bench / f"{dataset}.jsonl"):
            fixes[item["id"]] = item["references"][0]
    metrics = tmp_path / "metrics"
    # copy decodes nothing (no record, as predict writes it); tuned with beams and margin
    for system, outputs, decoding in zip(SYSTEMS, ({}, fixes),
                                         (None, Decoding(num_beams=4, copy_margin=0.5))):
        preds = write_predictions(bench, tmp_path / "preds" / system, outputs,
                                  decoding=decoding)
        write_results(metrics / f"{system}.json",
                      evaluate_system(bench, preds, EvaluateParams(
                                          bootstrap=BootstrapParams(resamples=200))))
    loss = tmp_path / "dvclive"  # DVCLive training logs, one folder per trained system
    (loss / "tuned" / "plots" / "metrics").mkdir(parents=True)
    (loss / "tuned" / "plots" / "metrics" / "loss.tsv").write_text(
        "step\tloss\n1\t2.5\n2\t2.1\n3\t1.9\n")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "systems": {"copy": {"adapter": "adapters/copy", "base": "small"},
                    "tuned": {"adapter": "adapters/t", "base": "small",
                              "predict": {"num_beams": 4, "copy_margin": 0.5}}},
        "report": {"reference_columns": ["conll", "trk", "avg"],
                   "reference_rows": {"LLaMA-7B": [19.21, 30.87, 30.64]},
                   "reference_source": "Zhang et al. 2023, Table 4",
                   "baselines": ["copy", "alpaca"]}}))
    return metrics, loss, params


def _scores(metrics: Path, system: str) -> dict:
    return json.loads((metrics / f"{system}.json").read_text())


def test_report_table_and_charts(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    out = tmp_path / "reports"
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--live", str(loss),
                                         "--params", str(params), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| System"))
    # paper order: CoNLL before TRK before STS; the stand-in is marked
    assert header.index("CoNLL") < header.index("TRK") < header.index("STS†")
    # every cell: score ± half-width of its 95% interval; the copy baseline is a row
    copy = next(line for line in lines if line.startswith("| copy |")).split("|")[2:-1]
    scores = _scores(metrics, "copy")
    assert copy[0].strip().startswith(f"{scores['conll']:.2f} ± ")
    assert copy[-1].strip().startswith(f"{scores['avg']:.2f} ± ")
    ref = next(line for line in lines if "LLaMA-7B" in line)
    assert "paper, reference" in ref and "19.21" in ref and "30.64" in ref
    assert ref.split("|")[4].strip() == "–"  # the paper has no number for our STS stand-in
    assert "CoNLL 3/3" in table and "predict.max_items" in table and "stand-in" in table
    assert "## Sample size" in table and "| CoNLL | 3 | ±" in table
    # how each system decodes (the copy baseline generates nothing)
    assert ("Decoding (as each system's predictions record it): beam 4, copy margin "
            "0.5: tuned. Systems that decode differently are compared as each is run.") in table
    assert "Base model (params `systems.<name>.base`): small: copy, tuned." in table
    # tuned vs copy, paired; `alpaca` is not among the systems and is skipped
    assert "### tuned vs copy" in table and "vs alpaca" not in table
    assert "| Dataset | copy | tuned | Δ (tuned − copy) | 95% CI of Δ | p | verdict |" in table
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert charts == ["gec_edit_actions.png", "scores_by_dataset.png", "training_loss.png"]
    assert (out / "charts" / "training_loss.png").read_bytes()[:4] == b"\x89PNG"
    first = {p.name: p.read_bytes() for p in (out / "charts").iterdir()}
    CliRunner().invoke(report, ["--metrics", str(metrics), "--live", str(loss),
                                "--params", str(params), "--out", str(out)])
    assert {p.name: p.read_bytes() for p in (out / "charts").iterdir()} == first


def test_report_missing_metrics_is_input_error(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    (metrics / "tuned.json").unlink()
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--live", str(loss),
                                         "--params", str(params), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "tuned.json" in result.output
    assert not (tmp_path / "r" / "table.md").exists()


def test_report_bad_details_json_names_file_and_line(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    (metrics / "details" / "tuned.json").write_text('{\n  "max_items": 40,\n  oops\n}\n')
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--live", str(loss),
                                         "--params", str(params), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "details/tuned.json:3" in result.output
    assert not (tmp_path / "r" / "table.md").exists()


def test_report_bad_loss_curve_names_line(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    (loss / "tuned" / "plots" / "metrics" / "loss.tsv").write_text("step\tloss\n1\t2.5\n2\toops\n")
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--live", str(loss),
                                         "--params", str(params), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "loss.tsv:3" in result.output


def _rows(output: str) -> dict[str, list[str]]:
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in output.splitlines()
            if line.startswith("| ") and not line.startswith("| Dataset")}


def test_compare_prints_delta_interval_p_and_verdict(tmp_path: Path) -> None:
    metrics, _, _ = _setup(tmp_path)
    result = CliRunner().invoke(compare, ["copy", "tuned", "--metrics-dir", str(metrics)])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    a, b = _scores(metrics, "copy"), _scores(metrics, "tuned")
    assert list(rows) == ["CoNLL", "BEA", "JFL", "TRK", "STS †", "Avg."]
    for label, key in (("CoNLL", "conll"), ("TRK", "trk"), ("Avg.", "avg")):
        score_a, score_b, delta, interval, p, verdict = rows[label]
        assert (score_a, score_b) == (f"{a[key]:.2f}", f"{b[key]:.2f}")
        assert delta == f"{b[key] - a[key]:+.2f}"
        low, high = (float(x) for x in interval.strip("[]").split(","))
        assert low <= float(delta) <= high and 0 < float(p) <= 1
        assert verdict in ("better", "worse", "inconclusive")
    as_json = json.loads(CliRunner().invoke(
        compare, ["copy", "tuned", "--metrics-dir", str(metrics), "--json"]).output)
    assert as_json["datasets"]["conll"]["delta"] == round(b["conll"] - a["conll"], 4)
    assert as_json["avg"]["over"] == ["conll", "bea", "jfl", "trk"]
    missing = CliRunner().invoke(compare, ["copy", "nope", "--metrics-dir", str(metrics)])
    assert missing.exit_code == 2 and "nope.json" in missing.output


def test_compare_a_system_with_itself_is_inconclusive(tmp_path: Path) -> None:
    metrics, _, _ = _setup(tmp_path)
    result = CliRunner().invoke(compare, ["tuned", "tuned", "--metrics-dir", str(metrics)])
    assert result.exit_code == 0, result.output
    for cells in _rows(result.output).values():
        assert cells[2:] == ["+0.00", "[+0.00, +0.00]", "1.000", "inconclusive"]


def test_compare_one_system_across_two_metrics_folders(tmp_path: Path) -> None:
    import shutil

    metrics, _, _ = _setup(tmp_path)
    after = tmp_path / "after"
    shutil.copytree(metrics, after)
    result = CliRunner().invoke(compare, ["tuned", "tuned", "--metrics-dir", str(metrics),
                                          "--b-metrics-dir", str(after)])
    assert result.exit_code == 0, result.output
    assert all(cells[-1] == "inconclusive" for cells in _rows(result.output).values())
    result = CliRunner().invoke(compare, ["copy", "tuned", "--metrics-dir", str(metrics),
                                          "--b-metrics-dir", str(after), "--json"])
    assert json.loads(result.output)["b"] == "tuned"


def test_compare_refuses_systems_scored_on_different_items(tmp_path: Path) -> None:
    metrics, _, _ = _setup(tmp_path)
    items = metrics / "items" / "tuned.json"
    data = json.loads(items.read_text())
    data["datasets"]["trk"]["ids"][0] = "other"
    items.write_text(json.dumps(data))
    result = CliRunner().invoke(compare, ["copy", "tuned", "--metrics-dir", str(metrics)])
    assert result.exit_code == 2 and "different trk items" in result.output


def test_a_set_of_ones_own_is_a_column_after_the_papers() -> None:
    from stages.lib.evaluation.results import Results
    from stages.report import ReportParams, render_table

    details = {"datasets": {d: {"n": 20, "size": 20, "standin": False}
                            for d in ("formal", "sts", "conll")}}
    metrics = {"mine": Results({"formal": 41.5, "sts": 30.0, "conll": 20.0, "avg": 25.0},
                               details)}
    table = render_table(metrics, ReportParams(reference_rows={}, reference_source=""))
    assert "| System | CoNLL | STS | formal | Avg. |" in table
    assert "| mine | 20.00 | 30.00 | 41.50 | 25.00 |" in table
    assert "formal 20/20" in table
