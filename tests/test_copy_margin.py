"""predict.copy_margin: prefer a beam candidate that edits the input over a near-tied copy.

The choice rule is tested on hand-made candidates; the beam candidates and their scores
on the lively tiny model, where a copy is made the best candidate by declaring each
prompt's plain beam output to be its input; the setting's checks through params.yaml,
the predict command and the engines.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from decode_helpers import generate, max_new_tokens_for
from test_predict import write_params, write_tiny_benchmark
from transformers import StoppingCriteriaList

from stages.lib.core.io import InputError, read_jsonl
from stages.lib.data.prompts import format_prompt
from stages.lib.inference import answers, beam_search, decoding, engines, generation
from stages.lib.inference.decoding import Decoding, prefer_edit
from stages.lib.inference.predict_config import parse_predict
from stages.lib.model.models import load_system
from stages.predict import predict

TEXTS = ["She go to school yesterday .", "Hi", "The cat sat on the mat. The dog barked.",
         "It are raining since morning .", "Yes it is ."]
SOURCE = "She go home ."


# --- the choice rule (b) ----------------------------------------------------------------

def test_the_best_edit_within_the_margin_wins_over_a_best_copy() -> None:
    candidates = [("She go home .", -0.50), ("She goes home .", -0.70),
                  ("She went home .", -0.60), ("He go home .", -0.55)]
    # the best of the edits within 0.2 (-0.55 beats -0.60 and -0.70), not the first listed
    assert prefer_edit(candidates, SOURCE, 0.2) == "He go home ."
    assert prefer_edit(candidates[:3], SOURCE, 0.2) == "She went home ."
    assert prefer_edit(candidates[:3], SOURCE, 0.15) == "She went home ."  # -0.60 is within
    assert prefer_edit(candidates[:3], SOURCE, 0.05) == "She go home ."  # none within: copy
    # whitespace does not make a copy an edit, on either side
    assert prefer_edit([("She  go\nhome .", -0.1), ("She went home .", -0.2)],
                       " She go home .", 0.05) == "She  go\nhome ."
    assert prefer_edit([("She  go\nhome .", -0.1), ("She went home .", -0.2)],
                       " She go home .", 0.5) == "She went home ."
    # nor does spacing around punctuation: a detokenized copy is still a copy
    assert prefer_edit([("She go home.", -0.1), ("She went home.", -0.3)],
                       SOURCE, 0.5) == "She went home."
    assert prefer_edit([("She go home.", -0.1), ("She went home.", -0.3)],
                       SOURCE, 0.1) == "She go home."


def test_a_best_edit_stays_and_an_empty_text_is_no_edit() -> None:
    unsorted = [("She went home .", -1.0), ("She go home .", -0.5)]
    assert prefer_edit(unsorted, SOURCE, 0.25) == "She go home ."  # the best is by score
    assert prefer_edit(unsorted, SOURCE, 0.5) == "She went home ."  # the margin is inclusive
    assert prefer_edit([("She went home .", -0.1), ("She go home .", -0.2),
                        ("She goes home .", -0.15)], SOURCE, 5.0) == "She went home ."
    assert prefer_edit([("She go home .", -0.1), ("", -0.11), ("  ", -0.12)],
                       SOURCE, 1.0) == "She go home ."
    assert prefer_edit([("She go home .", -0.1), ("", -0.11), ("She went .", -0.3)],
                       SOURCE, 1.0) == "She went ."
    # equal scores: the first listed (beam search's order) wins
    assert prefer_edit([("She go home .", -0.1), ("A .", -0.2), ("B .", -0.2)],
                       SOURCE, 0.1) == "A ."


# --- the beam candidates on a model ------------------------------------------------------

@pytest.fixture(scope="module")
def lively(lively_model_dir: Path) -> tuple[Any, Any, list[str], list[int]]:
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    prompts = [format_prompt("Fix grammatical errors in the text.", t) for t in TEXTS]
    budgets = [max_new_tokens_for(t, tokenizer, 1.5, 3, 8) for t in TEXTS]
    return model, tokenizer, prompts, budgets


def _alone(model: Any, tokenizer: Any, prompt: str, budget: int, beams: int) -> str:
    """transformers' own beam search on one prompt, stopped and cleaned as ours."""
    ids = tokenizer(prompt, return_tensors="pt")
    stop_ids = answers.eos_ids(model, tokenizer)
    out = model.generate(**ids, max_new_tokens=budget, do_sample=False, num_beams=beams,
                         eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                         stopping_criteria=StoppingCriteriaList(
                             [generation._StopRows(tokenizer, ids["input_ids"].shape[1], [budget])]))
    return answers.decode_output(tokenizer, out[0, ids["input_ids"].shape[1]:].tolist(), budget,
                         set(stop_ids))


@pytest.mark.parametrize("name", ["continuous", "hf"])
def test_copy_margin_off_is_the_plain_beam_search(lively: tuple[Any, Any, list[str], list[int]],
                                                  name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """(a) null and 0 decode exactly as before: one plain generate() call per batch, whose
    outputs are transformers' beam search on each prompt alone."""
    model, tokenizer, prompts, budgets = lively
    configs: list[Any] = []
    real = model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        configs.append(kwargs["generation_config"])
        return real(*args, **kwargs)

    engine = engines.engine_named(name)
    monkeypatch.setattr(model, "generate", spy)
    default = engine.generate(model, tokenizer, prompts, budgets, Decoding(2), 2,
                              progress=False)
    for margin in (None, 0.0):
        assert engine.generate(model, tokenizer, prompts, budgets, Decoding(2, margin), 2,
                               sources=TEXTS, progress=False) == default
    # the continuous engine runs its own beams (stages.lib.inference.beam_search), never generate()
    assert (not configs) if name == "continuous" else configs
    assert all(c.num_return_sequences in (None, 1) and not c.output_scores
               and not c.return_dict_in_generate for c in configs)
    monkeypatch.undo()
    assert default == [_alone(model, tokenizer, p, b, 2) for p, b in zip(prompts, budgets)]
    assert len({o for o in default if o}) >= 3  # varied outputs: a real comparison


@pytest.mark.parametrize("beams", [2, 4])
def test_copy_margin_prefers_an_edit_over_a_best_copy(
        lively: tuple[Any, Any, list[str], list[int]], beams: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Declaring each prompt's plain beam output its input makes every best candidate a
    copy: a wide margin then gives an edit, a tiny one keeps the copy. The candidates
    are all `beams` finished ones, best first, the first being the plain output."""
    model, tokenizer, prompts, budgets = lively
    plain = generate(model, tokenizer, prompts, budgets, 3, num_beams=beams, progress=False)
    seen: list[tuple[list[tuple[str, float]], str, str]] = []
    real = decoding.prefer_edit

    def spy(candidates: list[tuple[str, float]], source: str, margin: float) -> str:
        seen.append((candidates, source, real(candidates, source, margin)))
        return seen[-1][2]

    monkeypatch.setattr(generation, "prefer_edit", spy)  # the hf engine's
    monkeypatch.setattr(beam_search, "prefer_edit", spy)  # the continuous engine's
    wide = {name: generate(model, tokenizer, prompts, budgets, 3, num_beams=beams,
                           progress=False, engine=name, copy_margin=100.0, sources=plain)
            for name in ("continuous", "hf")}
    assert wide["continuous"] == wide["hf"]
    assert len(seen) == 2 * len(prompts)
    assert sorted(output for *_, output in seen) == sorted(wide["hf"] * 2)
    for candidates, source, output in seen:
        scores = [score for _, score in candidates]
        assert len(candidates) == beams and scores == sorted(scores, reverse=True)
        assert candidates[0][0] == source  # the best is the plain output, here "the input"
        edits = [text for text, _ in candidates if text.strip() and text.split() != source.split()]
        assert output == (edits[0] if edits else source)
    changed = sum(w != p for w, p in zip(wide["hf"], plain))
    assert changed >= 3  # the copies gave way to edits
    tiny = generate(model, tokenizer, prompts, budgets, 3, num_beams=beams, progress=False,
                    engine="hf", copy_margin=1e-9, sources=plain)
    assert tiny == plain
    # the true inputs: where the plain output already edits, nothing changes
    assert generate(model, tokenizer, prompts, budgets, 3, num_beams=beams, progress=False,
                    copy_margin=100.0, sources=TEXTS) == plain


def test_the_hf_engine_takes_fewer_prompts_when_the_scores_would_not_fit(
        lively: tuple[Any, Any, list[str], list[int]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With a copy margin generate() keeps a vocabulary row per beam and step until it
    returns (a 262k-token Gemma at 32 prompts x 4 beams filled 24 GB): with little
    memory free the engine splits the batch, says so, and decodes the same outputs."""
    model, tokenizer, prompts, budgets = lively
    vocab = model.get_output_embeddings().weight.shape[0]
    per_prompt = 4 * max(budgets) * vocab * 4
    assert generation.scores_batch_size(32, 4, max(budgets), vocab, 64 * per_prompt) == 32
    assert generation.scores_batch_size(32, 4, max(budgets), vocab, 5 * per_prompt) == 2
    assert generation.scores_batch_size(32, 4, max(budgets), vocab, 0) == 1
    full = generate(model, tokenizer, prompts, budgets, 4, num_beams=4, engine="hf",
                    copy_margin=0.5, sources=TEXTS)
    assert "prompts a batch" not in capsys.readouterr().err
    monkeypatch.setattr(generation, "free_memory", lambda device: 3 * per_prompt)
    calls: list[int] = []
    real = type(model).generate

    def counted(self: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["input_ids"].shape[0])
        return real(self, **kwargs)

    monkeypatch.setattr(type(model), "generate", counted)
    split = generate(model, tokenizer, prompts, budgets, 4, num_beams=4, engine="hf",
                     copy_margin=0.5, sources=TEXTS)
    assert "1 prompt a batch, not 4" in capsys.readouterr().err
    assert calls == [1] * len(prompts) and split == full


# --- predict end to end (c) --------------------------------------------------------------

def run_predict(tmp_path: Path, model_dir: Path, name: str, *args: str,
                **params: object) -> tuple[int, str, Path]:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    path = write_params(tmp_path / f"{name}.yaml", max_items=2, dtype="float32",
                        batch_size=4, max_new_tokens_min=2, max_new_tokens_max=6,
                        device="cpu", **params)
    out = tmp_path / "predictions" / name
    result = CliRunner().invoke(predict, [
        "--system", name, "--adapter", str(model_dir), "--base", str(model_dir),
        "--benchmark", str(bench), "--params", str(path), "--out", str(out), *args])
    return result.exit_code, result.output, out


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_predict_with_a_copy_margin_writes_every_output(lively_model_dir: Path,
                                                        tmp_path: Path) -> None:
    code, log, out = run_predict(tmp_path, lively_model_dir, "margin", num_beams=3,
                                 copy_margin=0.5)
    assert code == 0, log
    assert "beams 3, copy margin 0.5" in log
    bench = tmp_path / "benchmark"
    for dataset in ("conll", "bea", "jfl", "trk", "sts"):
        records = read_jsonl(out / f"{dataset}.jsonl")
        assert len(records) == min(2, len(read_jsonl(bench / f"{dataset}.jsonl")))
        assert all(set(r) == {"id", "input", "output"} for r in records)
    assert sum(bool(r["output"]) for p in out.glob("*.jsonl") for r in read_jsonl(p)) >= 3
    # (a) at the stage: copy_margin null writes what a params file without it writes
    code, log, null = run_predict(tmp_path, lively_model_dir, "null", num_beams=2,
                                  copy_margin=None)
    assert code == 0, log
    code, log, absent = run_predict(tmp_path, lively_model_dir, "absent", num_beams=2)
    assert code == 0, log
    assert digest(null) == digest(absent)


# --- validation (d) ----------------------------------------------------------------------

def test_params_check_copy_margin() -> None:
    default = parse_predict({"predict": {}})  # the dev-chosen default: beam 4, margin 0.5
    assert (default.num_beams, default.copy_margin) == (4, 0.5)
    assert parse_predict({"predict": {"copy_margin": 0}}).copy_margin == 0.0  # off
    assert parse_predict({"predict": {"copy_margin": 1, "num_beams": 2}}).copy_margin == 1.0
    with pytest.raises(InputError, match=r"predict\.copy_margin 0\.3 chooses among beam search "
                                         r"candidates, but predict\.num_beams is 1"):
        parse_predict({"predict": {"copy_margin": 0.3, "num_beams": 1}})
    with pytest.raises(InputError, match=r"predict\.copy_margin must be >= 0 .*got -0\.1"):
        parse_predict({"predict": {"copy_margin": -0.1, "num_beams": 4}})
    with pytest.raises(InputError, match=r"predict\.copy_margin must be float"):
        parse_predict({"predict": {"copy_margin": "wide", "num_beams": 4}})


def test_predict_checks_copy_margin_against_its_num_beams_option(tiny_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    code, log, out = run_predict(tmp_path, tiny_model_dir, "p", "--num-beams", "1",
                                 num_beams=2, copy_margin=0.3)
    assert code == 2 and "Traceback" not in log
    assert "params.yaml: predict.copy_margin 0.3" in log and "--num-beams is 1" in log
    assert not out.exists()
    code, log, out = run_predict(tmp_path, tiny_model_dir, "q", copy_margin=0.3)
    assert code == 2 and "predict.num_beams is 1" in log and not out.exists()


def test_generation_refuses_a_copy_margin_it_cannot_apply(
        lively: tuple[Any, Any, list[str], list[int]]) -> None:
    model, tokenizer, prompts, budgets = lively
    for kwargs, message in [({"num_beams": 1, "sources": TEXTS}, "num_beams is 1"),
                            ({"num_beams": 2}, "one source text per prompt"),
                            ({"num_beams": 2, "sources": TEXTS[:1]}, "one source text"),
                            ({"num_beams": 2, "sources": TEXTS, "copy_margin": -1.0}, ">= 0")]:
        kwargs = {"copy_margin": 0.5, **kwargs}
        with pytest.raises(ValueError, match=message):
            generate(model, tokenizer, prompts, budgets, 2, progress=False, **kwargs)


def test_vllm_refuses_a_copy_margin(lively: tuple[Any, Any, list[str], list[int]],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    model, tokenizer, prompts, budgets = lively
    with pytest.raises(ValueError, match="copy_margin needs beam search"):
        engines.VLLM.generate(model, tokenizer, prompts, budgets, Decoding(2, 0.5), 2,
                              sources=TEXTS)
    # through the chooser, copy_margin's beams already rule vLLM out
    from stages.lib.inference import vllm_engine

    monkeypatch.setattr(vllm_engine, "installed", lambda: True)
    with pytest.raises(ValueError, match="greedily only"):
        engines.resolve_engine("vllm", "cuda", num_beams=2, dtype=torch.bfloat16)
    assert engines.resolve_engine("auto", "cuda", num_beams=2, dtype=torch.bfloat16) \
        is engines.CONTINUOUS


# --- a system's own decoding (params systems.<name>.predict) -----------------------------

def test_a_system_decodes_with_its_own_beams_and_margin() -> None:
    params = {"predict": {"batch_size": 8, "num_beams": 1, "copy_margin": None},
              "systems": {"w": {"adapter": "a", "predict": {"num_beams": 4,
                                                            "copy_margin": 0.5}},
                          "g": {"adapter": "b"}}}
    own = parse_predict(params, "w")
    assert (own.num_beams, own.copy_margin, own.batch_size) == (4, 0.5, 8)
    for system in ("g", None):  # no settings of its own: the shared section
        shared = parse_predict(params, system)
        assert (shared.num_beams, shared.copy_margin, shared.batch_size) == (1, None, 8)
    # the items are shared by every system: no per-system max_items
    params["systems"]["w"]["predict"]["max_items"] = 10
    with pytest.raises(InputError, match=r"systems\.w\.predict\.max_items: not a per-system"):
        parse_predict(params, "w")
    params["systems"]["w"]["predict"] = {"copy_margin": 0.5}  # beams 1: checked as usual
    with pytest.raises(InputError, match=r"predict\.num_beams is 1"):
        parse_predict(params, "w")


def test_predict_applies_the_systems_own_decoding(lively_model_dir: Path,
                                                  tmp_path: Path) -> None:
    """systems.<name>.predict gives exactly what the same settings in `predict` give."""
    code, log, shared = run_predict(tmp_path, lively_model_dir, "shared", num_beams=3,
                                    copy_margin=0.5)
    assert code == 0, log
    path = tmp_path / "own.yaml"
    code, log, _ = run_predict(tmp_path, lively_model_dir, "own")  # writes own.yaml
    assert code == 0 and "beams 1" in log
    import yaml

    raw = yaml.safe_load(path.read_text())
    raw["systems"] = {"own": {"adapter": str(lively_model_dir),
                              "predict": {"num_beams": 3, "copy_margin": 0.5}}}
    path.write_text(yaml.safe_dump(raw))
    bench = tmp_path / "benchmark"
    out = tmp_path / "predictions" / "own-system"
    result = CliRunner().invoke(predict, [
        "--system", "own", "--adapter", str(lively_model_dir), "--base", str(lively_model_dir),
        "--benchmark", str(bench), "--params", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "beams 3, copy margin 0.5" in result.output
    assert digest(out) == digest(shared)
