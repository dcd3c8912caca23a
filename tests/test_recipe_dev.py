"""recipe-dev: variants as params overrides, the copy share, the shipped config."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stages.lib.copy_share import copy_share
from stages.lib.io import InputError
from stages.lib.params import load_params
from stages.recipe_dev import read_config, variant_params
from stages.train import parse_train

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_shipped_variants_are_valid_params(tmp_path: Path) -> None:
    """Every variant of recipe_dev.yaml merges into params.yaml as a train config the
    train stage accepts, and recipe-v1 keeps spelling out the first default recipe."""
    config = read_config(REPO_ROOT / "recipe_dev.yaml")
    for name, spec in config["variants"].items():
        if "adapter" in spec:
            continue
        path = variant_params(REPO_ROOT / "params.yaml", spec, tmp_path / f"{name}.yaml")
        cfg = parse_train(load_params(path))
        if name == config["reference"]:
            assert (cfg.learning_rate, cfg.lora.r, cfg.lora.target_modules) == (
                1e-3, 8, ["q_proj", "v_proj"])
    merged = load_params(variant_params(REPO_ROOT / "params.yaml",
                                        config["variants"]["changed-only"], tmp_path / "c.yaml"))
    grammar = merged["mixtures"]["writing-alpaca"]["components"]["grammar"]
    assert grammar["filters"]["drop_unchanged"] is True and grammar["corpus"] == "wi-locness-train"


def test_copy_rate_counts_outputs_equal_to_inputs(tmp_path: Path) -> None:
    rows = [{"id": "a", "input": "x y", "output": "x y "}, {"id": "b", "input": "x", "output": "z"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert copy_share(tmp_path) == {"d": 0.5}


def test_config_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"dev_benchmark": {}, "mixture": "m", "edit_example": "x",
                                    "reference": "nope", "variants": {"a": {}}}))
    with pytest.raises(InputError, match="reference 'nope' is not a variant"):
        read_config(path)
    path.write_text("variants: {}\n")
    with pytest.raises(InputError, match="recipe.yaml: missing key"):
        read_config(path)
