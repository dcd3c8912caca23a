"""params.yaml is the one home of defaults: every stage's dataclass default that
params.yaml also sets must be the same value, so code never silently falls back to
something else; and each profile defines the sections dvc.yaml tracks for it."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from stages.lib.core.io import InputError
from stages.lib.core.params import PROFILE_SECTIONS, load_params

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def section_classes() -> dict[str, type]:
    from stages.evaluate import EvaluateParams
    from stages.predict import PredictParams
    from stages.report import ReportParams
    from stages.train import TrainParams

    return {"train": TrainParams, "predict": PredictParams, "evaluate": EvaluateParams,
            "report": ReportParams}


def default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def disagreements(cls: type, values: dict[str, Any], where: str) -> list[str]:
    out = []
    for field in dataclasses.fields(cls):
        if field.name not in values:
            continue
        default, value = default_of(field), values[field.name]
        if default is dataclasses.MISSING:  # required: params.yaml is its only home
            continue
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            out += disagreements(type(default), value, f"{where}.{field.name}")
        elif default != value:
            out.append(f"{where}.{field.name}: code {default!r}, params.yaml {value!r}")
    return out


def test_code_defaults_equal_params_yaml() -> None:
    raw = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    problems = []
    for section, cls in section_classes().items():
        problems += disagreements(cls, raw[section], section)
    assert problems == []


def test_every_profile_defines_the_tracked_sections() -> None:
    raw = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    for name, overrides in raw["profiles"].items():
        assert set(PROFILE_SECTIONS) <= set(overrides), name


def test_profile_missing_a_section_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": "tiny", "profiles": {"tiny": {"train": {}}}}))
    with pytest.raises(InputError, match="profiles.tiny must list mixtures, predict, evaluate"):
        load_params(path)


def test_a_changed_top_level_key_that_the_profile_replaces_is_refused(tmp_path: Path) -> None:
    """`dvc exp run -S profile=paper -S predict.max_items=50` would score the full sets (the
    profile's null wins): the changed key is refused, naming the one to set instead."""
    import subprocess

    path = tmp_path / "params.yaml"
    settings = {"profile": "paper", "predict": {"max_items": 80, "num_beams": 4},
                "profiles": {"paper": {"mixtures": {}, "train": {}, "evaluate": {},
                                       "predict": {"max_items": None}}}}
    path.write_text(yaml.safe_dump(settings))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "params.yaml"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "params"], cwd=tmp_path, check=True)
    assert load_params(path)["predict"] == {"max_items": None, "num_beams": 4}
    settings["predict"]["num_beams"] = 1  # not the profile's: applied
    settings["mixtures"] = {"mine": {"components": {}}}  # the profile's `{}` keeps it
    path.write_text(yaml.safe_dump(settings))
    assert load_params(path)["predict"] == {"max_items": None, "num_beams": 1}
    assert load_params(path)["mixtures"] == {"mine": {"components": {}}}
    settings["predict"]["max_items"] = 50
    path.write_text(yaml.safe_dump(settings))
    with pytest.raises(InputError, match=r"predict.max_items is 50 here, but profile paper "
                                         r"sets it to None .*profiles.paper.predict.max_items"):
        load_params(path)
    settings["profiles"]["paper"]["predict"]["max_items"] = 50  # where the message points
    path.write_text(yaml.safe_dump(settings))
    assert load_params(path)["predict"]["max_items"] == 50


def test_writing_only_is_writing_alpaca_without_generic_data() -> None:
    from stages.lib.data.mixture_config import parse_mixture

    for profile in ("default", "paper"):
        params = load_params(PARAMS, profile)
        writing = parse_mixture(params, "writing-alpaca").components
        only = parse_mixture(params, "writing-only").components
        assert only == {k: v for k, v in writing.items() if k != "generic"}, profile


def test_build_lists_the_mixture_each_one_reads() -> None:
    """dvc.yaml re-runs mix@<name> on an edit of `mixtures.<reads>`: for a derived
    mixture that must be its parent, else the mixture itself."""
    params = load_params(PARAMS)
    for section in (params["build"]["mixtures"], params["grid"]["mixtures"]):
        for name, spec in section.items():
            assert spec["reads"] == params["mixtures"][name].get("derived_from", name), name


def test_runs_are_trainable_and_their_mixtures_declared() -> None:
    """Every run of the default build and of the grid names a declared mixture and
    overrides `train` into a valid config; the speed stage times one of the grid's
    systems, and every trained system is evaluated."""
    from stages.lib.plan.grid import runs
    from stages.mix import parse_mixture
    from stages.train import parse_train

    params = load_params(PARAMS)
    grid = params["grid"]
    for mixture in [*params["build"]["mixtures"], *grid["mixtures"]]:
        parse_mixture(params, mixture)
    for run in runs(params, ["grid"]):
        assert run.mixture in {**params["build"]["mixtures"], **grid["mixtures"]}, run
        cfg = parse_train(params, run.overrides)
        assert cfg.max_steps == params["train"]["max_steps"], run  # same steps for every run
        assert run.name in {**params["systems"], **grid["systems"]}, run
    assert parse_train(params, "grid.runs.writing-alpaca-full.train").method == "full"
    assert grid["speed"]["system"] in grid["systems"]
    assert set(grid["speed"]["datasets"].split(",")) <= set(params["benchmark"]["datasets"])
    # the default run builds no grid stage
    assert params["build"]["speed_beams"] == [] and params["build"]["findings"] == []


def test_the_grids_writing_adapters_decode_as_writing_alpaca() -> None:
    """The ablations (writing-only, full fine-tuning, gec-only against writing-alpaca)
    compare data and training, so their systems share writing-alpaca's decoding."""
    from stages.lib.inference.predict_config import parse_predict
    from stages.lib.plan.grid import grid_overrides

    params = load_params(PARAMS)
    with_grid = dict(params)
    with_grid["systems"] = {**params["systems"], **params["grid"]["systems"]}
    reference = parse_predict(with_grid, "writing-alpaca")
    assert reference.copy_margin  # else there would be nothing to share
    for system in params["grid"]["systems"]:
        cfg = parse_predict(with_grid, system)
        assert (cfg.num_beams, cfg.copy_margin) == (reference.num_beams,
                                                    reference.copy_margin), system
    # ... and the experiment adds each whole entry, decoding included
    overrides = grid_overrides(params)
    for system in params["grid"]["systems"]:
        assert f"+systems.{system}=${{grid.systems.{system}}}" in overrides, overrides


def test_unknown_profile_lists_each_known_one_once(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": "default", "profiles": {
        "default": {s: {} for s in PROFILE_SECTIONS}, "paper": {s: {} for s in PROFILE_SECTIONS}}}))
    with pytest.raises(InputError, match=r"profile 'gpu' is not defined \(known: default, paper\)$"):
        load_params(path, "gpu")
    assert load_params(path, "paper")["profile"] == "paper"  # another profile, file untouched
    assert yaml.safe_load(path.read_text())["profile"] == "default"


def test_every_default_run_is_a_declared_artifact() -> None:
    """dvc.yaml's artifacts (DVC's model registry) name exactly the default run's adapters,
    each the output of its ship stage (the folder with its card), and each run's
    system decodes what train wrote."""
    pipeline = yaml.safe_load((PARAMS.parent / "dvc.yaml").read_text(encoding="utf-8"))
    runs = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["build"]["runs"]
    artifacts = pipeline["artifacts"]
    assert {name: a["path"] for name, a in artifacts.items()} == {
        run: f"adapters/{run}" for run in runs}
    assert "adapters/${key}" in pipeline["stages"]["ship"]["do"]["outs"]
    assert "trained/${key}" in pipeline["stages"]["train"]["do"]["outs"]
    systems = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["systems"]
    assert all(systems[run]["adapter"] == f"trained/{run}" for run in runs)
    assert all(a["type"] == "model" for a in artifacts.values())
