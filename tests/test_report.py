"""report and compare: table with reference rows, stand-in notes, charts, differences."""
from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from stages.compare import compare
from stages.lib.results import write_results
from stages.report import report


def _metrics(scores: dict[str, float], standin: set[str], n: int) -> dict:
    avg_over = [d for d in scores if d not in standin]
    return {**scores, "avg": sum(scores[d] for d in avg_over) / len(avg_over), "details": {
        "max_items": n, "datasets": {
            d: {"metric": "sari", "n": n, "size": 100, "standin": d in standin,
                **({"edit_actions": {"missing": 2, "replacement": 5, "unnecessary": 1,
                                     "other": 0, "total": 8},
                    "named_entities": {"edits": 8, "ne_edits": 1, "ne_share": 12.5}}
                   if d == "conll" else {})}
            for d in scores}}}


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    # as evaluate writes them: scores in metrics/<system>.json, details in metrics/details/
    write_results(metrics / "base.json",
                  _metrics({"sts": 30.0, "conll": 10.5, "trk": 33.25}, {"sts"}, 40))
    write_results(metrics / "tuned.json",
                  _metrics({"sts": 35.0, "conll": 20.0, "trk": 31.0}, {"sts"}, 40))
    loss = tmp_path / "loss"
    loss.mkdir()
    (loss / "tuned.csv").write_text("step,loss\n1,2.5\n2,2.1\n3,1.9\n")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "systems": {"base": {"adapter": "models/base"}, "tuned": {"adapter": "adapters/t"}},
        "report": {"reference_columns": ["conll", "trk", "avg"],
                   "reference_rows": {"LLaMA-7B": [19.21, 30.87, 30.64]}}}))
    return metrics, loss, params


def test_report_table_and_charts(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    out = tmp_path / "reports"
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--loss", str(loss),
                                         "--params", str(params), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| System"))
    # paper order: CoNLL before TRK before STS; the stand-in is marked
    assert header.index("CoNLL") < header.index("TRK") < header.index("STS†")
    base = next(line for line in lines if line.startswith("| base |"))
    assert base.split("|")[2:6] == [" 10.50 ", " 33.25 ", " 30.00 ", " 21.88 "]
    ref = next(line for line in lines if "LLaMA-7B" in line)
    assert "paper, reference" in ref and "19.21" in ref and "30.64" in ref
    assert ref.split("|")[4].strip() == "–"  # the paper has no number for our STS stand-in
    assert "eval.max_items = 40" in table and "stand-in" in table
    assert "| tuned | CoNLL | 2 | 5 | 1 | 8 | 12.5% |" in table
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert charts == ["gec_edit_actions.png", "scores_by_dataset.png", "training_loss.png"]
    assert (out / "charts" / "training_loss.png").read_bytes()[:4] == b"\x89PNG"
    first = {p.name: p.read_bytes() for p in (out / "charts").iterdir()}
    CliRunner().invoke(report, ["--metrics", str(metrics), "--loss", str(loss),
                                "--params", str(params), "--out", str(out)])
    assert {p.name: p.read_bytes() for p in (out / "charts").iterdir()} == first


def test_report_missing_metrics_is_input_error(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    (metrics / "tuned.json").unlink()
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--loss", str(loss),
                                         "--params", str(params), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "tuned.json" in result.output
    assert not (tmp_path / "r" / "table.md").exists()


def test_report_bad_details_json_names_file_and_line(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    (metrics / "details" / "tuned.json").write_text('{\n  "max_items": 40,\n  oops\n}\n')
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--loss", str(loss),
                                         "--params", str(params), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "details/tuned.json:3" in result.output
    assert not (tmp_path / "r" / "table.md").exists()


def test_report_bad_loss_csv_names_line(tmp_path: Path) -> None:
    metrics, loss, params = _setup(tmp_path)
    (loss / "tuned.csv").write_text("step,loss\n1,2.5\n2,oops\n")
    result = CliRunner().invoke(report, ["--metrics", str(metrics), "--loss", str(loss),
                                         "--params", str(params), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "tuned.csv:3" in result.output


def test_compare_prints_differences(tmp_path: Path) -> None:
    metrics, _, _ = _setup(tmp_path)
    result = CliRunner().invoke(compare, ["base", "tuned", "--metrics-dir", str(metrics)])
    assert result.exit_code == 0, result.output
    rows = {line.split("|")[1].strip(): line.split("|")[2:5] for line in result.output.splitlines()
            if line.startswith("| ") and not line.startswith("| Dataset")}
    assert [c.strip() for c in rows["CoNLL"]] == ["10.50", "20.00", "+9.50"]
    assert [c.strip() for c in rows["TRK"]] == ["33.25", "31.00", "-2.25"]
    assert [c.strip() for c in rows["STS †"]] == ["30.00", "35.00", "+5.00"]
    assert [c.strip() for c in rows["Avg."]] == ["21.88", "25.50", "+3.62"]
    missing = CliRunner().invoke(compare, ["base", "nope", "--metrics-dir", str(metrics)])
    assert missing.exit_code == 2 and "nope.json" in missing.output
