"""GPU check: LoRA training and generation speed on one GPU, and CUDA-vs-CPU agreement.

    python3 bench/gpu_check.py --out $OUT/gpu_check.json      # the GPU machine (docs/gpu.md)
    .venv/bin/python bench/gpu_check.py --smoke --out /tmp/gpu_check.json   # any CPU

Reads the folder bench/gpu_prepare.py writes (--data, default .gpu) and measures:
  train     20 LoRA steps (after one warm-up step) of the train stage's own
            stages.train.build_trainer, params `train` with a profile's overrides
            (--train-profile, default paper) in bf16: tokens/s and peak GPU memory.
            In a child process: the trainer sets process-wide switches (TF32,
            deterministic kernels) that would change the generation figures.
  generate  predict's default item sample in fp32 (predict.dtype) with the project's
            engines `continuous` and `hf` (chosen by stages.lib.inference.engines.choose) and with
            transformers' own continuous batching (`transformers-cb`, bench/gpu_parts.py);
            then `continuous` in bf16. items/s each, and the share of cleaned outputs
            identical to fp32 `continuous`.
  cpu       the same model in fp32 on the CPU for every k-th item (--cpu-items): the
            share of CUDA fp32 outputs equal to the CPU ones, and the two devices'
            next-token agreement over every prompt position.
Weights: --model DIR uses a model folder as it is; otherwise the base model's config
and tokenizer (DATA/model) get seeded random weights (the real ones do not fit the
machine's 64 MiB upload) and the JSON says so. Speed and memory figures hold for the
real model's shapes; outputs are not text: such a model repeats one token up to each
item's full budget (no early stops), so equal outputs are weak evidence and the
next-token agreement is the float comparison. Each part writes its figures to --out as
it ends; a failed part records its error and the next runs; parts not started by
--deadline-s are skipped.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
from gpu_parts import logits_agreement, random_weights, train_part, transformers_cb

from stages.lib.core.io import read_jsonl, write_json
from stages.lib.data.prompts import format_prompt
from stages.lib.inference.decoding import Decoding
from stages.lib.inference.engines import Engine, choose, load
from stages.lib.inference.predict_config import decoding_of
from stages.predict import read_predict_params

PACKAGES = ("torch", "transformers", "huggingface_hub", "accelerate", "peft", "trl",
            "datasets", "pyarrow", "fsspec", "tokenizers")
# The project's engines timed here (settings for stages.lib.inference.engines.choose), and
# transformers' own continuous batching, run on the model the continuous engine loads.
PROJECT_ENGINES = ("continuous", "hf")
TRANSFORMERS_CB = "transformers-cb"


def environment(device: str) -> dict[str, Any]:
    """Versions and hardware, so a figure can be read against what produced it."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {"python": platform.python_version(), "versions": versions,
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
        info["fp32_matmul_precision"] = torch.get_float32_matmul_precision()
    return info


class Check:
    """The report, written to `out` after every part, and the deadline for parts."""

    def __init__(self, out: Path, deadline_s: float, report: dict[str, Any]):
        self.out, self.deadline_s, self.report = out, deadline_s, report
        self.started = time.monotonic()

    def part(self, name: str, func: Callable[[], Any]) -> Any:
        """func()'s result, or None when it failed (its error is recorded) or when the
        deadline had passed (it is listed as skipped)."""
        result = None
        if time.monotonic() - self.started > self.deadline_s:
            self.report["skipped"].append(name)
        else:
            print(f"gpu_check: {name} ({time.monotonic() - self.started:.0f}s)",
                  file=sys.stderr, flush=True)
            try:
                result = func()
            # Any error: one failed part must not lose the other parts' figures.
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                self.report["errors"][name] = f"{type(exc).__name__}: {exc}"
        self.report["elapsed_s"] = round(time.monotonic() - self.started, 1)
        write_json(self.out, self.report)
        return result


def run_engine(engine: Engine | None, model: Any, tokenizer: Any, prompts: list[str],
               budgets: list[int], batch_size: int) -> tuple[list[str], dict[str, Any]]:
    """Outputs and timing of one of the project's engines (after a two-prompt warm-up),
    or of transformers' continuous batching for engine None."""
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if engine is None:
        outputs, timing = transformers_cb(model, tokenizer, prompts, budgets, batch_size)
    else:
        engine.generate(model, tokenizer, prompts[:2], [4, 4], Decoding(), 2, progress=False)
        start = time.perf_counter()
        outputs = engine.generate(model, tokenizer, prompts, budgets, Decoding(), batch_size,
                                  progress=False)
        if cuda:
            torch.cuda.synchronize()
        timing = {"seconds": round(time.perf_counter() - start, 2)}
    timing["items_per_s"] = round(len(prompts) / max(timing["seconds"], 1e-9), 2)
    # about 1 for a random model repeating one token; real answers have many
    timing["mean_distinct_words"] = round(
        sum(len(set(o.split())) for o in outputs) / len(outputs), 2)
    if cuda:
        timing["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return outputs, timing


def identical(a: list[str], b: list[str]) -> float:
    return round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 4)


def weights(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    """The model folder to run, and how its weights came about (for the report)."""
    if args.model is not None:
        return args.model, f"as saved in {args.model}"
    if args.smoke:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import build_tiny_model

        return build_tiny_model(work / "tiny"), "tiny random test model (tests/conftest.py)"
    label = (f"RANDOM (seed {args.seed}) with the config and tokenizer of "
             f"{args.data / 'model'}: speed figures only; outputs are not text")
    return random_weights(args.data / "model", work / "model", args.seed), label


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON report path")
    parser.add_argument("--data", type=Path, default=ROOT / ".gpu",
                        help="bench/gpu_prepare.py's folder")
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder with weights (default: random weights)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--train-profile", default="paper")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--train-dtype", default="bfloat16")
    parser.add_argument("--items", type=int, default=0, help="first N prompts (0 = all)")
    parser.add_argument("--cpu-items", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=0, help="0 = predict.batch_size")
    parser.add_argument("--seed", type=int, default=0, help="of the random weights")
    parser.add_argument("--deadline-s", type=float, default=390.0,
                        help="start no part after this many seconds (a run ends by ~480)")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU, the tests' tiny model unless --model, 6 items, one bf16 "
                             "step of the paper profile at 8 rows")
    args = parser.parse_args(argv)
    args.train_rows = None  # the profile's global batch
    if args.smoke:
        # the paper profile's precision path (bf16, unpacked rows, its LoRA and cutoff) on
        # the tiny model, with 8 rows a step instead of 128: bf16 is emulated on CPUs
        # without AMX, which a tiny model makes affordable
        args.device, args.items, args.cpu_items, args.train_steps = "cpu", 6, 3, 1
        args.train_profile, args.train_dtype, args.train_rows = "paper", "bfloat16", 8
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    check = Check(args.out, args.deadline_s, {"device": args.device, "smoke": args.smoke,
                                              "errors": {}, "skipped": [],
                                              **environment(args.device)})
    report = check.report
    model_dir, report["weights"] = weights(args, work)
    items = read_jsonl(args.data / "prompts.jsonl")[: args.items or None]
    predict, _ = read_predict_params(args.params)
    batch_size = args.batch_size or predict.batch_size
    fp32 = choose(args.device, "float32", "continuous", merge=True, num_beams=1)
    model, tokenizer = load(fp32, model_dir, None)
    prompts = [format_prompt(item["instruction"], item["input"]) for item in items]
    budget = decoding_of(predict).budget
    budgets = [budget.tokens_for(item["input"], tokenizer) for item in items]
    report["sample"] = {"items": len(items), "budget_tokens": sum(budgets),
                        "batch_size": batch_size}

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        report["train"] = check.part("train", lambda: pool.submit(
            train_part, str(model_dir), str(args.data), str(args.params), args.train_profile,
            args.train_steps, args.train_dtype, fp32.device.partition(":")[0],
            args.train_rows).result())

    outputs: dict[str, list[str]] = {}
    report["generate"] = {"float32": {}, "bfloat16": {}, "identical_to_fp32_continuous": {}}

    def engine_part(engine: str, dtype: str) -> None:
        project = engine in PROJECT_ENGINES
        inference = choose(args.device, dtype, engine if project else "continuous",
                           merge=True, num_beams=1)
        # a fresh model each time: transformers-cb may switch the attention implementation
        run_model = model if (engine, dtype) == ("continuous", "float32") \
            else load(inference, model_dir, None)[0]
        name = f"{dtype}/{engine}"
        outputs[name], report["generate"][dtype][engine] = run_engine(
            inference.engine if project else None, run_model, tokenizer, prompts, budgets,
            batch_size)
        if name != "float32/continuous" and "float32/continuous" in outputs:
            report["generate"]["identical_to_fp32_continuous"][name] = identical(
                outputs[name], outputs["float32/continuous"])

    def cpu_part() -> dict[str, Any]:
        step = max(1, len(prompts) // max(1, args.cpu_items))
        chosen = list(range(0, len(prompts), step))[: args.cpu_items]
        cpu_choice = choose("cpu", "float32", "continuous", True, 1)
        cpu_model = load(cpu_choice, model_dir, None)[0]
        cpu, timing = run_engine(cpu_choice.engine, cpu_model, tokenizer,
                                 [prompts[i] for i in chosen], [budgets[i] for i in chosen],
                                 batch_size)
        accelerated = [outputs["float32/continuous"][i] for i in chosen]
        return {**timing, "items": len(chosen), "threads": torch.get_num_threads(),
                "identical_cuda_fp32_vs_cpu_fp32": identical(accelerated, cpu),
                **logits_agreement(model, cpu_model, tokenizer, [prompts[i] for i in chosen])}

    for engine in (*PROJECT_ENGINES, TRANSFORMERS_CB):
        check.part(f"float32/{engine}", lambda engine=engine: engine_part(engine, "float32"))
    if "float32/continuous" in outputs:
        report["cpu"] = check.part("cpu", cpu_part)
    check.part("bfloat16/continuous", lambda: engine_part("continuous", "bfloat16"))
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
