"""`writing-alpaca edit`: apply a writing task with a trained adapter to text.

Loads the base model and the adapter once, builds the prompts the adapter was trained
with (its recorded prompt_template; stages.lib.data.prompts), and decodes with the shared batched generator
(stages.lib.inference.generation), so `edit` behaves like the evaluated system. Input is the TEXT
argument or stdin (one item per line, batched, one output line per input line).

The base model: --base when given; else the adapter's adapter_config.json
`base_model_name_or_path` when it resolves (a local folder, or a Hub id that is cached
or downloadable); else the folder under models/ that base_model built from that Hub id
(its base.json names it).
"""
from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError
from stages.lib.data.prompts import (
    PROMPT_TEMPLATES,
    TASK_PROMPTS,
    check_chat_template,
    recorded_template,
)
from stages.lib.inference import engines

PARAMS_FILE = Path("params.yaml")  # the pipeline's, when edit runs in a checkout


def word_diff(source: str, edited: str) -> str:
    """`edited` with word-level changes marked: [-deleted-] and {+inserted+}."""
    old, new = source.split(), edited.split()
    parts: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new,
                                                       autojunk=False).get_opcodes():
        if tag == "equal":
            parts.append(" ".join(old[i1:i2]))
            continue
        deleted = "[-" + " ".join(old[i1:i2]) + "-]" if i2 > i1 else ""
        inserted = "{+" + " ".join(new[j1:j2]) + "+}" if j2 > j1 else ""
        parts.append(deleted + inserted)  # a replacement reads [-old-]{+new+}
    return " ".join(parts)


def resolve_base(adapter_dir: Path, base: str | None) -> Path:
    """The base model folder for `adapter_dir`; see the module doc for the order."""
    from stages.lib.model.bases import built_base_of
    from stages.lib.publishing.hub import (
        HubError,
        looks_local,
        recorded_base,
        resolve_repo_or_path,
    )

    if base:
        return resolve_repo_or_path(base)
    name = recorded_base(adapter_dir)
    if name and Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    built = built_base_of(name) if name and not looks_local(name) else None
    if name and not looks_local(name):
        try:
            return resolve_repo_or_path(name)
        except (HubError, InputError) as exc:
            if built is None:
                raise InputError(f"base model {name!r} (from adapter_config.json): "
                                 f"{exc.message}; pass --base PATH_OR_REPO") from None
            click.echo(f"note: base model {name!r} unavailable, using {built} (built from "
                       f"it)", err=True)
            return built
    raise InputError(f"base model {name or '(unset)'} from adapter_config.json not found "
                     f"here; pass --base PATH_OR_REPO")


def evaluated_decoding_of(adapter_dir: Path) -> tuple[int, float | None]:
    """(num_beams, copy_margin) the adapter was evaluated with (stages.lib.inference.decoding_record),
    announced on stderr; greedy when nothing records it."""
    from stages.lib.inference.decoding_record import evaluated_decoding

    found = evaluated_decoding(adapter_dir, PARAMS_FILE)
    if found is None:
        return 1, None
    decoding, source = found
    click.echo(f"edit: decoding as evaluated ({source}): beams {decoding.num_beams}"
               + (f", copy margin {decoding.copy_margin}" if decoding.margin else ""),
               err=True)
    return decoding.num_beams, decoding.copy_margin


def read_inputs(text: str | None) -> list[str]:
    """The items to edit: TEXT, or stdin lines for `-` / no TEXT. Lines end at a newline
    only (str.splitlines would also split at U+2028 and other separators inside a line,
    shifting every output after it); stdin that is not UTF-8 is one InputError."""
    if text is not None and text != "-":
        return [text]
    try:
        data = sys.stdin.buffer.read().decode("utf-8") if hasattr(sys.stdin, "buffer") \
            else sys.stdin.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"stdin: not UTF-8 (byte {exc.start}: {exc.reason})") from None
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line opens no new one
    return [line.removesuffix("\r") for line in lines]


def check_context(model: Any, tokenizer: Any, prompts: list[str], budgets: list[int],
                  line_numbers: list[int]) -> None:
    """Refuse, naming the line, an item whose prompt and answer budget exceed the model's
    context: generation would stop at once and print an empty or cut line."""
    context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not context:
        return  # an engine whose model says no context size checks its own
    for prompt, budget, number in zip(prompts, budgets, line_numbers, strict=True):
        used = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + budget
        if used > context:
            raise InputError(f"input line {number}: {used} tokens with its prompt and answer "
                             f"budget, more than the model's context of {context}; split it")


def edit_instruction(task: str, params_path: Path) -> str:
    """The instruction of TASK from the tasks of `params_path` (when it exists; else the
    paper's seven); an unknown task is a usage error listing the known ones."""
    from stages.lib.core.params import load_params
    from stages.lib.data.prompts import read_tasks, task_instruction

    tasks = read_tasks(load_params(params_path) if params_path.is_file() else {})
    if task not in tasks:
        raise click.BadParameter(f"unknown task {task!r} (known: {', '.join(tasks)})",
                                 param_hint="--task")
    return task_instruction(task, tasks)


def edit_lines(engine: engines.Engine, model: Any, tokenizer: Any, lines: list[str],
               instruction: str, batch_size: int, max_new_tokens: int, num_beams: int = 1,
               copy_margin: float | None = None, template: str = "alpaca") -> list[str]:
    """Edited text per line with `engine` and the model it loaded (empty lines stay
    empty, without running the model), prompted with `template`; `num_beams` and
    `copy_margin` as predict's."""
    from stages.lib.data.prompts import format_prompt
    from stages.lib.inference.decoding import AnswerBudget, Decoding

    todo = [i for i, line in enumerate(lines) if line.strip()]
    prompts = [format_prompt(instruction, lines[i].strip(), template, tokenizer)
               for i in todo]
    # Edits rewrite their input: budget ~2x its tokens, at least 16, at most the cap.
    decoding = Decoding(num_beams, copy_margin,
                        AnswerBudget(factor=2.0, minimum=16, maximum=max(16, max_new_tokens)))
    budgets = [decoding.budget.tokens_for(lines[i], tokenizer) for i in todo]
    check_context(model, tokenizer, prompts, budgets, [i + 1 for i in todo])
    outputs = engine.generate(model, tokenizer, prompts, budgets, decoding, batch_size,
                              sources=[lines[i].strip() for i in todo],
                              progress=len(todo) > batch_size)
    result = [""] * len(lines)
    for i, output in zip(todo, outputs, strict=True):
        result[i] = output.replace("\n", " ").strip()  # one output line per input line
    return result


def merge_to(model: Any, tokenizer: Any, out_dir: Path, template: str,
             force: bool = False) -> None:
    """Save base+adapter merged into plain weights (+ tokenizer), atomically, for serving;
    the prompt template goes with it, so `edit` prompts the merged model alike."""
    from stages.lib.core.io import atomic_path, write_json
    from stages.lib.data.prompts import TEMPLATE_RECORD
    from stages.lib.model.model_dirs import MODEL_FOLDER_FILES

    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    with atomic_path(out_dir, is_dir=True, owns=MODEL_FOLDER_FILES, force=force) as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / TEMPLATE_RECORD, {"prompt_template": template})


@click.command()
@click.argument("text", required=False)
@click.option("--adapter", required=True,
              help="Adapter (or full model): OWNER/NAME on the Hub, or a local folder.")
@click.option("--task", required=True,
              help="A task of --params' `tasks` (the paper's seven when it has none: "
                   f"{', '.join(TASK_PROMPTS)}).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where the tasks are declared (`tasks`); used when the file exists.")
@click.option("--base", default=None, help="Base model folder or Hub id (see --help text).")
@click.option("--revision", default=None, help="Hub revision of --adapter.")
@click.option("--diff", is_flag=True, help="Mark the edits: [-deleted-]{+inserted+}.")
@click.option("--merge", "merge_dir", type=click.Path(path_type=Path), default=None,
              help="Also write base+adapter merged into one model folder here.")
@click.option("--force", is_flag=True,
              help="Let --merge replace a folder holding files that are not a model's.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
              default="auto", show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
@click.option("--engine", type=click.Choice(engines.ENGINE_NAMES),
              default="auto", show_default=True,
              help="auto = vllm on CUDA when installed and 500+ lines, else continuous.")
@click.option("--merge-lora/--no-merge-lora", default=True, show_default=True,
              help="Fold the LoRA adapter into the weights in memory (faster; same outputs).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True,
              help="Upper bound on the tokens generated per item.")
@click.option("--num-beams", type=click.IntRange(min=1), default=None,
              help="Beam search width; 1 = greedy. Default: the decoding the adapter was "
                   "evaluated with (see below), else greedy.")
@click.option("--copy-margin", type=float, default=None,
              help="With --num-beams 2+: prefer a candidate that changes the text over a "
                   "best one that copies it when its mean token log-probability is within "
                   "this margin (as predict.copy_margin; 0 = off). Default: as evaluated "
                   "(see below), else off.")
@click.option("--prompt-template", type=click.Choice(PROMPT_TEMPLATES), default=None,
              help="Default: the one the adapter was trained with (its training_args.json), "
                   "else alpaca.")
def edit(text: str | None, adapter: str, task: str, params_path: Path, base: str | None,
         revision: str | None, diff: bool, merge_dir: Path | None, dtype: str, device: str, engine: str,
         merge_lora: bool, batch_size: int, max_new_tokens: int, num_beams: int | None,
         copy_margin: float | None, prompt_template: str | None, force: bool) -> None:
    """Edit TEXT (or each line of stdin, for `-` or no TEXT) with an adapter.

    Examples:

        echo "She go to school yesterday ." | writing-alpaca edit --adapter OWNER/NAME --task grammar

        writing-alpaca edit --adapter adapters/writing-alpaca --task simplify --diff "TEXT"

    The base model is --base, else the adapter's adapter_config.json
    base_model_name_or_path when it resolves, else the models/<base> built from that
    Hub id. Without --num-beams and
    --copy-margin, the adapter is decoded as it was evaluated: its decoding.json (written
    by `publish`), else the ./params.yaml system whose adapter it is; either flag alone
    sets the decoding (the other takes its plain default). With --merge and no
    TEXT, only the merged model is written. The device, dtype and engine used are
    printed to stderr; on a CUDA machine with vllm installed, --engine auto uses vLLM
    for large batches (stdin of 500 lines or more).
    """
    from stages.lib.inference.decoding import Decoding, DecodingError
    from stages.lib.model.models import is_adapter_dir, load_system
    from stages.lib.publishing.hub import resolve_repo_or_path

    if merge_dir is not None:  # refused before any model loads, not after the edits
        from stages.lib.core.io import check_replaceable
        from stages.lib.model.model_dirs import MODEL_FOLDER_FILES

        check_replaceable(merge_dir, True, MODEL_FOLDER_FILES, force)
    instruction = edit_instruction(task, params_path)  # refused before anything loads
    told = num_beams is not None or copy_margin is not None
    num_beams = num_beams or 1
    # the flags are checked before anything is downloaded; a recorded decoding is
    # checked where it is read
    try:
        Decoding(num_beams, copy_margin)
    except DecodingError as exc:
        message = exc.named({"num_beams": "--num-beams", "copy_margin": ""}).strip()
        raise click.BadParameter(message, param_hint=f"--{exc.key.replace('_', '-')}") from None
    adapter_dir = resolve_repo_or_path(adapter, revision=revision)
    if not told:
        num_beams, copy_margin = evaluated_decoding_of(adapter_dir)
    if is_adapter_dir(adapter_dir):
        base_dir, adapter_arg = resolve_base(adapter_dir, base), adapter_dir
    else:  # a full (e.g. merged) model folder: nothing to put on top
        base_dir, adapter_arg = adapter_dir, None
    from stages.lib.model.model_dirs import base_mismatch, check_model_dirs

    check_model_dirs(base_dir, adapter_dir)  # one line, not a traceback
    if adapter_arg is not None and (warning := base_mismatch(base_dir, adapter_dir)):
        click.echo(f"warning: {warning}", err=True)
    template = prompt_template or recorded_template(adapter_dir) or "alpaca"
    check_chat_template(template, base_dir, "--prompt-template" if prompt_template
                        else f"{adapter_dir}: prompt_template")
    lines = [] if merge_dir is not None and text is None else read_inputs(text)
    try:
        # items: `auto` starts vLLM only for a batch large enough to repay its start-up
        inference = engines.choose(device, dtype, engine, merge_lora, num_beams=num_beams,
                                   items=len(lines))
    except engines.SettingError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.key}") from None
    model, tokenizer = None, None
    if lines:
        model, tokenizer = engines.load(inference, base_dir, adapter_arg)
        click.echo(f"edit: {inference.describe(lora=adapter_arg is not None)}", err=True)
        outputs = edit_lines(inference.engine, model, tokenizer, lines, instruction, batch_size,
                             max_new_tokens, num_beams, copy_margin, template)
        for source, output in zip(lines, outputs, strict=True):
            click.echo(word_diff(source, output) if diff and source.strip() else output)
    if merge_dir is not None:
        # the export saves a transformers model, which the vLLM engine does not load
        if model is None or not inference.engine.transformers_model:
            model, tokenizer = load_system(base_dir, adapter_arg, inference.dtype, merge=True)
        merge_to(model, tokenizer, merge_dir, template, force)
        click.echo(f"merged model written to {merge_dir}", err=True)
