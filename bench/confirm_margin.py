"""A confirmatory test of the copy margin on dev items the recipe sweep never scored.

    .venv/bin/python bench/confirm_margin.py [--n 300] [--out .cache/confirm-margin]

The sweep (reports/recipe-dev.md) scored nine variants on the same 417 dev items; beam 4
with copy margin 0.5 pointed up (+1.53 on the dev average) but did not survive Holm's
adjustment. This script tests that one variant once more, declared before it runs:

- items: from JFLEG dev and ASSET valid, the items outside the sweep's sample (the N the
  default run draws with predict.max_items and predict.seed), then N of those drawn with
  the same seed; the other dev splits have few or no unseen items left;
- systems: the committed writing-alpaca adapter, greedy against beam 4 with copy_margin
  0.5, everything else equal (each arm sets systems.writing-alpaca.predict, which
  params.yaml now fills with the adopted decoding);
- test: `writing-alpaca compare` on the average of the two sets (paired bootstrap over
  items, params evaluate.bootstrap); the margin is confirmed at p < 0.05 with Δ > 0.

Needs the default run's outputs (models/base, adapters/writing-alpaca, data/dev-benchmark).
Writes predictions and metrics under --out, and prints the comparison.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.lib.core.io import write_jsonl
from stages.lib.core.params import load_params
from stages.lib.data.benchmark_info import read_index, read_items, select_items, write_index
from stages.lib.inference.predict_config import parse_predict

DATASETS = ("jfl-dev", "ast-dev")
ARMS = {"greedy": {"num_beams": 1, "copy_margin": None},
        "margin": {"num_beams": 4, "copy_margin": 0.5}}


def unseen_benchmark(benchmark: Path, out: Path, max_items: int, seed: int) -> dict[str, int]:
    """OUT = BENCHMARK's DATASETS less the items a max_items/seed selection scores; returns
    the number of unseen items per dataset."""
    index = read_index(benchmark)
    kept = {}
    for dataset in DATASETS:
        items = read_items(benchmark, dataset)
        seen = {item["id"] for item in select_items(items, dataset, max_items, seed)}
        unseen = [item for item in items if item["id"] not in seen]
        write_jsonl(out / f"{dataset}.jsonl", unseen)
        kept[dataset] = len(unseen)
    write_index(out, {d: {**index[d], "size": kept[d]} for d in DATASETS})
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="Fresh items per dataset.")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "confirm-margin")
    args = parser.parse_args()

    params = load_params(ROOT / "params.yaml")
    predict = parse_predict(params)
    benchmark = args.out / "benchmark"
    benchmark.mkdir(parents=True, exist_ok=True)
    sizes = unseen_benchmark(ROOT / "data" / "dev-benchmark", benchmark, predict.max_items,
                             predict.seed)
    print(f"unseen items: {sizes}; scoring {args.n} of each", flush=True)

    tool = [sys.executable, "-m", "stages.cli"]
    for name, decoding in ARMS.items():
        # the arm's decoding as the system's own, which predict puts over params `predict`
        raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
        raw["systems"]["writing-alpaca"]["predict"] = decoding
        params_file = args.out / f"params-{name}.yaml"
        params_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        metrics = args.out / "metrics" / f"{name}.json"
        if metrics.is_file():  # a re-run keeps what a killed one finished
            continue
        predictions = args.out / "predictions" / name
        subprocess.run([*tool, "predict", "--system", "writing-alpaca",
                        "--adapter", "adapters/writing-alpaca", "--base", "models/base",
                        "--benchmark", str(benchmark), "--params", str(params_file),
                        "--max-items", str(args.n), "--out", str(predictions)],
                       check=True, cwd=ROOT)
        subprocess.run([*tool, "evaluate", "--system", name, "--predictions", str(predictions),
                        "--benchmark", str(benchmark), "--params", str(params_file),
                        "--out", str(metrics)], check=True, cwd=ROOT)
    subprocess.run([*tool, "compare", "--metrics-dir", str(args.out / "metrics"),
                    "greedy", "margin"], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
