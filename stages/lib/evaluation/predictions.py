"""A system's predictions lined up with the benchmark items, in the form the scorers read.

predictions/<system>/<dataset>.jsonl holds {id, output} per predicted item (predict.max_items
may have chosen a subset); `align_predictions` pairs them with their benchmark items in
benchmark order. GEC outputs are tokenized with the spaCy tokenizer before M2/ERRANT
scoring because both scorers compare whitespace tokens against the tokenized gold
source; an output whose tokens already equal the source's is left untouched. Used by
`evaluate` (scores) and `findings` (named-entity edits), so both see the same edits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_jsonl
from stages.lib.data.benchmark_info import check_complete, read_items
from stages.lib.metrics.registry import Inputs, Metric

GOLD_NAMES = {"m2": "gold M2 block", "references": "references"}


def align_predictions(benchmark: Path, predictions: Path, dataset: str
                      ) -> tuple[list[dict[str, Any]], list[str]]:
    """(benchmark items, outputs) for the predicted ids, in benchmark order."""
    path = predictions / f"{dataset}.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: predictions missing for dataset {dataset}")
    items = {item["id"]: item for item in read_items(benchmark, dataset)}
    outputs: dict[str, str] = {}
    for number, record in enumerate(read_jsonl(path), start=1):
        if not isinstance(record.get("id"), str) or not isinstance(record.get("output"), str):
            raise InputError(f"{path}:{number}: expected string fields 'id' and 'output'")
        if record["id"] not in items:
            raise InputError(f"{path}:{number}: id {record['id']!r} is not in the benchmark")
        if record["id"] in outputs:
            raise InputError(f"{path}:{number}: duplicate id {record['id']!r}")
        outputs[record["id"]] = record["output"]
    if not outputs:
        raise InputError(f"{path}: no predictions")
    check_complete(predictions, dataset, len(outputs))
    chosen = [item for item_id, item in items.items() if item_id in outputs]
    return chosen, [outputs[item["id"]] for item in chosen]


def gec_tokenize(sources: list[str], outputs: list[str]) -> list[str]:
    """Outputs as spaCy tokens joined by spaces (source-identical outputs kept as-is)."""
    from stages.lib.metrics.spacy_cache import load_annotator

    tokenizer = load_annotator().nlp.tokenizer
    result = []
    for source, output in zip(sources, outputs):
        flat = " ".join(output.split())
        if flat == " ".join(source.split()):
            result.append(flat)
        else:
            result.append(" ".join(token.text for token in tokenizer(flat) if not token.is_space))
    return result


def gec_inputs(items: list[dict[str, Any]], outputs: list[str]) -> Inputs:
    """GEC scorer inputs: the items' parsed gold M2 blocks and the outputs tokenized
    like the blocks' (tokenized) sources."""
    from stages.lib.metrics.m2format import parse_block

    gold = [parse_block(item["m2"]) for item in items]
    return Inputs.gec(gold, gec_tokenize([block.source for block in gold], outputs))


def metric_inputs(metric: Metric, items: list[dict[str, Any]], outputs: list[str],
                  where: str) -> Inputs:
    """What `metric` reads of the aligned items and outputs; an item without the gold
    the metric needs is an error naming `where` (the benchmark file)."""
    missing = [item["id"] for item in items if not item.get(metric.gold_field)]
    if missing:
        raise InputError(f"{where}: item {missing[0]} has no {GOLD_NAMES[metric.gold_field]} "
                         f"(metric {metric.name})")
    if metric.gold_field == "m2":
        return gec_inputs(items, outputs)
    return Inputs([item["input"] for item in items], outputs,
                  references=[item["references"] for item in items])
