"""A pre-trained base shaped like Gemma 3 270M (tests/conftest.py build_tiny_gemma): its
tokenizer adds `<bos>` itself and has no chat template, its generation config names only
`<eos>`, and its layers mix sliding-window and global attention. Training, every engine
and `edit` must handle it as they handle the default SmolLM2 base."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner
from decode_helpers import generate, grammar_case
from test_prompt_template import write_mixture

from stages.lib.inference.answers import eos_ids, prepare
from stages.lib.model.models import load_system

TEXTS = ["She go to school yesterday .", "Hi", "The cat sat on the mat. The dog barked.",
         "A", "She went", "The dog barked at the cat .", "Tea", "Go home now please .",
         "It are raining since morning and we has no umbrella ."]


@pytest.fixture(scope="module")
def gemma(tiny_gemma_dir: Path) -> tuple[Any, Any, list[str], list[int]]:
    return grammar_case(tiny_gemma_dir, TEXTS, [4 + (5 * i) % 13 for i in range(len(TEXTS))])


def test_generation_stops_at_eos_and_end_of_turn(gemma: tuple, tiny_model_dir: Path) -> None:
    model, tokenizer, _, _ = gemma
    assert model.generation_config.eos_token_id == 1  # what a Gemma GGUF's config says
    assert eos_ids(model, tokenizer) == [1, tokenizer.convert_tokens_to_ids("<end_of_turn>")]
    llama, llama_tokenizer = load_system(tiny_model_dir, None, torch.float32)
    assert eos_ids(llama, llama_tokenizer) == [llama_tokenizer.eos_token_id]  # unchanged


def test_prompts_carry_one_bos(gemma: tuple) -> None:
    model, tokenizer, prompts, budgets = gemma
    encoded, _ = prepare(model, tokenizer, prompts, budgets, 4)
    assert all(ids[0] == 2 and ids.count(2) == 1 for ids in encoded)


FALLBACK = "the continuous engine cannot batch this model's KV cache"


def longest_row(model: Any, tokenizer: Any, prompts: list[str], budgets: list[int]) -> int:
    """The longest prompt plus the largest budget: the cache columns a batch can reach."""
    encoded, _ = prepare(model, tokenizer, prompts, budgets, 4)
    return max(map(len, encoded)) + max(budgets)


@pytest.fixture(scope="module")
def gemma_window_fits(tiny_gemma_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                      gemma: tuple) -> tuple[Any, Any, list[str], list[int]]:
    """The tiny Gemma with its sliding window exactly as long as the longest row (as
    Gemma 3 270M's 512-token window holds every default benchmark row: 309 tokens at
    most): the window is there, but no row outgrows it."""
    model, tokenizer, prompts, budgets = gemma
    folder = shutil.copytree(tiny_gemma_dir, tmp_path_factory.mktemp("gemma") / "fits")
    config = json.loads((folder / "config.json").read_text())
    config["sliding_window"] = longest_row(model, tokenizer, prompts, budgets)
    (folder / "config.json").write_text(json.dumps(config))
    return grammar_case(folder, TEXTS, budgets)


@pytest.mark.parametrize(("beams", "margin"), [(1, None), (2, None), (4, 0.5)])
def test_the_continuous_engine_batches_gemma_whose_rows_fit_its_window(
        gemma_window_fits: tuple, beams: int, margin: float | None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Sliding-window layers as long as the longest row: the engine decodes in its own
    shared-prefix KV batch (no fallback) and gives what transformers' generate() gives
    with the model's own sliding-window cache."""
    model, tokenizer, prompts, budgets = gemma_window_fits
    assert model.config.sliding_window == longest_row(model, tokenizer, prompts, budgets)
    sources = TEXTS if margin else None
    reference = generate(model, tokenizer, prompts, budgets, 4, num_beams=beams,
                         engine="hf", copy_margin=margin, sources=sources)
    ours = generate(model, tokenizer, prompts, budgets, 3, num_beams=beams,
                    engine="continuous", copy_margin=margin, sources=sources)
    assert FALLBACK not in capsys.readouterr().err
    assert ours == reference
    assert len({o for o in reference if o}) >= 3  # varied outputs: a real comparison


@pytest.mark.parametrize(("beams", "margin"), [(1, None), (4, 0.5)])
def test_rows_longer_than_the_window_fall_back_to_generate_and_say_so(
        gemma: tuple, beams: int, margin: float | None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Window 8, shorter than every prompt: a plain cache would attend past the window,
    so the continuous engine hands the prompts to generate() and says why."""
    model, tokenizer, prompts, budgets = gemma
    sources = TEXTS if margin else None
    reference = generate(model, tokenizer, prompts, budgets, 4, num_beams=beams,
                         engine="hf", copy_margin=margin, sources=sources)
    assert FALLBACK not in capsys.readouterr().err
    ours = generate(model, tokenizer, prompts, budgets, 3, num_beams=beams,
                    engine="continuous", copy_margin=margin, sources=sources)
    said = capsys.readouterr().err
    assert FALLBACK in said and "outgrow the 8-token sliding window" in said
    assert ours == reference


def test_a_plain_cache_is_refused_one_token_past_the_window(gemma_window_fits: tuple) -> None:
    from stages.lib.inference.kv_batch import UnsupportedCache, check_plain_cache

    model = gemma_window_fits[0]
    window = model.config.sliding_window
    check_plain_cache(model, window)
    with pytest.raises(UnsupportedCache, match=f"rows of up to {window + 1} tokens"):
        check_plain_cache(model, window + 1)


def test_train_on_gemma_then_plain_peft_loads_it_and_edit_runs(tiny_gemma_dir: Path,
                                                               tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stages.edit import edit
    from stages.lib.training.train_config import parse_train
    from stages.train import build_trainer, train

    data = write_mixture(tmp_path / "mix")
    (data / "README.md").write_text("---\nlicense: apache-2.0\n---\n# mini\n")
    # base_model's folder: the weights and base.json (what the adapter card names)
    base = shutil.copytree(tiny_gemma_dir, tmp_path / "models" / "gemma-3-270m")
    (base / "base.json").write_text(json.dumps({
        "name": "gemma-3-270m", "hub_id": "google/gemma-3-270m", "license": "gemma",
        "license_link": "https://ai.google.dev/gemma/terms"}))
    settings = {"max_steps": 2, "per_device_batch_size": 2, "global_batch_size": 2,
                "learning_rate": 1e-3, "dtype": "float32", "device": "cpu", "max_length": 128,
                "lora": {"r": 4, "alpha": 8, "dropout": 0.0,
                         "target_modules": ["q_proj", "v_proj"]}}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": settings}))
    trainer = build_trainer(parse_train({"train": settings}), data, tiny_gemma_dir,
                            tmp_path / "probe", "cpu", 1)
    for row in trainer.train_dataset:  # one BOS at the start of every training row
        assert row["input_ids"].count(2) <= len(row.get("seq_lengths", [1]))
        assert row["input_ids"][0] == 2
    result = CliRunner().invoke(train, [
        "--mixture", "mini", "--data", str(data), "--base", str(base),
        "--params", str(params), "--out", str(tmp_path / "adapter"),
        "--checkpoints", str(tmp_path / "ckpt"), "--live", str(tmp_path / "live")])
    assert result.exit_code == 0, result.output
    adapter = tmp_path / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["target_modules"]
    # no PEFT boilerplate card: ship@<run> writes the real one (tests/test_ship.py)
    assert not (adapter / "README.md").exists()
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_gemma_dir),
                                      adapter)  # no project code
    assert type(plain.base_model.model).__name__ == "Gemma3ForCausalLM"
    result = CliRunner().invoke(edit, ["--adapter", str(adapter), "--base",
                                       str(tiny_gemma_dir), "--task", "grammar",
                                       "She go to school yesterday ."])
    assert result.exit_code == 0, result.output


def test_plan_counts_gemma_as_it_loads(tiny_gemma_dir: Path) -> None:
    """plan's memory estimate: tied embeddings once, the vocabulary's logits, and the
    default LoRA targets matching Gemma 3's attention projections."""
    from stages.lib.plan.memory_estimate import lora_trainable, read_model_shape

    shape = read_model_shape(tiny_gemma_dir / "config.json")
    model, _ = load_system(tiny_gemma_dir, None, torch.float32)
    assert shape.params == sum(p.numel() for p in model.parameters())  # tied: counted once
    assert shape.vocab == model.config.vocab_size and shape.model_type == "gemma3_text"
    trainable, unmatched = lora_trainable(shape, 8, ["q_proj", "v_proj"])
    assert not unmatched and trainable == sum(
        8 * (rows + cols) for name, rows, cols in shape.matrices
        if name.endswith((".q_proj", ".v_proj")))
