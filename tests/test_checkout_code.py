"""A stage runs the code of the checkout it runs in: DVC runs an experiment's stages in a
copy of the repository (`dvc exp run --temp`), and the editable install's `stages`
must not reach back into the checkout it was installed from (stages/__init__.py)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "writing-alpaca"
MARKER = "MARKER-OF-THE-COPY"


def copy_checkout(folder: Path, with_pipeline: bool) -> Path:
    shutil.copytree(REPO / "stages", folder / "stages",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cli = folder / "stages" / "cli.py"
    cli.write_text(cli.read_text(encoding="utf-8").replace(
        "Build, train, evaluate and publish writing-assistant adapters.", MARKER),
        encoding="utf-8")
    if with_pipeline:
        shutil.copy(REPO / "dvc.yaml", folder / "dvc.yaml")
    return folder


def run(cwd: Path, *command: str) -> str:
    done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=True,
                          timeout=120)
    return done.stdout


def test_the_command_runs_the_code_of_the_checkout_it_runs_in(tmp_path: Path) -> None:
    copy = copy_checkout(tmp_path / "copy", with_pipeline=True)
    assert MARKER in run(copy, str(CLI), "--help")
    # -I: the working directory is not on sys.path, as for the console script
    where = run(copy, sys.executable, "-I", "-c",
                "import stages.train; print(stages.train.__file__)")
    assert Path(where.strip()).resolve().is_relative_to(copy.resolve())


def test_a_folder_that_is_no_checkout_keeps_the_installed_code(tmp_path: Path) -> None:
    # a stages/ package without a dvc.yaml beside it is someone else's, never imported
    copy = copy_checkout(tmp_path / "other", with_pipeline=False)
    assert MARKER not in run(copy, str(CLI), "--help")
    assert MARKER not in run(tmp_path, str(CLI), "--help")
