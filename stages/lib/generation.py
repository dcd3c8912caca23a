"""Batched greedy (or beam) generation for evaluation and the `edit` command.

Speed on a CPU comes from batching: prompts are sorted by token length so a batch
holds similar lengths (little padding), padded on the left so every row's next token
sits in the last column, and decoded with the KV cache. Each row stops at EOS, at its
own token budget, or as soon as it starts echoing the prompt template (a new
"### ..." header, the Alpaca preface, or a run of blank lines) - small models often
keep going after the answer. Results come back in the caller's order.

Batched and one-at-a-time generation give the same tokens up to float rounding: the
per-row budget is enforced by truncation after generation, so a short item batched
with a long one is cut exactly where it would have stopped alone.
"""
from __future__ import annotations

import math
import re
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from stages.lib.prompts import PREFACE_NO_INPUT, PREFACE_WITH_INPUT

# Where an answer ends and template echo begins: a line starting a new "###" header,
# the Alpaca preface, or two blank lines in a row.
_CUT = re.compile(
    r"\n[ \t]*#{2,}|\n[ \t]*\n[ \t]*\n|"
    + "|".join(re.escape(p[:40]) for p in {PREFACE_WITH_INPUT, PREFACE_NO_INPUT})
)
# An echoed response header at the very start ("### Response:" repeated by the model).
_LEADING_HEADER = re.compile(r"^\s*#{2,}\s*(Response|Output|Answer)\s*:?[ \t]*\n?", re.IGNORECASE)


def _strip_leading_headers(text: str) -> str:
    while True:
        match = _LEADING_HEADER.match(text)
        if not match or not match.group(0):
            return text
        text = text[match.end():]


def cut_point(text: str) -> int | None:
    """Index in `text` where template echo starts (after any leading header), or None."""
    body = _strip_leading_headers(text)
    match = _CUT.search(body)
    if match is None:
        return None
    return len(text) - len(body) + match.start()


def clean_output(text: str) -> str:
    """The answer part of a generated continuation: no echoed headers, no trailing template."""
    text = text.replace("\r\n", "\n")
    text = _strip_leading_headers(text)
    cut = cut_point(text)
    if cut is not None:
        text = text[:cut]
    return text.strip()


def max_new_tokens_for(input_text: str, tokenizer: Any, factor: float, minimum: int,
                       maximum: int) -> int:
    """Token budget for an answer: `factor` x the input's token count, clamped.

    Editing tasks rewrite their input, so the answer is about as long as the input;
    the factor leaves room for insertions and the clamp bounds run time.
    """
    n_tokens = len(tokenizer(input_text, add_special_tokens=False)["input_ids"])
    return max(minimum, min(maximum, math.ceil(n_tokens * factor)))


class _StopRows(StoppingCriteria):
    """Per-row stop: the row's own token budget is used up or template echo began."""

    def __init__(self, tokenizer: Any, prompt_len: int, limits: list[int], num_beams: int):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.limits = limits
        self.num_beams = num_beams

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        generated = input_ids[:, self.prompt_len:]
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        done = [
            generated.shape[1] >= self.limits[row // self.num_beams] or cut_point(text) is not None
            for row, text in enumerate(texts)
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _decode_row(tokenizer: Any, tokens: list[int], limit: int, eos_ids: set[int]) -> str:
    tokens = tokens[:limit]
    for index, token in enumerate(tokens):
        if token in eos_ids:
            tokens = tokens[:index]
            break
    return clean_output(tokenizer.decode(tokens, skip_special_tokens=True))


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: list[int],
             batch_size: int, num_beams: int = 1, progress: bool = True) -> list[str]:
    """Cleaned continuations of `prompts` (same order), greedy unless num_beams > 1."""
    from tqdm.auto import tqdm

    if len(prompts) != len(max_new_tokens):
        raise ValueError("prompts and max_new_tokens must have the same length")
    if batch_size < 1 or num_beams < 1:
        raise ValueError("batch_size and num_beams must be >= 1")
    encoded = tokenizer(prompts)["input_ids"]
    # Longest first: the biggest batch runs first (memory problems show at once) and
    # neighbours have similar lengths, so padding and wasted compute stay small.
    order = sorted(range(len(prompts)), key=lambda i: (-len(encoded[i]), i))
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    device = next(model.parameters()).device
    outputs: list[str] = [""] * len(prompts)
    bar = tqdm(total=len(prompts), unit="item", desc="generate", disable=not progress)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, padding=True,
                              padding_side="left", return_tensors="pt").to(device)
        limits = [max_new_tokens[i] for i in rows]
        config = GenerationConfig(
            max_new_tokens=max(limits), do_sample=False, num_beams=num_beams,
            eos_token_id=eos_ids, pad_token_id=pad_id, use_cache=True,
        )
        stop = _StopRows(tokenizer, batch["input_ids"].shape[1], limits, num_beams)
        generated = model.generate(**batch, generation_config=config,
                                   stopping_criteria=StoppingCriteriaList([stop]))
        new_tokens = generated[:, batch["input_ids"].shape[1]:].tolist()
        for row, index in enumerate(rows):
            outputs[index] = _decode_row(tokenizer, new_tokens[row], limits[row], set(eos_ids))
        bar.update(len(rows))
    bar.close()
    return outputs
