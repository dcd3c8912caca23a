"""Across machines (docs/experiments.md, "Across machines"): two clones each run one
experiment of a sweep and push it, one with the documented line, one as an array task of
the Slurm job file (jobs/sweep.sbatch, auto-pushed through DVC_EXP_AUTO_PUSH); a third
clone pulls both and compares them with `dvc exp show` and `writing-alpaca recipe-table`
(paired Δ with 95% intervals). On a toy project sharing a bare git remote and a
local-folder DVC remote; its stage writes dev metrics as evaluate does (copied from
fixtures made by the real scorer, chosen by the learning rate) and a cached output."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import _setup

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DVC = BIN / "dvc"
SYSTEM = "writing-alpaca"
DEV_FILES = (f"{SYSTEM}.json", f"details/{SYSTEM}.json", f"items/{SYSTEM}.json")
# the toy "training": dev metrics of the fixture its learning rate picks, and a model
TOY_STAGE = f"""import shutil, yaml
rate = yaml.safe_load(open("params.yaml"))["train"]["learning_rate"]
variant = "tuned" if rate > 0.002 else "copy"
for name in {DEV_FILES!r}:
    shutil.copy(f"fixtures/{{variant}}/{{name}}", f"dev/metrics/{{name}}")
open("model.txt", "w").write(str(rate))
"""


def run(cwd: Path, *command: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "DVC_NO_ANALYTICS": "1", **(env or {})}
    done = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=180)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def seed_project(seed: Path, metrics: Path) -> None:
    """The toy project: fixtures of dev metrics (the copy and tuned systems of
    test_report, scored by evaluate's code), the stage and its dvc.yaml."""
    for variant, source in (("copy", "copy"), ("tuned", "tuned")):
        for name in DEV_FILES:
            target = seed / "fixtures" / variant / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(metrics / name.replace(SYSTEM, source), target)
    for folder in ("details", "items"):
        (seed / "dev" / "metrics" / folder).mkdir(parents=True, exist_ok=True)
    (seed / "toy_stage.py").write_text(TOY_STAGE)
    (seed / "params.yaml").write_text("train:\n  learning_rate: 0.001\n")
    (seed / "dvc.yaml").write_text(
        f"stages:\n  train:\n    cmd: {sys.executable} toy_stage.py\n"
        "    deps: [toy_stage.py, fixtures]\n    params: [train]\n"
        f"    metrics:\n      - dev/metrics/{SYSTEM}.json:\n          cache: false\n"
        "    outs:\n      - model.txt\n"
        f"      - dev/metrics/details/{SYSTEM}.json:\n          cache: false\n"
        f"      - dev/metrics/items/{SYSTEM}.json:\n          cache: false\n")


def documented_line() -> str:
    """The fan-out line of docs/experiments.md, as written there."""
    text = (REPO / "docs" / "experiments.md").read_text(encoding="utf-8")
    return next(line.strip() for line in text.splitlines()
                if line.strip().startswith("dvc pull && dvc exp run -n lr-3e-3"))


@pytest.mark.skipif(not DVC.is_file(), reason="needs the venv's dvc")
def test_two_machines_run_a_sweep_and_a_third_compares_it(tmp_path: Path) -> None:
    metrics, _, _ = _setup(tmp_path / "scored")
    origin, store, seed = tmp_path / "origin.git", tmp_path / "dvc-store", tmp_path / "seed"
    path = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    seed.mkdir()
    run(seed, "git", "init", "-q", "-b", "main")
    run(seed, str(DVC), "init", "-q")
    seed_project(seed, metrics)
    run(seed, str(DVC), "remote", "add", "-d", "store", str(store))
    run(seed, str(DVC), "repro", "-q")
    run(seed, "git", "add", "-A")
    run(seed, "git", "commit", "-q", "-m", "toy pipeline")
    run(seed, "git", "remote", "add", "origin", str(origin))
    run(seed, "git", "push", "-q", "origin", "main")
    run(seed, str(DVC), "push", "-q")
    machines = {}
    for name in ("a", "b", "c"):
        run(tmp_path, "git", "clone", "-q", str(origin), name)
        machines[name] = tmp_path / name
    # machine a: the documented line, one job of the sweep
    line = documented_line()
    assert line == ("dvc pull && dvc exp run -n lr-3e-3 -S 'train.learning_rate=3e-3' "
                    "&& dvc exp push origin lr-3e-3")
    run(machines["a"], "bash", "-c", line, env=path)
    # machine b: array task 1 of the Slurm job file, submitted from its checkout
    run(machines["b"], "bash", str(REPO / "jobs" / "sweep.sbatch"), env={
        "SLURM_SUBMIT_DIR": str(machines["b"]), "SLURM_ARRAY_TASK_ID": "1",
        "SLURM_ARRAY_JOB_ID": "7", "TMPDIR": str(tmp_path / "node-b"),
        "WRITING_ALPACA_VENV": str(BIN.parent)})
    # the machine that compares
    compare = machines["c"]
    for rate in ("3e-3", "1e-4"):
        run(compare, str(DVC), "exp", "pull", "origin", f"lr-{rate}")
    shown = json.loads(run(compare, str(DVC), "exp", "show", "--json"))
    scores = {}
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs") or []:
                data = revision.get("data") or {}
                dev = (data.get("metrics") or {}).get(f"dev/metrics/{SYSTEM}.json", {})
                if revision.get("name"):
                    scores[revision["name"]] = (dev.get("data") or {}).get("avg")
    expected = {variant: json.loads((metrics / f"{variant}.json").read_text())["avg"]
                for variant in ("copy", "tuned")}
    assert scores == {"lr-3e-3": expected["tuned"], "lr-1e-4": expected["copy"]}
    # recipe-table: each experiment against the baseline commit, paired, with intervals
    run(compare, str(BIN / "writing-alpaca"), "recipe-table", "--out", "recipe.md")
    table = (compare / "recipe.md").read_text(encoding="utf-8").splitlines()
    rows = {line.split("|")[1].strip(): line for line in table if line.startswith("| ")}
    gain = expected["tuned"] - expected["copy"]
    assert f"{gain:+.2f} [" in rows["lr-3e-3"] and "train.learning_rate=0.003" in rows["lr-3e-3"]
    assert "+0.00 [+0.00, +0.00], p 1.000" in rows["lr-1e-4"]
    # the outputs came with them: the compared experiment can be restored from the cache
    run(compare, str(DVC), "exp", "apply", "lr-3e-3")
    run(compare, str(DVC), "checkout", "-q")
    assert (compare / "model.txt").read_text() == "0.003"
