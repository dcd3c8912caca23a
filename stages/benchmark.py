"""benchmark: normalized eval corpora -> the paper's 10 test sets, data/benchmark/<id>.jsonl.

Which corpus, split, filter, task prompt and metric make each set is declared in
params.yaml `benchmark.datasets`; the sizes are the paper's Table 2 and are checked, so a
changed corpus or filter cannot silently change the benchmark. A set whose corpus is
absent (official WNC needs internet) falls back to its declared stand-in, marked
`standin: true` in every item and in index.json.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path, read_jsonl, write_jsonl
from stages.lib.core.params import load_params, parse_section
from stages.lib.data.benchmark_info import write_index
from stages.lib.data.prompts import Tasks, read_tasks, task_instruction
from stages.lib.metrics.ids import METRIC_IDS

DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass
class Source:
    corpus: str
    split: str
    size: int  # expected number of items after filtering (the paper's Table 2)


@dataclass
class DatasetSpec:
    corpus: str
    split: str
    task: str  # a key of params tasks (stages.lib.data.prompts.read_tasks)
    metric: str
    size: int
    intent: str | None = None  # ITERATER: keep rows of this edit intention
    min_ref_chars: int = 0  # drop rows whose reference is shorter (EditEval: len > 1)
    score: float | None = None  # STS: keep rows with exactly this similarity score
    standin: Source | None = None  # used when `corpus` was not normalized
    # counted in `avg`; false for a set of one's own keeps avg the paper's average
    in_avg: bool = True


@dataclass
class BenchmarkParams:
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)


@click.command()
@click.option("--corpora", "corpora_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of normalized corpora (data/corpora).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--section", default="benchmark", show_default=True,
              type=click.Choice(["benchmark", "dev_benchmark"]),
              help="The params section to build: the paper's test sets, or the dev splits "
                   "recipes are chosen on.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder (data/benchmark): <dataset>.jsonl + index.json.")
def benchmark(corpora_dir: str, params_path: str, section: str, out: str) -> None:
    """Build the paper's 10 evaluation sets (or the dev sets) from the normalized corpora,
    sizes checked."""
    loaded = load_params(params_path)
    params = parse_section(BenchmarkParams, loaded.get(section), section)
    tasks = read_tasks(loaded)
    if not params.datasets:
        raise InputError(f"params.yaml: {section}.datasets is empty")
    index: dict[str, Any] = {}
    built: dict[str, list[dict[str, Any]]] = {}
    for name, spec in params.datasets.items():
        if not DATASET_NAME.fullmatch(name):  # it becomes a file name: <name>.jsonl
            raise InputError(f"params.yaml: {section}.datasets.{name}: a dataset name is "
                             f"letters, digits, '-' and '_' (no path separators or dots)")
        if spec.metric not in METRIC_IDS:
            raise InputError(f"params.yaml: {section}.datasets.{name}.metric must be one of "
                             f"{', '.join(METRIC_IDS)}, got {spec.metric!r}")
        instruction = task_instruction_or_error(spec.task, name, tasks, section)
        source, standin = choose_source(Path(corpora_dir), spec, name)
        records = [r for r in read_jsonl(corpus_file(Path(corpora_dir), source))
                   if keep(r, spec)]
        if len(records) != source.size:
            raise InputError(f"benchmark {name}: {len(records)} items from "
                             f"{source.corpus}/{source.split}, expected {source.size}")
        built[name] = [item(name, i, spec.task, instruction, r, standin)
                       for i, r in enumerate(records)]
        index[name] = {"size": len(records), "task": spec.task, "metric": spec.metric,
                       "standin": standin, "source": f"{source.corpus}/{source.split}",
                       **({} if spec.in_avg else {"in_avg": False})}
        note = " (STAND-IN)" if standin else ""
        click.echo(f"benchmark {name}: {len(records)} items from {index[name]['source']}{note}")
    with atomic_path(out, is_dir=True, owns=("*.jsonl", "index.json")) as tmp:
        for name, items in built.items():
            write_jsonl(tmp / f"{name}.jsonl", items)
        write_index(tmp, index)


def task_instruction_or_error(task: str, name: str, tasks: Tasks, section: str) -> str:
    """The task's first instruction (every system reads the same prompt)."""
    try:
        return task_instruction(task, tasks)
    except KeyError as exc:
        raise InputError(f"params.yaml: {section}.datasets.{name}.task: {exc.args[0]}") from None


def corpus_file(corpora: Path, source: Source) -> Path:
    return corpora / source.corpus / f"{source.split}.jsonl"


def choose_source(corpora: Path, spec: DatasetSpec, name: str) -> tuple[Source, bool]:
    """The declared corpus when it was normalized, else the stand-in (flagged)."""
    official = Source(spec.corpus, spec.split, spec.size)
    if corpus_file(corpora, official).is_file():
        return official, False
    if spec.standin is not None and corpus_file(corpora, spec.standin).is_file():
        return spec.standin, True
    wanted = corpus_file(corpora, official)
    extra = f" nor the stand-in {corpus_file(corpora, spec.standin)}" if spec.standin else ""
    raise InputError(f"benchmark {name}: neither {wanted}{extra} exists "
                     f"(is corpora.{spec.corpus} declared in params.yaml?)")


def keep(record: dict[str, Any], spec: DatasetSpec) -> bool:
    meta = record.get("meta", {})
    if spec.intent is not None and meta.get("intent") != spec.intent:
        return False
    if spec.score is not None and meta.get("score") != spec.score:
        return False
    # EditEval drops ITERATER rows whose revision is a single character (e.g. " ").
    return all(len(ref) >= spec.min_ref_chars for ref in record["refs"])


def item(name: str, number: int, task: str, instruction: str, record: dict[str, Any],
         standin: bool) -> dict[str, Any]:
    return {"id": f"{name}-{number:04d}", "dataset": name, "task": task,
            "instruction": instruction, "input": record["src"],
            "references": record["refs"], "m2": record.get("meta", {}).get("m2"),
            "standin": standin}
