"""The benchmark: one home for what every stage knows about it.

data/benchmark/ holds <dataset>.jsonl (items {id, instruction, input, references, m2,
standin, ...}) and index.json (dataset -> {size, task, metric, standin, source}), written
by the `benchmark` stage and read by predict, evaluate, the generation bench and the
cards. The dataset ids follow the paper's abbreviations; PAPER_ORDER and LABELS are its
Table 4 columns, PAPER_METRICS its Table 2 metrics.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_jsonl, write_json

INDEX_FILE = "index.json"
PAPER_ORDER = ["conll", "bea", "jfl", "itr-f", "itr-l", "itr-o", "trk", "ast", "wnc", "sts"]
PAPER_METRICS = {"conll": "m2", "bea": "errant", "jfl": "gleu",
                 **{d: "sari" for d in ("itr-f", "itr-l", "itr-o", "trk", "ast", "wnc", "sts")}}
LABELS = {"conll": "CoNLL", "bea": "BEA", "jfl": "JFL", "itr-f": "ITR-F", "itr-l": "ITR-L",
          "itr-o": "ITR-O", "trk": "TRK", "ast": "AST", "wnc": "WNC", "sts": "STS",
          "avg": "Avg."}


def label(dataset: str) -> str:
    """The paper's column label of a dataset id (the id itself for other datasets)."""
    return LABELS.get(dataset, dataset)


def in_paper_order(datasets: set[str] | list[str]) -> list[str]:
    """The paper's datasets first, in its order, then any others sorted."""
    found = set(datasets)
    return [d for d in PAPER_ORDER if d in found] + sorted(found - set(PAPER_ORDER))


def write_index(benchmark: Path, index: dict[str, dict[str, Any]]) -> None:
    write_json(benchmark / INDEX_FILE, index)


def read_index(benchmark: Path) -> dict[str, dict[str, Any]]:
    """index.json: dataset -> {size, task, metric, standin, source}, in file order."""
    index_path = benchmark / INDEX_FILE
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
    """The items of one dataset; each must have an id, an instruction and an input."""
    path = benchmark / f"{dataset}.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: benchmark file missing (listed in {INDEX_FILE})")
    items = read_jsonl(path)
    for number, item in enumerate(items, start=1):
        missing = [k for k in ("id", "instruction", "input") if k not in item]
        if missing:
            raise InputError(f"{path}:{number}: missing key {missing[0]!r}")
    return items


def select_items(items: list[dict[str, Any]], dataset: str, max_items: int | None,
                 seed: int) -> list[dict[str, Any]]:
    """The evaluated subset: all items, or a seeded sample of `max_items` in original order
    (random.Random(f"{seed}:{dataset}"): the same items for every system and run)."""
    if max_items is None or len(items) <= max_items:
        return list(items)
    chosen = random.Random(f"{seed}:{dataset}").sample(range(len(items)), max_items)
    return [items[i] for i in sorted(chosen)]


# predictions/<system>/selection.json: how many items predict chose per dataset, so that
# evaluate can tell a complete predictions file from one cut short after the fact
SELECTION_RECORD = "selection.json"


def selection_record(chosen: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """The selection.json object for predict's chosen items per dataset."""
    return {dataset: len(items) for dataset, items in chosen.items()}


def check_complete(predictions: Path, dataset: str, found: int) -> None:
    """InputError when predictions/<dataset>.jsonl holds fewer items than predict chose
    (its selection.json); a folder without the record (made by hand) is not checked."""
    record = predictions / SELECTION_RECORD
    if not record.is_file():
        return
    from stages.lib.core.io import read_json

    chosen = read_json(record)
    expected = chosen.get(dataset) if isinstance(chosen, dict) else None
    if isinstance(expected, int) and found != expected:
        raise InputError(f"{predictions / (dataset + '.jsonl')}: {found} predictions, but "
                         f"predict chose {expected} items ({record}); re-run predict")


def chosen_datasets(index: dict[str, Any], names: str | None, where: str) -> list[str]:
    """The index's datasets, or the comma-separated NAMES among them (unknown ones are
    an error naming WHERE)."""
    if not names:
        return list(index)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:
        raise InputError(f"{where}: {names!r} names no dataset (benchmark has "
                         f"{', '.join(index)})")
    unknown = [name for name in wanted if name not in index]
    if unknown:
        raise InputError(f"{where}: unknown dataset(s) {', '.join(unknown)} "
                         f"(benchmark has {', '.join(index)})")
    return wanted

