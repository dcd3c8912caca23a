"""The Decoding value end to end: checked once, recorded beside the predictions it made
(decoding.json), carried into the metrics details, and named by `compare` when two
systems decoded differently."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_copy_margin import run_predict
from test_evaluate import write_predictions
from test_predict import write_tiny_benchmark

from stages.compare import compare
from stages.evaluate import EvaluateParams, evaluate_system
from stages.lib.evaluation.bootstrap import BootstrapParams
from stages.lib.evaluation.results import write_results
from stages.lib.inference.decoding import DECODING_RECORD, AnswerBudget, Decoding, DecodingError


@pytest.mark.parametrize("settings, key, message", [
    ({"num_beams": 0}, "num_beams", "integer >= 1"),
    ({"num_beams": True}, "num_beams", "integer >= 1"),
    ({"num_beams": 1, "copy_margin": 0.5}, "copy_margin", "num_beams is 1"),
    ({"num_beams": 4, "copy_margin": -0.1}, "copy_margin", ">= 0"),
    ({"num_beams": 4, "copy_margin": "wide"}, "copy_margin", "a number or null"),
])
def test_a_bad_decoding_names_its_key(settings: dict, key: str, message: str) -> None:
    with pytest.raises(DecodingError, match=message) as error:
        Decoding(**settings)
    assert error.value.key == key


def test_a_bad_budget_names_its_key() -> None:
    with pytest.raises(DecodingError) as error:
        AnswerBudget(1.5, 20, 10)
    assert error.value.key == "max_new_tokens_max"
    assert error.value.named({"max_new_tokens_min": "predict.max_new_tokens_min",
                              "max_new_tokens_max": "predict.max_new_tokens_max"}) == (
        "predict.max_new_tokens_max must be an integer >= predict.max_new_tokens_min (20), "
        "got 10")


def test_labels_and_searches() -> None:
    assert Decoding().label == "greedy"
    assert Decoding(4).label == "beam 4"
    assert Decoding(4, 0.5).label == "beam 4, copy margin 0.5"
    assert Decoding(4, 0).search() == Decoding(4, None).search()  # 0 is off
    assert Decoding(4, 0.5).search() != Decoding(4).search()


def test_predict_records_its_decoding_and_takes_copy_margin_option(
        lively_model_dir: Path, tmp_path: Path) -> None:
    code, log, out = run_predict(tmp_path, lively_model_dir, "beams", "--num-beams", "2",
                                 "--copy-margin", "0.25")
    assert code == 0, log
    record = json.loads((out / DECODING_RECORD).read_text())
    assert record == {"num_beams": 2, "copy_margin": 0.25, "max_new_tokens_factor": 1.5,
                      "max_new_tokens_min": 2, "max_new_tokens_max": 6}
    # none turns a params margin off; without beams a margin is refused, named as given
    code, log, out = run_predict(tmp_path, lively_model_dir, "off", "--copy-margin", "none",
                                 num_beams=3, copy_margin=0.5)
    assert code == 0, log
    assert json.loads((out / DECODING_RECORD).read_text())["copy_margin"] is None
    code, log, out = run_predict(tmp_path, lively_model_dir, "bad", "--copy-margin", "0.5")
    assert code != 0 and "--copy-margin 0.5 chooses among beam search" in log
    assert "predict.num_beams is 1" in log and not out.exists()
    code, log, out = run_predict(tmp_path, lively_model_dir, "word", "--copy-margin", "wide")
    assert code == 2 and "'wide' is not a number or none" in log and not out.exists()


def _evaluated(tmp_path: Path, system: str, record: dict | None) -> Path:
    bench = tmp_path / "benchmark"
    if not bench.is_dir():
        write_tiny_benchmark(bench)
    preds = write_predictions(bench, tmp_path / "preds" / system, {})
    if record is not None:
        (preds / DECODING_RECORD).write_text(json.dumps(record))
    metrics = tmp_path / "metrics"
    write_results(metrics / f"{system}.json", evaluate_system(
        bench, preds, EvaluateParams(bootstrap=BootstrapParams(resamples=50))))
    return metrics


def test_compare_says_when_the_decodings_differ(tmp_path: Path) -> None:
    greedy = Decoding().record()
    margin = Decoding(4, 0.5).record()
    for system, record in (("a", greedy), ("b", margin), ("c", greedy), ("copy", None)):
        metrics = _evaluated(tmp_path, system, record)
    assert json.loads((metrics / "details" / "b.json").read_text())["decoding"] == {
        "label": "beam 4, copy margin 0.5", **margin}

    def run(*systems: str) -> tuple[str, dict]:
        text = CliRunner().invoke(compare, [*systems, "--metrics-dir", str(metrics)])
        data = CliRunner().invoke(compare, [*systems, "--metrics-dir", str(metrics), "--json"])
        assert text.exit_code == data.exit_code == 0, text.output
        return text.output, json.loads(data.output)

    text, data = run("a", "b")
    assert data["same_decoding"] is False
    assert data["decodings"] == {"a": "greedy", "b": "beam 4, copy margin 0.5"}
    verdict = next(line for line in text.splitlines() if line.startswith("Paired bootstrap"))
    assert "Decodings differ (a: greedy; b: beam 4, copy margin 0.5)" in verdict
    text, data = run("a", "c")
    assert data["same_decoding"] is True and "Decodings differ" not in text
    text, data = run("copy", "a")  # the copy baseline decodes nothing: no claim
    assert data["same_decoding"] is None and "Decodings differ" not in text


def test_one_system_before_and_after_a_decoding_change_names_both(tmp_path: Path) -> None:
    """compare a a --b-metrics-dir: one name, two decodings; each side keeps its own."""
    before = _evaluated(tmp_path / "before", "a", Decoding().record())
    after = _evaluated(tmp_path / "after", "a", Decoding(4, 0.5).record())
    text = CliRunner().invoke(compare, ["a", "a", "--metrics-dir", str(before),
                                        "--b-metrics-dir", str(after)])
    assert text.exit_code == 0, text.output
    assert "Decodings differ (a: greedy; a: beam 4, copy margin 0.5)" in text.output
    data = json.loads(CliRunner().invoke(compare, [
        "a", "a", "--metrics-dir", str(before), "--b-metrics-dir", str(after),
        "--json"]).output)
    assert (data["decoding_a"], data["decoding_b"]) == ("greedy", "beam 4, copy margin 0.5")
