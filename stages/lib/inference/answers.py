"""What every generation engine shares, and no engine owns: the prompts' token ids and
the ids that end a generation (`prepare`, `eos_ids`), where an answer ends and template
echo begins (`cut_point`), and how a row's tokens become the cleaned answer
(`decode_output`). A leaf: it imports no engine and no torch, so the torch loops
(stages.lib.inference.generation, stages.lib.inference.beam_search), vLLM (stages.lib.inference.vllm_engine) and the
benches clean alike.
"""
from __future__ import annotations

import re
from typing import Any

from stages.lib.data.prompts import PREFACE_NO_INPUT, PREFACE_WITH_INPUT

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


# The end-of-turn tokens of the model families a base may come from (Gemma, ChatML as in
# SmolLM2 and Qwen, Llama 3, Phi-3). A GGUF's generation config names only `<eos>`, but an
# answer that ends its turn has ended too.
END_OF_TURN = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The token ids that end a generation: the model's generation config's, the
    tokenizer's EOS, and an end-of-turn token its vocabulary has (END_OF_TURN). Every
    engine stops on these, bench/gpu_parts.py too."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
    vocabulary = tokenizer.get_vocab()
    for token_id in (tokenizer.eos_token_id, *(vocabulary.get(t) for t in END_OF_TURN)):
        if token_id is not None and token_id not in ids:
            ids.append(token_id)
    return ids


def decode_output(tokenizer: Any, tokens: list[int], limit: int, eos_ids: set[int]) -> str:
    """The cleaned answer in a row's new tokens (cut at its budget and at EOS): every
    engine's output goes through here, so all engines clean alike."""
    tokens = tokens[:limit]
    for index, token in enumerate(tokens):
        if token in eos_ids:
            tokens = tokens[:index]
            break
    return clean_output(tokenizer.decode(tokens, skip_special_tokens=True))


def prepare(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: list[int],
            batch_size: int) -> tuple[list[list[int]], list[int]]:
    """Check a request and return what every engine decodes from: the prompts' token ids
    and the ids that end a generation (so all engines see the same tokens)."""
    if len(prompts) != len(max_new_tokens):
        raise ValueError("prompts and max_new_tokens must have the same length")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if any(limit < 1 for limit in max_new_tokens):
        raise ValueError("every max_new_tokens must be >= 1")
    return tokenizer(prompts)["input_ids"], eos_ids(model, tokenizer)
