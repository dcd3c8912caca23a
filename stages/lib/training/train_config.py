"""The `train` params section: typed, validated, with per-run overrides.

One home for the training config, read by the train stage and by `plan` (which shows
what a config will run before any GPU time is spent), so neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stages.lib.core.io import InputError
from stages.lib.core.params import Bound, check_bounds, deep_merge, parse_section


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
    # Rows per optimizer step over all processes (packed blocks when packing): the run's
    # meaning does not depend on the machine; accumulation = global / (per-device x world).
    global_batch_size: int
    learning_rate: float
    method: str = "lora"              # lora | full
    lora: LoraParams = field(default_factory=LoraParams)
    max_length: int = 256             # the paper's (alpaca-lora's) cutoff, in tokens
    warmup_steps: int = 1
    lr_scheduler: str = "linear"
    weight_decay: float = 0.0
    # compute precision: auto = bf16 on GPUs with native bf16 (compute capability >= 8.0),
    # fp16 on older GPUs (V100, T4), bf16 on CPUs with AMX/AVX512-BF16, else fp32
    dtype: str = "float32"            # float32 | bfloat16 | float16 | auto
    device: str = "auto"              # auto (cuda when usable, else cpu) | cpu | cuda
    packing: bool = True              # BFD packing of rows into max_length blocks
    padding_free: bool = False        # flatten each batch (no pad tokens)
    # Edit-weighted MLE (Junczys-Dowmunt et al. 2018): completion tokens of words a word
    # diff from the row's source marks as changed weigh this much in the loss, the other
    # completion tokens 1; 1.0 = the plain loss. Needs a mixture with a `source` column.
    edit_weight: float = 1.0
    gradient_checkpointing: bool = False
    seed: int = 0
    deterministic: bool = True        # torch deterministic algorithms (slower on GPUs)
    save_steps: int = 4               # checkpoint interval (resumability)
    save_total_limit: int = 2
    logging_steps: int = 1
    launcher: str = "none"            # none (one device) | ddp | fsdp (accelerate launch)
    num_processes: int = 1            # processes (GPUs) under ddp / fsdp


# Ranges checked where the section is read, before any model loads; counts >= 1 where a
# zero would stop training or divide by zero, rates and probabilities where they mean
# something (a negative learning rate climbs the loss).
TRAIN_BOUNDS = {
    "max_steps": Bound(1), "per_device_batch_size": Bound(1), "global_batch_size": Bound(1),
    "num_processes": Bound(1), "learning_rate": Bound(0, low_open=True),
    "lora.r": Bound(1), "lora.alpha": Bound(0, low_open=True), "lora.dropout": Bound(0, 1,
                                                                                  high_open=True),
    "max_length": Bound(8), "warmup_steps": Bound(0), "weight_decay": Bound(0),
    "seed": Bound(0), "save_steps": Bound(1), "save_total_limit": Bound(1),
    "logging_steps": Bound(1),
}


def scheduler_names() -> list[str]:
    """The learning-rate schedules transformers' Trainer knows (lr_scheduler_type)."""
    from transformers import SchedulerType

    return [kind.value for kind in SchedulerType]


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
    where = overrides or "train"
    cfg = parse_section(TrainParams, overridden_train(params, overrides), where)
    choices = {"method": ("lora", "full"), "launcher": ("none", "ddp", "fsdp"),
               "dtype": ("auto", "bfloat16", "float16", "float32"),
               "device": ("auto", "cpu", "cuda")}
    for key, allowed in choices.items():
        value = getattr(cfg, key)
        if value not in allowed:
            raise InputError(f"params.yaml: {where}.{key} must be {' | '.join(allowed)}, "
                             f"got {value!r}")
    if cfg.launcher == "none" and cfg.num_processes != 1:
        raise InputError(f"params.yaml: {where}.num_processes is {cfg.num_processes}, but "
                         f"launcher none runs one process: set launcher ddp or fsdp")
    check_bounds(cfg, where, TRAIN_BOUNDS)
    if not cfg.lora.target_modules:
        raise InputError(f"params.yaml: {where}.lora.target_modules must name at least one "
                         f"module")
    schedules = scheduler_names()
    if cfg.lr_scheduler not in schedules:
        raise InputError(f"params.yaml: {where}.lr_scheduler must be one of "
                         f"{' | '.join(schedules)}, got {cfg.lr_scheduler!r}")
    if not 1 <= cfg.edit_weight < float("inf"):  # also rejects nan
        raise InputError(f"params.yaml: {where}.edit_weight must be >= 1 (1 = the plain "
                         f"loss; edits weigh about 3 in the GEC literature), got "
                         f"{cfg.edit_weight}")
    accumulation_steps(cfg, world_size(cfg), where)  # fails early on a batch that won't divide
    return cfg


def world_size(cfg: TrainParams) -> int:
    """Processes that train together: one without a launcher (one device, never
    nn.DataParallel over every visible GPU), num_processes under ddp / fsdp."""
    return 1 if cfg.launcher == "none" else cfg.num_processes


def accumulation_steps(cfg: TrainParams, world: int, where: str = "train") -> int:
    """Gradient accumulation that makes a step global_batch_size rows at this world size."""
    per_pass = cfg.per_device_batch_size * world
    if cfg.global_batch_size % per_pass:
        raise InputError(f"params.yaml: {where}.global_batch_size {cfg.global_batch_size} is not "
                         f"a multiple of per_device_batch_size {cfg.per_device_batch_size} x "
                         f"{world} process(es) = {per_pass}")
    return cfg.global_batch_size // per_pass
