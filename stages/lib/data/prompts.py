"""The instruction scheme: one prompt formatter shared by training and evaluation.

Two templates (params `prompt_template`):
- `alpaca`, the paper's: Writing-Alpaca (Zhang et al. 2023, sec. 3.3) follows Stanford
  Alpaca's template: a universal preface, `### Instruction:`, `### Input:` and
  `### Response:`.
- `chat`, the base model's own: the tokenizer's chat template with one user turn (the
  instruction, a blank line, the input) and the generation prompt, as TRL renders a
  conversational prompt. An instruct base model knows this format; 30 steps need not
  teach it a new one.
The task prompts are the paper's Table 1, one per task.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_json

PROMPT_TEMPLATES = ("alpaca", "chat")

TASK_PROMPTS: dict[str, str] = {
    "grammar": "Fix grammatical errors in the text.",
    "fluency": "Make the text more fluent.",
    "clarity": "Make the text more concise and readable.",
    "coherence": "Make the text more cohesive.",
    "simplify": "Simplify the text.",
    "neutralize": "Neutralize the text.",
    "paraphrase": "Paraphrase the text.",
}

PREFACE_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request."
)
PREFACE_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)
RESPONSE_HEADER = "### Response:\n"


def task_instruction(task: str) -> str:
    """The paper's Table 1 prompt for a writing task; KeyError lists the known tasks."""
    try:
        return TASK_PROMPTS[task]
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(TASK_PROMPTS)}") from None


def format_prompt(instruction: str, input_text: str = "", template: str = "alpaca",
                  tokenizer: Any = None) -> str:
    """The model's input up to and including the response header (no response text)."""
    if template == "chat":
        return chat_prompt(instruction, input_text, tokenizer)
    if template != "alpaca":
        raise ValueError(f"unknown prompt template {template!r}; "
                         f"known: {', '.join(PROMPT_TEMPLATES)}")
    if input_text:
        return (
            f"{PREFACE_WITH_INPUT}\n\n### Instruction:\n{instruction}\n\n"
            f"### Input:\n{input_text}\n\n{RESPONSE_HEADER}"
        )
    return f"{PREFACE_NO_INPUT}\n\n### Instruction:\n{instruction}\n\n{RESPONSE_HEADER}"


def chat_prompt(instruction: str, input_text: str, tokenizer: Any) -> str:
    """One user turn through the tokenizer's chat template, ending with the assistant's
    generation prompt. The completion is trained as plain text followed by the
    tokenizer's EOS (TRL appends it), which for chat models ends the assistant turn."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt_template chat needs a tokenizer with a chat template")
    content = f"{instruction}\n\n{input_text}" if input_text else instruction
    return tokenizer.apply_chat_template([{"role": "user", "content": content}],
                                         tokenize=False, add_generation_prompt=True)


def format_example(instruction: str, input_text: str, output: str) -> dict[str, str]:
    """A mixture row as prompt/completion (the loss covers the response only), its prompt
    in the paper's Alpaca template: the published form of a mixture. Another
    prompt_template is rendered by train from the row's instruction and input with
    format_prompt, the one prompt function training and inference share."""
    return {"prompt": format_prompt(instruction, input_text), "completion": output}


TEMPLATE_RECORD = "training_args.json"  # where train records an adapter's template


def template_setting(params: dict[str, Any]) -> str:
    """params.yaml's `prompt_template` (absent = the paper's alpaca); an unknown name is an
    error naming the key."""
    template = params.get("prompt_template", "alpaca")
    if template not in PROMPT_TEMPLATES:
        raise InputError(f"params.yaml: prompt_template: unknown template {template!r}; "
                         f"known: {', '.join(PROMPT_TEMPLATES)}")
    return template


def recorded_template(model_dir: Path) -> str | None:
    """The template an adapter (or fine-tuned model) folder was trained with, from the
    record train writes beside it; None for a folder train did not write (a base model).
    Adapters trained before templates were recorded used the paper's alpaca."""
    record = model_dir / TEMPLATE_RECORD
    if not record.is_file():
        return None
    return (read_json(record) or {}).get("prompt_template", "alpaca")
