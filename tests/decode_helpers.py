"""One call for tests to decode with a named engine and loose settings: builds the
Decoding (as predict and edit do from their settings) and asks the engine registry."""
from __future__ import annotations

from typing import Any

from stages.lib.inference import engines
from stages.lib.inference.decoding import Decoding


def generate(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: list[int],
             batch_size: int, num_beams: int = 1, progress: bool = False,
             engine: str = "continuous", copy_margin: float | None = None,
             sources: list[str] | None = None) -> list[str]:
    """Cleaned outputs of `prompts` by the concrete engine `engine`."""
    return engines.engine_named(engine).generate(
        model, tokenizer, prompts, max_new_tokens, Decoding(num_beams, copy_margin),
        batch_size, sources=sources, progress=progress)


def max_new_tokens_for(text: str, tokenizer: Any, factor: float, minimum: int,
                       maximum: int) -> int:
    """The answer budget of `text` under these bounds (stages.lib.inference.decoding.AnswerBudget)."""
    from stages.lib.inference.decoding import AnswerBudget

    return AnswerBudget(factor, minimum, maximum).tokens_for(text, tokenizer)


def grammar_case(model_dir: Any, texts: list[str], budgets: list[int]
                 ) -> tuple[Any, Any, list[str], list[int]]:
    """(model, tokenizer, prompts, budgets): `texts` asked for grammar fixes of a model
    folder loaded in fp32, the case the engine comparisons decode."""
    import torch

    from stages.lib.data.prompts import format_prompt
    from stages.lib.model.models import load_system

    model, tokenizer = load_system(model_dir, None, torch.float32)
    prompts = [format_prompt("Fix grammatical errors in the text.", t) for t in texts]
    return model, tokenizer, prompts, budgets
