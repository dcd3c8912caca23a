"""The instruction scheme: one prompt formatter shared by training and evaluation.

Writing-Alpaca (Zhang et al. 2023, sec. 3.3) follows Stanford Alpaca's template: a
universal preface, `### Instruction:`, `### Input:` and `### Response:`. The task
prompts are the paper's Table 1, one per task.
"""
from __future__ import annotations

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


def format_prompt(instruction: str, input_text: str = "") -> str:
    """The model's input up to and including the response header (no response text)."""
    if input_text:
        return (
            f"{PREFACE_WITH_INPUT}\n\n### Instruction:\n{instruction}\n\n"
            f"### Input:\n{input_text}\n\n{RESPONSE_HEADER}"
        )
    return f"{PREFACE_NO_INPUT}\n\n### Instruction:\n{instruction}\n\n{RESPONSE_HEADER}"


def format_example(instruction: str, input_text: str, output: str) -> dict[str, str]:
    """A training record as prompt/completion, so the loss covers the response only."""
    return {"prompt": format_prompt(instruction, input_text), "completion": output}
