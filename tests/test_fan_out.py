"""Across machines (docs/experiments.md, "Across machines"): two clones each run one
experiment of a sweep and push it; a third pulls both and compares them. On a toy
project sharing a bare git remote and a local-folder DVC remote, with the documented
commands (`dvc exp run -n ... -S ...`, `dvc exp push origin`, `dvc exp pull origin`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DVC = Path(sys.executable).parent / "dvc"
STAGE = ("python -c \"import json, yaml; p = yaml.safe_load(open('params.yaml')); "
         "json.dump({'score': p['train']['learning_rate'] * 1000}, open('metrics.json', 'w')); "
         "open('model.txt', 'w').write(str(p['train']['learning_rate']))\"")


def run(cwd: Path, *command: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.skipif(not DVC.is_file(), reason="needs the venv's dvc")
def test_two_machines_run_a_sweep_and_a_third_compares_it(tmp_path: Path) -> None:
    origin, store, seed = tmp_path / "origin.git", tmp_path / "dvc-store", tmp_path / "seed"
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    seed.mkdir()
    run(seed, "git", "init", "-q", "-b", "main")
    run(seed, str(DVC), "init", "-q")
    (seed / "params.yaml").write_text("train:\n  learning_rate: 0.001\n")
    (seed / "dvc.yaml").write_text(
        f"stages:\n  train:\n    cmd: {json.dumps(STAGE)}\n    params:\n      - train\n"
        "    outs:\n      - model.txt\n    metrics:\n      - metrics.json:\n"
        "          cache: false\n")
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
    # each worker: the documented line, one job of the sweep
    for name, rate in (("a", "3e-3"), ("b", "1e-4")):
        worker = machines[name]
        run(worker, str(DVC), "pull", "-q")
        run(worker, str(DVC), "exp", "run", "-q", "-n", f"lr-{rate}", "-S",
            f"train.learning_rate={rate}")
        run(worker, str(DVC), "exp", "push", "origin", f"lr-{rate}")
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
                metrics = (data.get("metrics") or {}).get("metrics.json", {}).get("data", {})
                if revision.get("name"):
                    scores[revision["name"]] = metrics.get("score")
    assert scores == {"lr-3e-3": pytest.approx(3.0), "lr-1e-4": pytest.approx(0.1)}
    # the outputs came with them: the compared experiment can be restored from the cache
    run(compare, str(DVC), "exp", "apply", "lr-3e-3")
    run(compare, str(DVC), "checkout", "-q")
    assert (compare / "model.txt").read_text() == "0.003"
