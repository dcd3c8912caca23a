"""The `predict` params section: typed and validated.

The one home of the predict settings, read by the predict stage and by `plan`
(which shows what each system will generate), so neither imports the other - as
stages/lib/training/train_config.py is for `train`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stages.lib.core.io import InputError
from stages.lib.core.params import Bound, check_bounds, parse_section
from stages.lib.inference.decoding import RECORD_KEYS, AnswerBudget, Decoding, DecodingError
from stages.lib.inference.systems import read_system


@dataclass
class PredictParams:
    """params.yaml `predict`: which items, and how outputs are generated. The defaults
    are params.yaml's (tests/test_params.py checks that they agree)."""

    max_items: int | None = 80  # per dataset; None = the full benchmark
    seed: int = 0  # item selection under max_items
    dtype: str = "float32"  # auto | bfloat16 | float32 | float16
    batch_size: int = 32
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps
    engine: str = "auto"  # one of stages.lib.inference.engines.ENGINE_NAMES, checked by its chooser
    merge_lora: bool = True  # fold a LoRA adapter into the weights in memory (faster)
    num_beams: int = 4  # 1 = greedy; 4 with the margin below: chosen on dev splits
    # Prefer a beam candidate that edits the input over a best one that copies it when
    # its length-normalised log-probability is within this margin (nats per token);
    # None or 0 = off (plain decoding). Needs num_beams >= 2.
    copy_margin: float | None = 0.5
    max_new_tokens_factor: float = 1.5  # x input tokens
    max_new_tokens_min: int = 16
    max_new_tokens_max: int = 128


PREDICT_BOUNDS = {"max_items": Bound(1), "seed": Bound(0), "batch_size": Bound(1)}


def decoding_of(cfg: PredictParams, names: dict[str, str] | None = None) -> Decoding:
    """The Decoding a predict section describes; an InputError naming the params key of
    a bad value or combination (`names` renames settings a command-line option has
    overridden, e.g. {"num_beams": "--num-beams"})."""
    try:
        return Decoding(cfg.num_beams, cfg.copy_margin,
                        AnswerBudget(cfg.max_new_tokens_factor, cfg.max_new_tokens_min,
                                     cfg.max_new_tokens_max))
    except DecodingError as exc:
        called = {key: f"predict.{key}" for key in RECORD_KEYS} | (names or {})
        raise InputError(f"params.yaml: {exc.named(called)}") from None


def parse_predict(params: dict[str, Any], system: str | None = None) -> PredictParams:
    """The validated `predict` section of loaded params (profile applied), with SYSTEM's
    own decoding settings (systems.<system>.predict) over it."""
    section = dict(params.get("predict") or {})
    own = read_system(params, system).predict if system is not None else {}
    if own:
        # a system's own values are checked under the key the user wrote them in
        parse_section(PredictParams, own, f"systems.{system}.predict")
    section.update(own)
    cfg = parse_section(PredictParams, section, "predict")
    check_bounds(cfg, "predict", PREDICT_BOUNDS)  # max_items: null = every item
    decoding_of(cfg, {key: f"systems.{system}.predict.{key}" for key in own})
    return cfg
