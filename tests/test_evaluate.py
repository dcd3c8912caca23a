"""evaluate stage: the right metric per dataset on hand-made predictions, avg, stand-ins."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_predict import write_tiny_benchmark

from stages.evaluate import EvaluateParams, evaluate, evaluate_system
from stages.lib.core.io import InputError, read_jsonl
from stages.lib.evaluation.gec_analysis import touches
from stages.lib.evaluation.predictions import gec_tokenize
from stages.lib.evaluation.results import read_results, scores_stamp
from stages.lib.inference.decoding import DECODING_RECORD, Decoding
from stages.lib.metrics.errant_scorer import HypEdit
from stages.lib.metrics.gleu import corpus_gleu
from stages.lib.metrics.sari import corpus_sari

GOLD_FIXES = {  # detokenized corrections, as a model would write them
    "conll-0000": "She went to school yesterday.",
    "conll-0002": "John Smith lives in London.",
    "bea-0000": "He has two dogs.",
}


def write_predictions(bench: Path, out: Path, outputs: dict[str, str] | None = None,
                      skip: set[str] = frozenset(), decoding: Decoding | None = None) -> Path:
    """Identity predictions (output = input), overridden per id by `outputs`; with
    `decoding`, its record beside them, as predict writes it."""
    out.mkdir(parents=True, exist_ok=True)
    if decoding is not None:
        (out / DECODING_RECORD).write_text(json.dumps(decoding.record()))
    for path in sorted(bench.glob("*.jsonl")):
        records = [{"id": item["id"], "input": item["input"],
                    "output": (outputs or {}).get(item["id"], item["input"])}
                   for item in read_jsonl(path) if item["id"] not in skip]
        (out / path.name).write_text("".join(json.dumps(r) + "\n" for r in records))
    return out


@pytest.fixture()
def bench(tmp_path: Path) -> Path:
    return write_tiny_benchmark(tmp_path / "benchmark")


def test_identity_predictions(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds")
    result = evaluate_system(bench, preds, EvaluateParams())
    trk = read_jsonl(bench / "trk.jsonl")
    sari = corpus_sari([i["input"] for i in trk], [i["input"] for i in trk],
                       [i["references"] for i in trk])
    # identity output: no additions or deletions, so SARI is keep / 3
    assert sari["add"] == 0 and sari["delete"] == 0
    assert result.scores["trk"] == pytest.approx(sari["keep"] / 3, abs=1e-3)
    assert result.datasets["trk"]["metric"] == "sari"
    jfl = read_jsonl(bench / "jfl.jsonl")
    gleu = corpus_gleu([i["input"] for i in jfl], [i["input"] for i in jfl],
                       [i["references"] for i in jfl])["gleu"]
    assert result.scores["jfl"] == pytest.approx(gleu, abs=1e-3)
    assert result.scores["jfl"] != pytest.approx(result.scores["trk"], abs=1e-3)  # different metrics
    # GEC: copying the source proposes no edit -> F0.5 = 0, all gold edits missed
    assert result.scores["conll"] == 0 and result.scores["bea"] == 0
    assert result.datasets["conll"]["components"]["fn"] == 2
    assert result.datasets["bea"]["components"]["fn"] == 2
    assert result.datasets["conll"]["edit_actions"]["total"] == 0


def test_gold_corrections_score_100_after_tokenization(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds", GOLD_FIXES)
    result = evaluate_system(bench, preds, EvaluateParams())
    assert result.scores["conll"] == pytest.approx(100.0)
    assert result.scores["bea"] == pytest.approx(100.0)
    conll = result.datasets["conll"]
    assert conll["edit_actions"]["replacement"] == 2 and conll["edit_actions"]["total"] == 2
    bea = result.datasets["bea"]
    assert bea["errant_operations"]["R"]["tp"] == 2 and bea["errant_operations"]["R"]["fp"] == 0


def test_wrong_gec_edit_counts_fp_and_named_entity(bench: Path, tmp_path: Path) -> None:
    # the paper's hallucination case: an edit that changes a person's name
    fixes = dict(GOLD_FIXES, **{"conll-0002": "Kate Smith lives in London."})
    preds = write_predictions(bench, tmp_path / "preds", fixes)
    conll = evaluate_system(bench, preds, EvaluateParams()).datasets["conll"]
    assert conll["components"]["fp"] >= 1
    ne = conll["named_entities"]
    assert ne["edits"] == 3 and ne["ne_edits"] == 1
    assert ne["ne_share"] == pytest.approx(100 / 3, abs=1e-3)


def test_touches_spans() -> None:
    spans = [(2, 4)]
    assert touches(HypEdit(3, 4, "R:NOUN", "x"), spans)
    assert not touches(HypEdit(4, 5, "R:NOUN", "x"), spans)
    assert touches(HypEdit(2, 2, "M:NOUN", "Kate"), spans)  # insertion at the edge
    assert not touches(HypEdit(1, 1, "M:DET", "the"), spans)


def test_gec_tokenize_keeps_identity_and_splits_punctuation() -> None:
    sources = ["She go to school .", "She go to school ."]
    assert gec_tokenize(sources, ["She go to  school .", "She went to school."]) == [
        "She go to school .", "She went to school ."]


def test_standin_excluded_from_avg_unless_asked(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds", GOLD_FIXES)
    result = evaluate_system(bench, preds, EvaluateParams())
    real = ["conll", "bea", "jfl", "trk"]
    assert result.details["excluded_standins"] == ["sts"]
    assert result.datasets["sts"]["standin"] is True
    assert result.scores["avg"] == pytest.approx(sum(result.scores[d] for d in real) / 4, abs=1e-3)
    with_standin = evaluate_system(bench, preds, EvaluateParams(standin_in_avg=True))
    assert with_standin.scores["avg"] == pytest.approx(
        sum(result.scores[d] for d in [*real, "sts"]) / 5, abs=1e-3)


def test_a_set_declared_out_of_avg_is_scored_but_not_averaged(bench: Path,
                                                              tmp_path: Path) -> None:
    index = json.loads((bench / "index.json").read_text())
    index["trk"]["in_avg"] = False
    (bench / "index.json").write_text(json.dumps(index))
    preds = write_predictions(bench, tmp_path / "preds", GOLD_FIXES)
    result = evaluate_system(bench, preds, EvaluateParams(standin_in_avg=True))
    assert sorted(result.avg_over) == ["bea", "conll", "jfl", "sts"] and "trk" in result.scores
    assert result.scores["avg"] == pytest.approx(
        sum(result.scores[d] for d in result.avg_over) / 4, abs=1e-3)
    assert result.details["excluded_standins"] == []


def test_scores_only_predicted_items(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds", GOLD_FIXES, skip={"conll-0001"})
    result = evaluate_system(bench, preds, EvaluateParams())
    assert result.datasets["conll"]["n"] == 2
    assert result.datasets["conll"]["size"] == 3
    assert result.scores["conll"] == pytest.approx(100.0)


def test_bad_predictions_name_file_and_line(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds")
    with open(preds / "trk.jsonl", "a") as handle:
        handle.write(json.dumps({"id": "nope", "input": "x", "output": "y"}) + "\n")
    with pytest.raises(InputError, match=r"trk.jsonl:5: id 'nope'"):
        evaluate_system(bench, preds, EvaluateParams())
    (preds / "trk.jsonl").unlink()
    with pytest.raises(InputError, match=r"trk.jsonl: predictions missing"):
        evaluate_system(bench, preds, EvaluateParams())


def test_unknown_metric_names_the_file(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds")
    index = json.loads((bench / "index.json").read_text())
    index["trk"]["metric"] = "bleu"
    (bench / "index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match=r"trk.jsonl: unknown metric 'bleu' \(known: m2, "):
        evaluate_system(bench, preds, EvaluateParams())


def test_missing_gold_names_item_and_metric(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds")
    items = read_jsonl(bench / "jfl.jsonl")
    items[1]["references"] = []
    (bench / "jfl.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    with pytest.raises(InputError, match=rf"jfl.jsonl: item {items[1]['id']} has no "
                                         r"references \(metric gleu\)"):
        evaluate_system(bench, preds, EvaluateParams())


def test_cli_writes_flat_metrics(bench: Path, tmp_path: Path) -> None:
    preds = write_predictions(bench, tmp_path / "preds", GOLD_FIXES)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"evaluate": {"bootstrap": {"resamples": 200}}}))
    out = tmp_path / "metrics" / "base.json"
    result = CliRunner().invoke(evaluate, ["--system", "base", "--predictions", str(preds),
                                           "--benchmark", str(bench), "--params", str(params),
                                           "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {"conll", "bea", "jfl", "trk", "sts", "avg"} <= set(data)
    assert all(isinstance(data[k], float) for k in ("conll", "bea", "jfl", "trk", "sts", "avg"))
    # only the scores are DVC metrics; the breakdowns live in metrics/details/<system>.json
    assert "details" not in data
    details = json.loads((tmp_path / "metrics" / "details" / "base.json").read_text())
    assert details["datasets"]["conll"]["n"] == 3 and len(details["avg"]["ci95"]) == 2
    # the details name the scores they belong to (stages/lib/evaluation/results.py), read back without
    assert details.pop("scores_sha256") == scores_stamp(data)
    assert read_results(out).details == details
    first = out.read_bytes()
    CliRunner().invoke(evaluate, ["--system", "base", "--predictions", str(preds),
                                  "--benchmark", str(bench), "--params", str(params),
                                  "--out", str(out)])
    assert out.read_bytes() == first  # deterministic


def test_a_predictions_file_cut_short_is_refused(bench: Path, tmp_path: Path) -> None:
    """predict records how many items it chose (selection.json); a file that lost lines
    afterwards is refused, naming it, instead of being scored on what is left."""
    from click.testing import CliRunner

    from stages.predict import predict

    system = tmp_path / "copy"
    system.mkdir()
    (system / "baseline.json").write_text(json.dumps({"kind": "copy"}))
    (tmp_path / "params.yaml").write_text("predict: {max_items: 3}\n")
    out = tmp_path / "predictions"
    made = CliRunner().invoke(predict, [
        "--system", "copy", "--adapter", str(system), "--base", str(tmp_path),
        "--benchmark", str(bench), "--params", str(tmp_path / "params.yaml"),
        "--out", str(out)])
    assert made.exit_code == 0, made.output
    evaluate_system(bench, out, EvaluateParams())  # complete: scored
    jfl = out / "jfl.jsonl"
    lines = jfl.read_text().splitlines(keepends=True)
    assert len(lines) >= 2
    jfl.write_text("".join(lines[:1]))
    with pytest.raises(InputError, match=rf"jfl.jsonl: 1 predictions, but predict chose "
                                         rf"{len(lines)} items"):
        evaluate_system(bench, out, EvaluateParams())
