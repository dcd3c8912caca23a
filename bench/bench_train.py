"""Training throughput (tokens/s) of the train stage's own code path on this machine.

Runs a few optimizer steps of stages.train.build_trainer for each variant (packing on/off,
fp32 / bf16) and prints real (non-padding) input tokens per second, measured after one
warm-up step. Usage:
    python bench/bench_train.py --data data/mixtures/writing-alpaca --base models/smollm2-135m-instruct \
        --steps 3 [--variants fp32,fp32-packing,bf16,bf16-packing] [--json out.json]
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import click

from stages.lib.core.params import load_params
from stages.train import build_trainer, parse_train

VARIANTS = {
    "fp32": {"dtype": "float32", "packing": False},
    "fp32-packing": {"dtype": "float32", "packing": True},
    "bf16": {"dtype": "bfloat16", "packing": False},
    "bf16-packing": {"dtype": "bfloat16", "packing": True},
}


def measure(cfg, data: Path, base: Path, steps: int) -> dict:
    """Tokens/s over `steps` optimizer steps after one warm-up step."""
    from transformers import TrainerCallback

    marks: list[tuple[float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks.append((time.perf_counter(), state.num_input_tokens_seen))

    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(cfg, max_steps=steps + 1, save_steps=10_000)
        trainer = build_trainer(cfg, data, base, Path(tmp))
        trainer.add_callback(Clock())
        trainer.train()
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    return {"tokens": n1 - n0, "seconds": round(t1 - t0, 2),
            "tokens_per_s": round((n1 - n0) / (t1 - t0), 1),
            "s_per_step": round((t1 - t0) / steps, 2)}


@click.command()
@click.option("--data", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--base", type=click.Path(exists=True, path_type=Path), default=Path("models/smollm2-135m-instruct"))
@click.option("--params", "params_path", default="params.yaml")
@click.option("--steps", default=3, show_default=True)
@click.option("--variants", default=",".join(VARIANTS), show_default=True)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(data: Path, base: Path, params_path: str, steps: int, variants: str,
         json_out: Path | None) -> None:
    cfg = parse_train(load_params(params_path))
    results = {}
    for name in variants.split(","):
        variant = dataclasses.replace(cfg, **VARIANTS[name])
        results[name] = measure(variant, data, base, steps)
        click.echo(f"{name}: {results[name]}")
    if json_out:
        json_out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
