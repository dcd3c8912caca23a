"""The DVC remote round trip on a tiny repo: repro, push, git clone, pull, nothing re-runs.

The tiny repo uses the project's own .dvc/config, so its default remote (a folder
beside the checkout, `../../dvc-remote` read from .dvc/) is what gets exercised: the
clone, a sibling folder, must find the same remote.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# the stage counts its runs in a file outside the repo, so a re-run cannot hide
STAGE_SCRIPT = """\
import pathlib, sys
pathlib.Path(sys.argv[1]).open("a").write("run\\n")
text = pathlib.Path("in.txt").read_text()
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/upper.txt").write_text(text.upper())
"""


def _run(cwd: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    # check=False: the assert below shows the output of a failing command
    done = subprocess.run(args, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


@pytest.mark.slow
def test_push_clone_pull_restores_outputs_without_rerun(tmp_path: Path) -> None:
    origin, clone, runs = tmp_path / "origin", tmp_path / "clone", tmp_path / "runs.log"
    origin.mkdir()
    _run(origin, "git", "init", "-q")
    _dvc(origin, "init", "-q")
    (origin / ".dvc" / "config").write_text(
        (REPO_ROOT / ".dvc" / "config").read_text(encoding="utf-8"), encoding="utf-8")
    (origin / "in.txt").write_text("hello remote\n")
    (origin / "upper.py").write_text(STAGE_SCRIPT)
    (origin / "dvc.yaml").write_text(
        "stages:\n  upper:\n"
        f"    cmd: {sys.executable} upper.py {runs}\n"
        "    deps: [in.txt, upper.py]\n    outs: [out]\n")
    _dvc(origin, "repro", "-q")
    assert runs.read_text() == "run\n"
    _dvc(origin, "push", "-q")
    assert (tmp_path / "dvc-remote" / "files" / "md5").is_dir()  # ../../dvc-remote of .dvc/
    _run(origin, "git", "add", "-A")
    _run(origin, "git", "commit", "-qm", "pipeline")

    _run(tmp_path, "git", "clone", "-q", str(origin), str(clone))
    assert not (clone / "out").exists()  # git carries dvc.lock, not the output
    _dvc(clone, "pull", "-q")
    assert (clone / "out" / "upper.txt").read_text() == "HELLO REMOTE\n"
    assert "up to date" in _dvc(clone, "status")
    assert "in sync" in _dvc(clone, "status", "--cloud")  # cache == the default remote
    assert "didn't change, skipping" in _dvc(clone, "repro")
    assert runs.read_text() == "run\n"  # pulled, never re-run
