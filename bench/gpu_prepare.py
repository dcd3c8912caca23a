"""Pack what bench/gpu_check.py reads on the offline GPU machine into one small folder.

    .venv/bin/python bench/gpu_prepare.py [--out .gpu]

Only the repo's working tree travels to that machine (64 MiB with everything carried),
and DVC outputs do not: the base model's weights alone are 540 MB in fp32, and even the
Q4_1 GGUF they come from is 94 MiB. So the folder holds (docs/gpu.md):

    model/          the base model's config, generation config and tokenizer, no weights
                    (gpu_check builds seeded random weights of that shape from them)
    prompts.jsonl   predict's default item sample {dataset, id, instruction, input}:
                    params `predict.max_items` and `predict.seed` over data/benchmark,
                    chosen by the same function predict uses
    train.parquet   the mixture's training rows, exactly as the train stage reads them
    manifest.json   where each file came from (sha256), for the check's report

Needs `dvc repro benchmark base_model mix@writing-alpaca` (or the same stages run by
hand) first. The folder is git-ignored through .git/info/exclude and carried.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.lib.core.io import file_sha256, write_json, write_jsonl
from stages.lib.data.benchmark_info import read_index, read_items, select_items
from stages.predict import read_predict_params

# Everything of a model folder but its weights: a few MB, mostly tokenizer.json.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def copy_model_files(base: Path, out: Path) -> list[str]:
    """Copy the base model's small files (config, tokenizer) into `out`."""
    if not (base / "config.json").is_file():
        raise click.ClickException(f"{base}: no config.json (run `dvc repro base_model`)")
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(base.iterdir()):
        if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES) \
                and not path.name.endswith(".safetensors.index.json"):
            shutil.copy2(path, out / path.name)
            copied.append(path.name)
    return copied


def predict_sample(benchmark: Path, params_path: Path) -> list[dict[str, str]]:
    """predict's default selection over every benchmark dataset, in predict's order."""
    params, _ = read_predict_params(params_path)
    sample = []
    for dataset in read_index(benchmark):
        items = select_items(read_items(benchmark, dataset), dataset, params.max_items,
                             params.seed)
        sample += [{"dataset": dataset, "id": item["id"], "instruction": item["instruction"],
                    "input": item["input"]} for item in items]
    return sample


@click.command()
@click.option("--base", type=click.Path(path_type=Path), default=Path("models/smollm2-135m-instruct"),
              show_default=True)
@click.option("--benchmark", type=click.Path(path_type=Path), default=Path("data/benchmark"),
              show_default=True)
@click.option("--mixture", type=click.Path(path_type=Path),
              default=Path("data/mixtures/writing-alpaca"), show_default=True)
@click.option("--params", "params_path", type=click.Path(path_type=Path),
              default=Path("params.yaml"), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path(".gpu"), show_default=True)
def main(base: Path, benchmark: Path, mixture: Path, params_path: Path, out: Path) -> None:
    """Write OUT/{model/, prompts.jsonl, train.parquet, manifest.json} for gpu_check.py."""
    train = mixture / "train.parquet"
    if not train.is_file():
        raise click.ClickException(f"{train} not found (run `dvc repro mix@writing-alpaca`)")
    model_files = copy_model_files(base, out / "model")
    sample = predict_sample(benchmark, params_path)
    write_jsonl(out / "prompts.jsonl", sample)
    shutil.copy2(train, out / "train.parquet")
    per_dataset: dict[str, int] = {}
    for item in sample:
        per_dataset[item["dataset"]] = per_dataset.get(item["dataset"], 0) + 1
    write_json(out / "manifest.json", {
        "model": {"from": str(base), "files": model_files,
                  "config_sha256": file_sha256(base / "config.json")},
        "prompts": {"from": str(benchmark), "params": str(params_path),
                    "items": len(sample), "per_dataset": per_dataset,
                    "index_sha256": file_sha256(benchmark / "index.json")},
        "train": {"from": str(train), "sha256": file_sha256(train)},
    })
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    click.echo(json.dumps({"out": str(out), "items": len(sample), "per_dataset": per_dataset,
                           "model_files": model_files, "mib": round(size / 2**20, 2)}))


if __name__ == "__main__":
    main()
