"""How a system generates: device, dtype, engine, and whether its LoRA is merged.

predict (params `eval`), edit (its options) and bench/bench_generation.py choose and
load through `choose` and `load`, so a system runs the same way in all three and the
choice is printed the same way. Engines (stages.lib.generation.generate):

    continuous  this project's continuous batching; any device (the CPU default)
    hf          transformers' generate() on static length-sorted batches
    vllm        vLLM, on CUDA where the optional `gpu` extra is installed
    auto        vllm on a CUDA device when vllm is importable, decoding is greedy, the
                dtype is 16-bit and there are enough items to repay vLLM's start-up
                (VLLM_MIN_ITEMS), else continuous
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stages.lib import vllm_engine
from stages.lib.generation import ENGINES
from stages.lib.models import load_system, resolve_device, resolve_dtype

ENGINE_CHOICES = ("auto", *ENGINES)
# vLLM's start-up (weights, KV-cache profiling, CUDA-graph capture) takes tens of seconds,
# in which the continuous engine on the same GPU generates a few hundred items: `auto`
# starts vLLM only for a workload at least this large (a predict stage, not an `edit`).
VLLM_MIN_ITEMS = 500


@dataclass(frozen=True)
class Inference:
    """A resolved choice: a torch device string, a torch dtype, a concrete engine."""

    device: str
    dtype: torch.dtype
    engine: str
    merge: bool

    def describe(self, lora: bool) -> str:
        """One line for the logs, e.g. `device cpu, dtype float32, engine continuous,
        merged LoRA`."""
        weights = ("merged LoRA" if self.merge else "unmerged LoRA") if lora else "no LoRA"
        return (f"device {self.device}, dtype {str(self.dtype).removeprefix('torch.')}, "
                f"engine {self.engine}, {weights}")


def vllm_worth_it(device: str, num_beams: int, dtype: torch.dtype, items: int | None) -> bool:
    """`auto`'s rule for vLLM (where installed): CUDA, greedy, 16-bit (its LoRA kernels),
    and enough items to repay its start-up (None: unknown, assumed large)."""
    return (device.startswith("cuda") and num_beams == 1 and dtype in vllm_engine.LORA_DTYPES
            and (items is None or items >= VLLM_MIN_ITEMS))


def resolve_engine(name: str, device: str, num_beams: int = 1,
                   dtype: torch.dtype = torch.bfloat16, items: int | None = None) -> str:
    """The concrete engine for `name` on `device`; ValueError when it cannot run here.
    `items`: how many prompts will be generated (None: unknown, assumed large)."""
    if name not in ENGINE_CHOICES:
        raise ValueError(f"unknown engine {name!r}; use {', '.join(ENGINE_CHOICES)}")
    if name == "auto":
        worth_it = vllm_worth_it(device, num_beams, dtype, items)
        return "vllm" if worth_it and vllm_engine.installed() else "continuous"
    if name == "vllm":
        vllm_engine.require(device)
        if num_beams != 1:
            raise ValueError("engine 'vllm' decodes greedily only: set num_beams 1")
    return name


class SettingError(ValueError):
    """A device, dtype or engine setting that cannot be used here; `key` names it, so
    each caller can point at its own source (a params.yaml key, a CLI option)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def choose(device: str, dtype: str, engine: str, merge: bool, num_beams: int,
           items: int | None = None) -> Inference:
    """Resolve setting names to an Inference (SettingError naming the bad setting)."""
    key = "device"  # the setting being resolved, for the error
    try:
        resolved_device = resolve_device(device)
        key = "dtype"
        resolved_dtype = resolve_dtype(dtype, resolved_device)
        key = "engine"
        resolved_engine = resolve_engine(engine, resolved_device, num_beams, resolved_dtype,
                                         items)
    except ValueError as exc:
        raise SettingError(key, str(exc)) from None
    # vLLM serves a LoRA adapter with its own kernels: nothing is merged or written
    return Inference(resolved_device, resolved_dtype, resolved_engine,
                     merge and resolved_engine != "vllm")


def load(inference: Inference, base: str | Path, adapter: str | Path | None
         ) -> tuple[Any, Any]:
    """(model, tokenizer) for stages.lib.generation.generate(..., engine=inference.engine)."""
    if inference.engine == "vllm":
        return vllm_engine.load(base, adapter, inference.dtype, inference.device)
    return load_system(base, adapter, inference.dtype, inference.device, merge=inference.merge)
