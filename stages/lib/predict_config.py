"""The `predict` params section: typed and validated.

The one home of the predict settings, read by the predict stage and by `plan`
(which shows what each system will generate), so neither imports the other - as
stages/lib/train_config.py is for `train`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stages.lib.io import InputError
from stages.lib.params import parse_section


@dataclass
class PredictParams:
    """params.yaml `predict`: which items, and how outputs are generated. The defaults
    are params.yaml's (tests/test_params.py checks that they agree)."""

    max_items: int | None = 80  # per dataset; None = the full benchmark
    seed: int = 0  # item selection under max_items
    dtype: str = "float32"  # auto | bfloat16 | float32 | float16
    batch_size: int = 32
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps
    engine: str = "auto"  # one of stages.lib.engines.ENGINE_NAMES, checked by its chooser
    merge_lora: bool = True  # fold a LoRA adapter into the weights in memory (faster)
    num_beams: int = 1  # 1 = greedy
    max_new_tokens_factor: float = 1.5  # x input tokens
    max_new_tokens_min: int = 16
    max_new_tokens_max: int = 128


def parse_predict(params: dict[str, Any]) -> PredictParams:
    """The validated `predict` section of loaded params (profile applied)."""
    cfg = parse_section(PredictParams, params.get("predict") or {}, "predict")
    if cfg.max_items is not None and cfg.max_items < 1:
        raise InputError(f"params.yaml: predict.max_items must be >= 1 or null, "
                         f"got {cfg.max_items}")
    return cfg
