"""Beam search in the continuous engine (stages.lib.inference.beam_search) against the reference,
transformers' generate() on static batches (the hf engine): the same outputs, with and
without the copy margin, for prompts of mixed lengths and budgets that enter and leave
a running batch smaller than the workload."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from decode_helpers import generate, grammar_case, max_new_tokens_for

from stages.lib.inference import beam_search, engines
from stages.lib.inference.decoding import Decoding

TEXTS = ["She go to school yesterday .", "Hi", "The cat sat on the mat. The dog barked.",
         "A", "She went", "The dog barked at the cat .", "Tea", "Go home now please .",
         "It are raining since morning and we has no umbrella .", "Ok", "Yes it is ."]


@pytest.fixture(scope="module")
def lively(lively_model_dir: Path) -> tuple[Any, Any, list[str], list[int]]:
    # budgets from 3 to 19 tokens, not in the order of the prompt lengths
    return grammar_case(lively_model_dir, TEXTS, [3 + (7 * i) % 17 for i in range(len(TEXTS))])


@pytest.mark.parametrize("beams", [2, 4])
@pytest.mark.parametrize("margin", [None, 0.5, 100.0])
def test_the_continuous_beams_give_the_reference_outputs(
        lively: tuple[Any, Any, list[str], list[int]], beams: int, margin: float | None) -> None:
    model, tokenizer, prompts, budgets = lively
    sources = TEXTS if margin else None
    reference = generate(model, tokenizer, prompts, budgets, 4, num_beams=beams,
                         engine="hf", copy_margin=margin, sources=sources)
    for batch_size in (3, 16):  # prompts joining a running batch, and all at once
        ours = generate(model, tokenizer, prompts, budgets, batch_size, num_beams=beams,
                        engine="continuous", copy_margin=margin, sources=sources)
        assert ours == reference, batch_size
    assert len({o for o in reference if o}) >= 5  # varied outputs: a real comparison


def test_the_beams_differ_from_greedy_and_the_margin_matters(
        lively: tuple[Any, Any, list[str], list[int]]) -> None:
    """The comparison above can fail: beam 4 is not greedy here, and a wide margin
    changes outputs whose best candidate copies its (declared) input."""
    model, tokenizer, prompts, budgets = lively
    greedy = generate(model, tokenizer, prompts, budgets, 3)
    beams = generate(model, tokenizer, prompts, budgets, 3, num_beams=4)
    assert greedy != beams
    wide = generate(model, tokenizer, prompts, budgets, 3, num_beams=4, copy_margin=100.0,
                    sources=beams)  # every best candidate is then a copy
    assert sum(w != b for w, b in zip(wide, beams)) >= 3


def test_the_continuous_beams_run_in_the_kv_batch(
        lively: tuple[Any, Any, list[str], list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The continuous engine does not fall back to generate() for beam search, and a
    batch of B prompts holds B x beams rows at most."""
    model, tokenizer, prompts, budgets = lively

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("generate() called")

    widths: list[int] = []
    real_step = beam_search.decode_step

    def step(model: Any, batch: Any) -> torch.Tensor:
        widths.append(len(batch))
        return real_step(model, batch)

    monkeypatch.setattr(model, "generate", refuse)
    monkeypatch.setattr(beam_search, "decode_step", step)
    generate(model, tokenizer, prompts, budgets, 3, num_beams=4, copy_margin=0.5,
             sources=TEXTS)
    assert widths and max(widths) <= 3 * 4 and all(w % 4 == 0 for w in widths)


def test_a_model_whose_generation_config_changes_the_search_uses_generate(
        lively: tuple[Any, Any, list[str], list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    model, tokenizer, prompts, budgets = lively
    calls: list[int] = []
    real = model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    monkeypatch.setattr(model.generation_config, "repetition_penalty", 1.3)
    engines.CONTINUOUS.generate(model, tokenizer, prompts[:2], budgets[:2], Decoding(2), 2,
                                progress=False)
    assert calls


def test_one_prompt_alone_equals_the_batch(lively: tuple[Any, Any, list[str], list[int]]) -> None:
    model, tokenizer, prompts, budgets = lively
    together = generate(model, tokenizer, prompts, budgets, 5, num_beams=3)
    alone = [generate(model, tokenizer, [p], [b], 1, num_beams=3)[0]
             for p, b in zip(prompts, budgets)]
    assert together == alone


def test_budgets_bound_the_beams(lively: tuple[Any, Any, list[str], list[int]]) -> None:
    model, tokenizer, prompts, _ = lively
    budgets = [max_new_tokens_for(t, tokenizer, 1.0, 1, 2) for t in TEXTS]
    ours = generate(model, tokenizer, prompts, budgets, 4, num_beams=2)
    assert ours == generate(model, tokenizer, prompts, budgets, 4, num_beams=2, engine="hf")
    longer = generate(model, tokenizer, prompts, [19] * len(prompts), 4, num_beams=2)
    assert ours != longer  # the budget did cut the search short
