"""predict@<system>: generate one output per benchmark item with a system.

A system is the base model, base + PEFT adapter, or a full model folder (params
`systems`). Every item is formatted with the shared prompt formatter, the whole
selection (all datasets together) is generated in length-sorted batches, and the
outputs are written as predictions/<system>/<dataset>.jsonl {id, input, output} in
the benchmark's item order. The folder is written atomically: a killed run leaves
no output and the next run redoes it from scratch. The device, dtype, engine and LoRA
merge come from params predict.device/dtype/engine/merge_lora, chosen by
stages.lib.inference.engines.choose, and are printed first. predict.copy_margin (with
predict.num_beams >= 2) prefers a beam candidate that edits the input over a near-tied
best candidate that copies it (stages.lib.inference.decoding.prefer_edit).

Item selection (params predict.max_items): with a cap N, a dataset larger than N keeps
the N items drawn by random.Random(f"{predict.seed}:{dataset}").sample over item
positions, in benchmark order - the same items for every system and every run; the
paper profile uses the full sets (max_items: null). `evaluate` scores exactly the
items found in the predictions.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click

from stages.lib.core import timings
from stages.lib.core.io import (
    InputError,
    atomic_path,
    check_replaceable,
    write_json,
    write_jsonl,
)
from stages.lib.core.params import load_params
from stages.lib.data.benchmark_info import (
    SELECTION_RECORD,
    chosen_datasets,
    read_index,
    read_items,
    select_items,
    selection_record,
)
from stages.lib.data.prompts import (
    TEMPLATE_RECORD,
    check_chat_template,
    format_prompt,
    recorded_template,
    template_setting,
)
from stages.lib.inference import engines
from stages.lib.inference.decoding import DECODING_RECORD, Decoding
from stages.lib.inference.predict_config import PredictParams, decoding_of, parse_predict
from stages.lib.inference.systems import is_copy_baseline

log = logging.getLogger(__name__)

# what a predictions folder holds: predict may replace a folder of these, nothing else
PREDICTION_FILES = ("*.jsonl", DECODING_RECORD, SELECTION_RECORD)


def read_predict_params(path: str | Path, system: str | None = None
                        ) -> tuple[PredictParams, str]:
    """The predict section (with SYSTEM's own decoding settings) and the prompt template,
    from the params file at `path`."""
    params = load_params(path)
    return parse_predict(params, system), template_setting(params)


def check_template(template: str, adapter: Path, system: str) -> None:
    """An adapter is prompted the way it was trained: a params template that differs from
    the one its folder records (a stale adapter, or one trained elsewhere) is an error."""
    trained = recorded_template(adapter)
    if trained is not None and trained != template:
        raise InputError(f"params.yaml: prompt_template is {template!r}, but {adapter} "
                         f"(system {system}) was trained with {trained!r} "
                         f"({adapter / TEMPLATE_RECORD}); retrain it or set prompt_template "
                         f"{trained}")


def copy_predictions(selections: dict[str, list[dict[str, Any]]]
                     ) -> dict[str, list[dict[str, Any]]]:
    """Output = input for every selected item."""
    return {dataset: [{"id": item["id"], "input": item["input"], "output": item["input"]}
                      for item in items]
            for dataset, items in selections.items()}


def predict_all(engine: engines.Engine, model: Any, tokenizer: Any,
                selections: dict[str, list[dict[str, Any]]], decoding: Decoding,
                batch_size: int, progress: bool = True, template: str = "alpaca"
                ) -> dict[str, list[dict[str, Any]]]:
    """Generate outputs for every selected item with `engine` and the model it loaded,
    prompted with `template`; returns dataset -> prediction records."""
    flat = [(dataset, item) for dataset, items in selections.items() for item in items]
    prompts = [format_prompt(item["instruction"], item["input"], template, tokenizer)
               for _, item in flat]
    budgets = [decoding.budget.tokens_for(item["input"], tokenizer) for _, item in flat]
    # the copy margin compares each candidate with the input the prompt asks to rewrite
    outputs = engine.generate(model, tokenizer, prompts, budgets, decoding, batch_size,
                              sources=[item["input"] for _, item in flat], progress=progress)
    result: dict[str, list[dict[str, Any]]] = {dataset: [] for dataset in selections}
    for (dataset, item), output in zip(flat, outputs):
        result[dataset].append({"id": item["id"], "input": item["input"], "output": output})
    return result


@click.command()
@click.option("--system", required=True, help="System name (a key of params `systems`).")
@click.option("--adapter", required=True, type=click.Path(path_type=Path),
              help="PEFT adapter folder, or a full model folder (e.g. models/base).")
@click.option("--base", required=True, type=click.Path(path_type=Path),
              help="Base model folder the adapter was trained on.")
@click.option("--benchmark", required=True, type=click.Path(path_type=Path),
              help="Benchmark folder (index.json + <dataset>.jsonl).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output folder predictions/<system>/.")
@click.option("--datasets", default=None, help="Comma-separated subset of the benchmark.")
@click.option("--num-beams", type=click.IntRange(min=1), default=None,
              help="Overrides predict.num_beams.")
@click.option("--max-items", type=click.IntRange(min=1), default=None,
              help="Overrides predict.max_items.")
@click.option("--timing", type=click.Path(path_type=Path), default=None,
              help="Write generation speed (items/s and settings) to this JSON file.")
@click.option("--engine", type=click.Choice(engines.ENGINE_NAMES), default=None,
              help="Overrides predict.engine (a timing compares engines only when it is fixed).")
@click.option("--copy-margin", "copy_margin", default=None, metavar="X|none",
              help="Overrides predict.copy_margin: a margin >= 0, or none (off).")
@click.option("--force", is_flag=True,
              help="Replace OUT even when it holds files predict did not write.")
def predict(system: str, adapter: Path, base: Path, benchmark: Path, params_path: Path,
            out: Path, datasets: str | None, num_beams: int | None, max_items: int | None,
            timing: Path | None, engine: str | None, copy_margin: str | None,
            force: bool) -> None:
    """Generate a system's outputs for the benchmark -> OUT/<dataset>.jsonl."""
    import torch

    from stages.lib.model.model_dirs import base_mismatch, check_model_dirs
    from stages.lib.model.models import is_adapter_dir

    params, template = read_predict_params(params_path, system)
    if num_beams is not None:
        params.num_beams = num_beams
    if copy_margin is not None:
        params.copy_margin = parse_margin(copy_margin)
    # checked again after the options, each setting named as it was given
    names = ({"num_beams": "--num-beams"} if num_beams else {}) \
        | ({"copy_margin": "--copy-margin"} if copy_margin is not None else {})
    decoding = decoding_of(params, names)
    if max_items is not None:
        params.max_items = max_items
    if engine is not None:
        params.engine = engine
    check_replaceable(out, True, PREDICTION_FILES, force)  # before any model loads
    for path in (adapter, base):
        if not path.is_dir():
            raise InputError(f"{path}: model/adapter folder not found (system {system})")
    copy = is_copy_baseline(adapter)  # needs no model
    if not copy:
        check_model_dirs(base, adapter)  # one line, not a traceback
        check_template(template, adapter, system)
        check_chat_template(template, base, "params.yaml: prompt_template")
        if (warning := base_mismatch(base, adapter)) is not None:
            click.echo(f"warning: {warning}", err=True)
    index = read_index(benchmark)
    selections = {
        dataset: select_items(read_items(benchmark, dataset), dataset, params.max_items,
                              params.seed)
        for dataset in chosen_datasets(index, datasets, "--datasets")
    }
    if copy:
        write_predictions(out, copy_predictions(selections), None, force)
        click.echo(f"predict@{system}: copy baseline, output = input for "
                   f"{sum(map(len, selections.values()))} items", err=True)
        return
    try:
        inference = engines.choose(params.device, params.dtype, params.engine,
                                   params.merge_lora, params.num_beams,
                                   items=sum(map(len, selections.values())))
    except engines.SettingError as exc:
        raise InputError(f"params.yaml: predict.{exc.key}: {exc}") from None
    model, tokenizer = engines.load(inference, base, adapter)
    total = sum(len(items) for items in selections.values())
    click.echo(f"predict@{system}: {inference.describe(lora=is_adapter_dir(adapter))}; "
               f"{total} items from {len(selections)} datasets, prompt template {template}, "
               f"batch {params.batch_size}, beams {decoding.num_beams}"
               + (f", copy margin {decoding.copy_margin}" if decoding.margin else ""),
               err=True)
    started = time.perf_counter()
    predictions = predict_all(inference.engine, model, tokenizer, selections, decoding,
                              params.batch_size, template=template)
    elapsed = time.perf_counter() - started
    click.echo(f"predict@{system}: {total} items in {elapsed:.1f}s "
               f"({total / max(elapsed, 1e-9):.2f} items/s)", err=True)
    timings.record("predict", out, elapsed, items=total, decoding=decoding.label,
                   engine=inference.engine.name, threads=torch.get_num_threads())
    write_predictions(out, predictions, decoding, force)
    if timing is not None:
        # wall time of generation only (model loading excluded); machine-dependent
        write_json(timing, {"system": system, "datasets": list(selections), "items": total,
                            "seconds": round(elapsed, 2),
                            "items_per_s": round(total / max(elapsed, 1e-9), 3),
                            "num_beams": decoding.num_beams, "batch_size": params.batch_size,
                            "copy_margin": decoding.copy_margin,
                            "inference": inference.describe(lora=is_adapter_dir(adapter)),
                            "torch_threads": torch.get_num_threads()})


def write_predictions(out: Path, predictions: dict[str, list[dict[str, Any]]],
                      decoding: Decoding | None, force: bool = False) -> None:
    """predictions/<system>/<dataset>.jsonl, how many items each holds (selection.json,
    which evaluate checks them against) and the decoding that made them (decoding.json;
    none for the copy baseline, which decodes nothing), the folder written atomically."""
    with atomic_path(out, is_dir=True, owns=PREDICTION_FILES, force=force) as tmp:
        for dataset, records in predictions.items():
            write_jsonl(tmp / f"{dataset}.jsonl", records)
        write_json(tmp / SELECTION_RECORD, selection_record(predictions))
        if decoding is not None:
            write_json(tmp / DECODING_RECORD, decoding.record())


def parse_margin(text: str) -> float | None:
    """--copy-margin's value: a number, or `none` for off."""
    if text.strip().lower() in ("none", "null", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number or none",
                                 param_hint="--copy-margin") from None
