"""predict stage and stages.lib.inference.generation on the tiny model and a tiny benchmark."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from decode_helpers import generate, max_new_tokens_for

from stages.lib.core.io import InputError, read_jsonl
from stages.lib.data.benchmark_info import select_items
from stages.lib.data.prompts import format_prompt
from stages.lib.inference import engines
from stages.lib.inference.answers import clean_output, cut_point
from stages.lib.inference.decoding import AnswerBudget, Decoding
from stages.lib.model.models import load_system
from stages.predict import predict, predict_all

CONLL_BLOCKS = [
    ("S She go to school yesterday .\nA 1 2|||Vt|||went|||REQUIRED|||-NONE-|||0\n"
    "A 1 2|||Vt|||went|||REQUIRED|||-NONE-|||1"),
    "S The cat sat on the mat .",
    ("S John Smith live in London .\nA 2 3|||SVA|||lives|||REQUIRED|||-NONE-|||0\n"
    "A 2 3|||SVA|||lives|||REQUIRED|||-NONE-|||1"),
]
BEA_BLOCKS = [
    ("S He have two dog .\nA 1 2|||R:VERB:SVA|||has|||REQUIRED|||-NONE-|||0\n"
    "A 3 4|||R:NOUN:NUM|||dogs|||REQUIRED|||-NONE-|||0"),
    "S I like tea .\nA -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0",
]
SARI_ITEMS = [
    ("The cat perched upon the mat.", ["The cat sat on the mat.", "A cat sat on the mat."]),
    ("He was extremely exhausted after the marathon.", ["He was very tired after the run."]),
    ("The committee postponed the decision indefinitely.", ["The group delayed the decision."]),
    ("She purchased numerous apples.", ["She bought many apples."]),
]


def _item(dataset: str, i: int, task: str, text: str, refs: list[str], m2: str | None,
          standin: bool) -> dict[str, Any]:
    return {"id": f"{dataset}-{i:04d}", "dataset": dataset, "task": task,
            "instruction": f"Instruction for {task}.", "input": text, "references": refs,
            "m2": m2, "standin": standin}


def write_tiny_benchmark(root: Path) -> Path:
    """conll (m2), bea (errant), jfl (gleu), trk (sari), sts (sari, stand-in)."""
    datasets: dict[str, list[dict[str, Any]]] = {
        "conll": [_item("conll", i, "grammar", b.splitlines()[0][2:], [], b, False)
                  for i, b in enumerate(CONLL_BLOCKS)],
        "bea": [_item("bea", i, "grammar", b.splitlines()[0][2:], [], b, False)
                for i, b in enumerate(BEA_BLOCKS)],
        "jfl": [_item("jfl", i, "fluency", s, r, None, False) for i, (s, r) in enumerate(SARI_ITEMS)],
        "trk": [_item("trk", i, "simplify", s, r, None, False) for i, (s, r) in enumerate(SARI_ITEMS)],
        "sts": [_item("sts", i, "paraphrase", s, r, None, True)
                for i, (s, r) in enumerate(SARI_ITEMS[:3])],
    }
    metrics = {"conll": "m2", "bea": "errant", "jfl": "gleu", "trk": "sari", "sts": "sari"}
    root.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, items in datasets.items():
        (root / f"{name}.jsonl").write_text(
            "".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
        index[name] = {"size": len(items), "task": items[0]["task"], "metric": metrics[name],
                       "standin": items[0]["standin"], "source": f"fixture/{name}"}
    (root / "index.json").write_text(json.dumps(index, sort_keys=True), encoding="utf-8")
    return root


def write_params(path: Path, **eval_params: Any) -> Path:
    """A params file whose predict section is EVAL_PARAMS over greedy decoding (these
    tests are about other settings; params.yaml's default is beam 4 + margin)."""
    import yaml

    section = {"num_beams": 1, "copy_margin": None, **eval_params}
    path.write_text(yaml.safe_dump({"profile": "default", "predict": section}), encoding="utf-8")
    return path


def test_clean_output_strips_template_echo() -> None:
    assert clean_output("She went home.\n\n### Input:\nShe go home.") == "She went home."
    assert clean_output("### Response:\nShe went home.\n### Response:\nx") == "She went home."
    assert clean_output("  She went home.  ") == "She went home."
    assert clean_output("A.\n\n\n\nB.") == "A."
    assert clean_output("A.\nB.") == "A.\nB."  # a single line break is content
    assert clean_output("A. Below is an instruction that describes a task, paired") == "A."
    assert cut_point("no echo here") is None


def test_max_new_tokens_for_clamps(tiny_model_dir: Path) -> None:
    _, tokenizer = load_system(tiny_model_dir, None, torch.float32)
    n = len(tokenizer("She go to school yesterday .", add_special_tokens=False)["input_ids"])
    assert max_new_tokens_for("She go to school yesterday .", tokenizer, 2.0, 1, 1000) == 2 * n
    assert max_new_tokens_for("She go", tokenizer, 1.0, 50, 100) == 50
    assert max_new_tokens_for("She go to school yesterday .", tokenizer, 10.0, 1, 7) == 7


def test_select_items_is_seeded_subset_in_order() -> None:
    items = [{"id": str(i)} for i in range(50)]
    first = select_items(items, "trk", 10, seed=3)
    assert first == select_items(items, "trk", 10, seed=3)
    ids = [int(item["id"]) for item in first]
    assert len(ids) == 10 and ids == sorted(ids)
    assert first != select_items(items, "ast", 10, seed=3)  # per-dataset draw
    assert select_items(items, "trk", None, seed=3) == items
    assert select_items(items, "trk", 80, seed=3) == items


def test_batched_equals_one_at_a_time_fp32(lively_model_dir: Path) -> None:
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    texts = ["She go to school yesterday .", "Hi", "The cat sat on the mat. The dog barked.",
             "Simplify the text.", "She went", "The dog barked at the cat ."] * 2
    prompts = [format_prompt("Fix grammatical errors in the text.", t) for t in texts]
    budgets = [max_new_tokens_for(t, tokenizer, 1.5, 3, 24) for t in texts]
    batched = generate(model, tokenizer, prompts, budgets, batch_size=5, progress=False)
    single = generate(model, tokenizer, prompts, budgets, batch_size=1, progress=False)
    assert batched == single
    assert sum(bool(o) for o in batched) >= len(texts) // 2  # the model does write text
    # a budget is per item: the same prompt with a smaller budget gives a prefix
    short = generate(model, tokenizer, prompts[:1], [2], batch_size=1, progress=False)
    assert batched[0].startswith(short[0])


def _reference_outputs(model: Any, tokenizer: Any, prompts: list[str],
                       budgets: list[int]) -> list[str]:
    """transformers' own greedy generate(), one prompt at a time, cleaned as ours."""
    outputs = []
    for prompt, budget in zip(prompts, budgets):
        ids = tokenizer(prompt, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=budget, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:]
        outputs.append(clean_output(tokenizer.decode(new, skip_special_tokens=True)))
    return outputs


def test_continuous_batching_matches_transformers_generate(lively_model_dir: Path) -> None:
    """Rows leaving and joining a running batch (batch 3 < 11 prompts of mixed lengths and
    budgets, a shared prompt prefix computed once) give exactly what transformers' own
    greedy generate() gives per prompt."""
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    texts = ["She go to school yesterday .", "Hi", "The cat sat on the mat. The dog barked.",
             "A", "She went", "The dog barked at the cat .", "Tea", "Go home now please .",
             "It are raining since morning and we has no umbrella .", "Ok", "Yes it is ."]
    prompts = [format_prompt("Fix grammatical errors in the text.", t) for t in texts]
    budgets = [3 + (7 * i) % 17 for i in range(len(texts))]
    ours = generate(model, tokenizer, prompts, budgets, batch_size=3, progress=False)
    assert ours == _reference_outputs(model, tokenizer, prompts, budgets)
    assert len({o for o in ours if o}) >= 4  # varied, non-empty outputs: a real comparison


def test_prompts_that_are_prefixes_of_each_other(lively_model_dir: Path) -> None:
    """The shared prefix never swallows a whole prompt: identical prompts, a prompt that
    is the start of another, and prompts with nothing in common."""
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    base = format_prompt("Fix grammatical errors in the text.", "She go")
    prompts = [base, base, base + " to school", "cat", "The dog barked ."]
    budgets = [9, 4, 9, 9, 9]
    for group in (prompts[:3], prompts):
        ours = generate(model, tokenizer, group, budgets[:len(group)], batch_size=2,
                        progress=False)
        assert ours == _reference_outputs(model, tokenizer, group, budgets[:len(group)])


def test_beam_search_path_runs(lively_model_dir: Path) -> None:
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    prompts = [format_prompt("Fix grammatical errors in the text.", t)
               for t in ("She go to school yesterday .", "Hi there")]
    beams = generate(model, tokenizer, prompts, [6, 6], batch_size=2, num_beams=2, progress=False)
    alone = [generate(model, tokenizer, [p], [6], batch_size=1, num_beams=2, progress=False)[0]
             for p in prompts]
    assert beams == alone and len(beams) == 2


def test_predict_writes_every_dataset_in_order(lively_model_dir: Path, tmp_path: Path) -> None:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    params = write_params(tmp_path / "params.yaml", max_items=3, seed=1, dtype="float32",
                          batch_size=4, max_new_tokens_min=2, max_new_tokens_max=8)
    out = tmp_path / "predictions" / "base"
    result = CliRunner().invoke(predict, [
        "--system", "base", "--adapter", str(lively_model_dir), "--base", str(lively_model_dir),
        "--benchmark", str(bench), "--params", str(params), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{d}.jsonl" for d in ("conll", "bea", "jfl", "trk", "sts")]
        + ["decoding.json", "selection.json"])
    for dataset in ("conll", "bea", "jfl", "trk", "sts"):
        items = read_jsonl(bench / f"{dataset}.jsonl")
        records = read_jsonl(out / f"{dataset}.jsonl")
        expected = select_items(items, dataset, 3, seed=1)
        assert [r["id"] for r in records] == [i["id"] for i in expected]
        assert [r["input"] for r in records] == [i["input"] for i in expected]
        assert all(set(r) == {"id", "input", "output"} for r in records)
    assert len(read_jsonl(out / "jfl.jsonl")) == 3  # capped from 4
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_predict_all_matches_direct_generation(lively_model_dir: Path) -> None:
    """Pooling datasets into one length-sorted run changes nothing per item."""
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    items = [_item("trk", i, "simplify", s, r, None, False) for i, (s, r) in enumerate(SARI_ITEMS)]
    decoding = Decoding(budget=AnswerBudget(1.5, 2, 6))
    pooled = predict_all(engines.CONTINUOUS, model, tokenizer, {"a": items[:2], "b": items[2:]},
                         decoding, 3, False)
    alone = [generate(model, tokenizer, [format_prompt(i["instruction"], i["input"])],
                      [max_new_tokens_for(i["input"], tokenizer, 1.5, 2, 6)], 1, progress=False)[0]
             for i in items]
    assert [r["output"] for r in pooled["a"] + pooled["b"]] == alone


def test_predict_rejects_bad_params(tmp_path: Path, tiny_model_dir: Path) -> None:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    params = tmp_path / "params.yaml"
    params.write_text("predict:\n  max_itemz: 3\n", encoding="utf-8")
    result = CliRunner().invoke(predict, [
        "--system", "base", "--adapter", str(tiny_model_dir), "--base", str(tiny_model_dir),
        "--benchmark", str(bench), "--params", str(params), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "predict.max_itemz" in result.output
    assert not (tmp_path / "p").exists()


def test_read_items_names_file_and_line(tmp_path: Path) -> None:
    from stages.lib.data.benchmark_info import read_items

    (tmp_path / "trk.jsonl").write_text('{"id": "a", "instruction": "x", "input": "y"}\n{bad\n')
    with pytest.raises(InputError, match=r"trk.jsonl:2"):
        read_items(tmp_path, "trk")


def test_copy_baseline_writes_inputs_without_a_model(tmp_path: Path) -> None:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    system = tmp_path / "copy"
    system.mkdir()
    (system / "baseline.json").write_text(json.dumps({"kind": "copy"}))
    empty_base = tmp_path / "no-model"  # never loaded: the folder holds no weights
    empty_base.mkdir()
    params = write_params(tmp_path / "params.yaml", max_items=2)
    out = tmp_path / "predictions"
    result = CliRunner().invoke(predict, [
        "--system", "copy", "--adapter", str(system), "--base", str(empty_base),
        "--benchmark", str(bench), "--params", str(params), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for path in sorted(bench.glob("*.jsonl")):
        records = read_jsonl(out / path.name)
        assert len(records) == min(2, len(read_jsonl(path)))
        assert all(r["output"] == r["input"] for r in records)
    (system / "baseline.json").write_text(json.dumps({"kind": "oracle"}))
    bad = CliRunner().invoke(predict, [
        "--system", "copy", "--adapter", str(system), "--base", str(empty_base),
        "--benchmark", str(bench), "--params", str(params), "--out", str(tmp_path / "p2")])
    assert bad.exit_code == 2 and "unknown baseline kind 'oracle'" in bad.output
    assert not (tmp_path / "p2").exists()


def test_old_eval_section_is_an_error_naming_its_successors(tmp_path: Path) -> None:
    from stages.lib.core.params import load_params

    params = tmp_path / "params.yaml"
    params.write_text("eval:\n  max_items: 3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown section 'eval' \(now predict"):
        load_params(params)


def test_predict_subset_beams_and_timing(lively_model_dir: Path, tmp_path: Path) -> None:
    """The grid's speed stage: a dataset subset, beams and cap from the command line, and
    a timing file; evaluate scores the same subset."""
    from stages.evaluate import evaluate

    bench = write_tiny_benchmark(tmp_path / "benchmark")
    params = write_params(tmp_path / "params.yaml", max_items=3, batch_size=4,
                          max_new_tokens_min=2, max_new_tokens_max=6)
    out, timing = tmp_path / "predictions" / "b2", tmp_path / "speed" / "timing.json"
    result = CliRunner().invoke(predict, [
        "--system", "b2", "--adapter", str(lively_model_dir), "--base", str(lively_model_dir),
        "--benchmark", str(bench), "--params", str(params), "--out", str(out),
        "--datasets", "conll,jfl", "--num-beams", "2", "--max-items", "2",
        "--timing", str(timing), "--engine", "hf"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["conll.jsonl", "decoding.json", "jfl.jsonl",
                                                     "selection.json"]
    assert json.loads((out / "selection.json").read_text()) == {"conll": 2, "jfl": 2}
    assert len(read_jsonl(out / "jfl.jsonl")) == 2  # --max-items over params' 3
    record = json.loads(timing.read_text())
    assert record["items"] == len(read_jsonl(out / "conll.jsonl")) + 2
    assert record["num_beams"] == 2 and record["items_per_s"] > 0
    assert record["datasets"] == ["conll", "jfl"]
    assert "engine hf" in record["inference"]  # --engine over params' auto
    metrics = tmp_path / "scores.json"
    scored = CliRunner().invoke(evaluate, [
        "--system", "b2", "--predictions", str(out), "--benchmark", str(bench),
        "--params", str(params), "--out", str(metrics), "--datasets", "conll,jfl"])
    assert scored.exit_code == 0, scored.output
    assert set(json.loads(metrics.read_text())) == {"conll", "jfl", "avg"}
    bad = CliRunner().invoke(predict, [
        "--system", "b2", "--adapter", str(lively_model_dir), "--base", str(lively_model_dir),
        "--benchmark", str(bench), "--params", str(params), "--out", str(tmp_path / "p3"),
        "--datasets", "conll,nope"])
    assert bad.exit_code == 2 and "unknown dataset(s) nope" in bad.output
    assert not (tmp_path / "p3").exists()


def test_out_holding_the_users_files_is_refused_unless_forced(tmp_path: Path) -> None:
    """predict --out onto a folder of someone else's files: one line, nothing lost; a
    re-run onto its own output replaces it; --force replaces anything."""
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    system = tmp_path / "copy"
    system.mkdir()
    (system / "baseline.json").write_text(json.dumps({"kind": "copy"}))
    params = write_params(tmp_path / "params.yaml", max_items=2)
    out = tmp_path / "results"
    out.mkdir()
    (out / "thesis.tex").write_text("mine", encoding="utf-8")
    args = ["--system", "copy", "--adapter", str(system), "--base", str(tmp_path),
            "--benchmark", str(bench), "--params", str(params), "--out", str(out)]
    refused = CliRunner().invoke(predict, args)
    assert refused.exit_code == 2 and "holds thesis.tex" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    (out / "thesis.tex").unlink()
    assert CliRunner().invoke(predict, args).exit_code == 0
    again = CliRunner().invoke(predict, args)  # its own output: replaced
    assert again.exit_code == 0, again.output
    (out / "thesis.tex").write_text("mine", encoding="utf-8")
    forced = CliRunner().invoke(predict, [*args, "--force"])
    assert forced.exit_code == 0 and not (out / "thesis.tex").exists()
