"""How much of a system's JFLEG GLEU is lost to spacing alone (a diagnostic; the metric
stays as it is).

    .venv/bin/python bench/jfleg_spacing.py [--split test|dev] SYSTEM [SYSTEM ...]

JFLEG's sources and references are tokenized (`do n't`, `media , television`), and GLEU
splits on whitespace, so an output that writes `don't` or `media, television` loses
n-grams the copy baseline keeps. The benchmark scores outputs as the systems write them,
as JFLEG's gleu.py would. The M2 path tokenizes outputs like the gold source before
scoring; this script scores the JFLEG outputs both ways (the second with that same
tokenizer, stages/lib/evaluation/predictions.py) and gives each system's difference from the copy
baseline under both, with its paired-bootstrap interval (params evaluate.bootstrap).

Reads the default run's predictions (predictions/<system>/jfl.jsonl, or
dev/predictions/<system>/jfl-dev.jsonl with --split dev) and the benchmark they came from.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.evaluate import read_evaluate_params
from stages.lib.core.io import InputError, read_jsonl
from stages.lib.data.benchmark_info import read_items
from stages.lib.evaluation.bootstrap import interval, p_value, resample_indices
from stages.lib.evaluation.predictions import gec_tokenize
from stages.lib.metrics.registry import Inputs, get_metric

SPLITS = {"test": ("data/benchmark", "predictions", "jfl"),
          "dev": ("data/dev-benchmark", "dev/predictions", "jfl-dev")}


def gleu_stats(split: str, system: str, root: Path = ROOT) -> tuple[list[str], dict[str, list], int]:
    """(item ids, {"as written": per-item GLEU stats, "tokenized": ...}, the number of
    outputs that tokenizing changes) of one system."""
    benchmark, predictions, dataset = SPLITS[split]
    items = {item["id"]: item for item in read_items(root / benchmark, dataset)}
    path = root / predictions / system / f"{dataset}.jsonl"
    if not path.is_file():
        stage = "predict" if split == "test" else "dev"
        raise InputError(f"{path}: no predictions of {system} (dvc repro {stage}@{system})")
    rows = read_jsonl(path)
    unknown = [row["id"] for row in rows if row["id"] not in items]
    if unknown:
        raise InputError(f"{path}: item {unknown[0]} is not in {benchmark}/{dataset}.jsonl")
    sources = [items[row["id"]]["input"] for row in rows]
    references = [items[row["id"]]["references"] for row in rows]
    outputs = [row["output"] for row in rows]
    tokenized = gec_tokenize(sources, outputs)
    metric = get_metric("gleu")
    return [row["id"] for row in rows], {
        "as written": metric.item_stats(Inputs(sources, outputs, references=references)),
        "tokenized": metric.item_stats(Inputs(sources, tokenized, references=references)),
    }, sum(out != tok for out, tok in zip(outputs, tokenized))


def report(split: str, systems: list[str]) -> None:
    metric = get_metric("gleu")
    ids, copy, _ = gleu_stats(split, "copy")
    bootstrap = read_evaluate_params(ROOT / "params.yaml").bootstrap
    indices = resample_indices(len(ids), SPLITS[split][2], bootstrap)
    print(f"JFLEG {split}, {len(ids)} items; GLEU as written / outputs tokenized; "
          "Δ = system - copy [95% CI] p")
    for system in systems:
        system_ids, stats, respaced = gleu_stats(split, system)
        if system_ids != ids:
            raise InputError(f"{system}: its JFLEG items differ from copy's")
        cells = []
        for protocol in ("as written", "tokenized"):
            score = metric.score(stats[protocol])["gleu"]
            base = metric.score(copy[protocol])["gleu"]
            deltas = metric.resample(stats[protocol], indices) - \
                metric.resample(copy[protocol], indices)
            low, high = interval(deltas)
            cells.append(f"{protocol} {score:.2f}, Δ {score - base:+.2f} "
                         f"[{low:+.2f}, {high:+.2f}] p {p_value(deltas):.3f}")
        print(f"{system:16s} " + " | ".join(cells) + f" | tokenizing changes {respaced} outputs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("systems", nargs="+")
    parser.add_argument("--split", choices=sorted(SPLITS), default="test")
    args = parser.parse_args()
    try:
        report(args.split, args.systems)
    except InputError as exc:  # bad or missing input: one line and a non-zero exit, no traceback
        sys.exit(f"Error: {exc.message}")

if __name__ == "__main__":
    main()
