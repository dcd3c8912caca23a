"""The instruction scheme: one prompt formatter shared by training and evaluation.

Two templates (params `prompt_template`):
- `alpaca`, the paper's: Writing-Alpaca (Zhang et al. 2023, sec. 3.3) follows Stanford
  Alpaca's template: a universal preface, `### Instruction:`, `### Input:` and
  `### Response:`.
- `chat`, the base model's own: the tokenizer's chat template with one user turn (the
  instruction, a blank line, the input) and the generation prompt, as TRL renders a
  conversational prompt. An instruct base model knows this format; 30 steps need not
  teach it a new one.
The task prompts are params.yaml `tasks`, shipped with the paper's Table 1, one per task
(TASK_PROMPTS, also the default where no params are read).
"""
from __future__ import annotations

import random
import re
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


# task name -> its instruction, or the paraphrases a row draws one of
Tasks = dict[str, tuple[str, ...]]
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def read_tasks(params: dict[str, Any]) -> Tasks:
    """params.yaml `tasks` (name -> instruction, or a list of paraphrases), checked; the
    paper's seven (TASK_PROMPTS) when the section is absent (e.g. `edit` outside a
    checkout)."""
    raw = params.get("tasks")
    if raw is None:
        return {name: (text,) for name, text in TASK_PROMPTS.items()}
    if not isinstance(raw, dict) or not raw:
        raise InputError("params.yaml: tasks must map each task name to its instruction "
                         "(or a list of paraphrases)")
    tasks: Tasks = {}
    for name, value in raw.items():
        where = f"params.yaml: tasks.{name}"
        if not isinstance(name, str) or not TASK_NAME.fullmatch(name) or name == "generic":
            raise InputError(f"{where}: a task name is letters, digits, '-' and '_' (and not "
                             f"'generic', the rows that keep their own instruction)")
        options = [value] if isinstance(value, str) else value
        if not isinstance(options, list) or not options \
                or not all(isinstance(o, str) and o.strip() for o in options):
            raise InputError(f"{where}: an instruction is non-empty text, or a non-empty list "
                             f"of them, got {value!r}")
        tasks[name] = tuple(options)
    return tasks


def task_instruction(task: str, tasks: Tasks | None = None, draw: str | None = None) -> str:
    """The instruction of `task` (of `tasks`, default the paper's Table 1). A task with
    paraphrases gives the one `draw` (a stable key, e.g. the row's) picks, or its first
    without one (benchmark items: every system reads the same prompt). KeyError lists
    the known tasks."""
    tasks = tasks if tasks is not None else read_tasks({})
    try:
        options = tasks[task]
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(tasks)}") from None
    if draw is None or len(options) == 1:
        return options[0]
    # a string seed is hashed with SHA-512 by random.Random: stable across runs/machines
    return options[random.Random(draw).randrange(len(options))]


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


def has_chat_template(model_dir: Path) -> bool:
    """Whether the tokenizer saved in `model_dir` carries a chat template (transformers 5
    writes chat_template.jinja; earlier releases put it in tokenizer_config.json)."""
    if any((model_dir / name).is_file() for name in ("chat_template.jinja",
                                                     "chat_template.json")):
        return True
    config = model_dir / "tokenizer_config.json"
    return config.is_file() and bool((read_json(config) or {}).get("chat_template"))


def check_chat_template(template: str, model_dir: Path, key: str) -> None:
    """Refuse the chat template for a model that has none (a pre-trained base such as
    Gemma 3 270M), in one line naming the setting `key`, before anything is loaded."""
    if template == "chat" and not has_chat_template(model_dir):
        raise InputError(f"{key} chat: {model_dir} has no chat template (a pre-trained "
                         f"model, not an instruction-tuned one); use alpaca")


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
