"""The `train` params section: typed, validated, with per-run overrides.

One home for the training config, read by the train stage and by `plan` (which shows
what a config will run before any GPU time is spent), so neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stages.lib.io import InputError
from stages.lib.params import deep_merge, parse_section


@dataclass
class LoraParams:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class TrainParams:
    max_steps: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    method: str = "lora"              # lora | full
    lora: LoraParams = field(default_factory=LoraParams)
    max_length: int = 256             # the paper's (alpaca-lora's) cutoff, in tokens
    warmup_steps: int = 1
    lr_scheduler: str = "linear"
    weight_decay: float = 0.0
    dtype: str = "float32"            # float32 | bfloat16 | auto (compute precision)
    packing: bool = True              # BFD packing of rows into max_length blocks
    padding_free: bool = False        # flatten each batch (no pad tokens)
    gradient_checkpointing: bool = False
    seed: int = 0
    deterministic: bool = True        # torch deterministic algorithms (slower on GPUs)
    save_steps: int = 4               # checkpoint interval (resumability)
    save_total_limit: int = 2
    logging_steps: int = 1
    launcher: str = "none"            # none | ddp | fsdp (accelerate launch)
    num_processes: int = 1


def overridden_train(params: dict[str, Any], overrides: str | None) -> dict[str, Any]:
    """The `train` section, with the mapping at dotted key OVERRIDES merged on top
    (e.g. grid.runs.writing-alpaca-full.train: one run's method and learning rate)."""
    section = params.get("train")
    if not overrides:
        return section
    node: Any = params
    for part in overrides.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InputError(f"params.yaml: {overrides} is not defined")
        node = node[part]
    if not isinstance(node, dict):
        raise InputError(f"params.yaml: {overrides} must be a mapping of train settings")
    return deep_merge(section or {}, node)


def parse_train(params: dict[str, Any], overrides: str | None = None) -> TrainParams:
    cfg = parse_section(TrainParams, overridden_train(params, overrides),
                        overrides or "train")
    if cfg.method not in ("lora", "full"):
        raise InputError(f"params.yaml: train.method must be lora or full, got {cfg.method!r}")
    if cfg.launcher not in ("none", "ddp", "fsdp"):
        raise InputError(f"params.yaml: train.launcher must be none, ddp or fsdp, "
                         f"got {cfg.launcher!r}")
    if cfg.dtype not in ("auto", "bfloat16", "float32"):
        raise InputError(f"params.yaml: train.dtype must be auto, bfloat16 or float32, "
                         f"got {cfg.dtype!r}")
    return cfg
