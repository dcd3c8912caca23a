"""plan: what a profile will run on a given machine, before a GPU-hour is spent.

Not a pipeline stage: it reads params.yaml (the chosen profile applied), whatever of
data/ is already built, and the base model's config.json, and prints per training run
the mixture's rows, the optimizer steps, rows per step (per-device x processes x
accumulation), epochs, the compute dtype on that machine, launcher and world size, and
a per-device memory estimate (stages/lib/plan/memory_estimate.py); then per system the
benchmark items it will generate and its dtype and engine. A WARNING line says what
would waste the machine or not fit; an ERROR line what would stop the run (and the
command then exits 1 after printing the plan).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from stages.lib.core.params import load_params
from stages.lib.data.mixture_config import parse_mixture
from stages.lib.data.mixture_size import CorpusCounts, MixtureSize, built_size, estimate_size
from stages.lib.inference.systems import TRAINED_DIR, read_systems, run_system_problem
from stages.lib.plan.grid import Run
from stages.lib.plan.grid import runs as build_runs
from stages.lib.plan.plan_model import (
    Machine,
    Problem,
    RunPlan,
    SystemPlan,
    check_driver,
    check_torch_build,
    plan_run,
    plan_systems,
)
from stages.lib.plan.plan_render import render
from stages.lib.training.train_config import parse_train

MIRROR_ENV = "WRITING_ALPACA_MIRROR"
DEFAULT_MIRROR = Path("../shared/corpora")  # the Makefile's offline default


def load_profile(path: Path, profile: str | None) -> tuple[dict[str, Any], str]:
    """Params with PROFILE applied (None: the file's own `profile`) and its name."""
    params = load_params(path, profile)
    return params, params.get("profile", "default")


def mixtures_to_size(params: dict[str, Any], runs: list[Run], experiments: Sequence[str]
                     ) -> list[str]:
    """build.mixtures, then the experiments' mixtures (the grid's), then any other mixture
    a run trains on."""
    names = list((params.get("build") or {}).get("mixtures") or [])
    for section in experiments:
        names += (params.get(section) or {}).get("mixtures") or []
    return list(dict.fromkeys(names + [run.mixture for run in runs]))


def size_mixtures(params: dict[str, Any], names: list[str], mixtures_dir: Path,
                  counts: CorpusCounts) -> dict[str, MixtureSize]:
    sizes: dict[str, MixtureSize] = {}
    for name in names:
        mixture = parse_mixture(params, name)
        built, why_not = built_size(mixtures_dir / name, name, mixture)
        size = built or estimate_size(name, mixture, counts)
        if why_not and (mixtures_dir / name).is_dir():
            size.problems.append(("WARNING", f"{why_not}: rows estimated instead"))
        sizes[name] = size
    return sizes


def default_mirror() -> Path | None:
    path = Path(os.environ[MIRROR_ENV]) if os.environ.get(MIRROR_ENV) else DEFAULT_MIRROR
    return path if path.is_dir() else None


def read_corpora_params(path: Path) -> dict[str, Any] | None:
    return load_params(path) if path.is_file() else None


def base_config_files(values: tuple[str, ...], bases: dict[str, Any]
                      ) -> dict[str | None, Path]:
    """--base-config values -> base name (None: every base) -> config.json path. A value
    is BASE=FILE when BASE names a base of params `bases`, else a FILE for every base."""
    files: dict[str | None, Path] = {}
    for value in values:
        name, sep, file = value.partition("=")
        if sep and name in bases:
            files[name] = Path(file)
        else:
            files[None] = Path(value)
    return files


@click.command("plan")
@click.option("--profile", default=None, help="Profile to plan (default: params.yaml's).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(path_type=Path))
@click.option("--gpus", type=click.IntRange(min=0), default=1, show_default=True,
              help="GPUs of the machine; 0 = CPU only.")
@click.option("--gpu-memory", type=click.FloatRange(min=0, min_open=True), default=None,
              help="GiB per GPU; a run whose estimate exceeds it gets a WARNING.")
@click.option("--gpu-capability", type=click.FloatRange(min=1.0), default=9.0,
              show_default=True, help="CUDA compute capability; below 8.0 no native bf16 "
              "(V100 7.0, T4 7.5), so `auto` means fp16.")
@click.option("--gpu-driver", default=None, metavar="VERSION",
              help="NVIDIA driver version of the machine (nvidia-smi), e.g. 535.104.05: "
                   "checked against the CUDA of the torch it will run.")
@click.option("--base-config", "base_configs", multiple=True, metavar="[BASE=]FILE",
              help="A base model's config.json: FILE for every run, or BASE=FILE for the "
                   "runs on one base of params `bases` (repeatable; default: each run's "
                   "models/<base>/config.json when built).")
@click.option("--mixtures-dir", type=click.Path(path_type=Path), default=Path("data/mixtures"),
              show_default=True)
@click.option("--corpora-dir", type=click.Path(path_type=Path), default=Path("data/corpora"),
              show_default=True)
@click.option("--benchmark", type=click.Path(path_type=Path), default=Path("data/benchmark"),
              show_default=True, help="Built benchmark (index.json sizes), when there is one.")
@click.option("--corpora-params", type=click.Path(path_type=Path), default=Path("corpora.yaml"),
              show_default=True)
@click.option("--mirror", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Corpus mirror (default: ${MIRROR_ENV}, else {DEFAULT_MIRROR}).")
@click.option("--grid/--no-grid", default=True, show_default=True,
              help="Also plan the grid's runs and systems (params `grid`).")
@click.option("--ladder/--no-ladder", default=True, show_default=True,
              help="Also plan the ladder's runs and systems on its bases (params `ladder`).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(profile: str | None, params_path: Path, gpus: int, gpu_memory: float | None,
         gpu_capability: float, gpu_driver: str | None, base_configs: tuple[str, ...],
         mixtures_dir: Path,
         corpora_dir: Path, benchmark: Path, corpora_params: Path, mirror: Path | None,
         grid: bool, ladder: bool, as_json: bool) -> None:
    """Show what a profile will train and predict on a machine, with a memory estimate."""
    from stages.lib.plan.memory_estimate import read_model_shape

    params, profile_name = load_profile(params_path, profile)
    if gpu_driver is not None and not re.fullmatch(r"\d+(\.\d+)*", gpu_driver):
        raise click.BadParameter(f"{gpu_driver!r}: a version such as 535.104.05",
                                 param_hint="--gpu-driver")
    machine = Machine(gpus, gpu_memory, gpu_capability, gpu_driver)
    experiments = [name for name, wanted in (("grid", grid), ("ladder", ladder)) if wanted]
    runs = build_runs(params, experiments)
    given = base_config_files(base_configs, params.get("bases") or {})
    configs = {run.base: given.get(run.base) or given.get(None)
               or Path("models", run.base, "config.json") for run in runs}
    shapes = {base: read_model_shape(config)
              if base in given or None in given or config.is_file() else None
              for base, config in configs.items()}
    names = mixtures_to_size(params, runs, experiments)
    counts = CorpusCounts(corpora_dir, mirror or default_mirror(),
                          read_corpora_params(corpora_params))
    sizes = size_mixtures(params, names, mixtures_dir, counts)
    problems = [Problem(level, text, [f"mixture {name}"])
                for name, size in sizes.items() for level, text in size.problems]
    check_torch_build(machine, problems)
    check_driver(machine, problems)
    run_plans: list[RunPlan] = [
        plan_run(run.name, run.mixture, run.base, parse_train(params, run.overrides),
                 sizes[run.mixture], machine, shapes[run.base], problems, run.origin)
        for run in runs]
    systems: list[SystemPlan] = plan_systems(params, experiments, machine, benchmark,
                                             counts.declared, problems)
    declared = read_systems(params, experiments)
    for run in runs:  # ship@<run> would stop after the training and evaluation
        if (problem := run_system_problem(declared, run.name, TRAINED_DIR / run.name)):
            problems.append(Problem("ERROR", f"{params_path}: {problem}", [f"run {run.name}"]))
    result = {"profile": profile_name, "params": str(params_path),
              "machine": dataclasses.asdict(machine),
              "bases": {base: None if shape is None else {
                  "config": shape.source, "model_type": shape.model_type,
                  "params": shape.params} for base, shape in shapes.items()},
              "mixtures": [dataclasses.asdict(s) for s in sizes.values()],
              "runs": [dataclasses.asdict(r) for r in run_plans],
              "systems": [dataclasses.asdict(s) for s in systems],
              "problems": [dataclasses.asdict(p) for p in problems]}
    click.echo(json.dumps(result, indent=2) if as_json else render(result))
    errors = sum(p.level == "ERROR" for p in problems)
    if errors:
        raise click.ClickException(f"plan: {errors} ERROR line(s): this run would stop")
