"""writing-alpaca: DVC stages and CLI for writing-assistant instruction tuning.

A stage runs the code of the checkout it runs in. `writing-alpaca` is an editable
install that maps `stages` to the checkout it was installed from, but DVC runs an
experiment's stages in a copy of the repository (`dvc exp run --temp`, `--queue`:
.dvc/tmp/exps/...), whose dvc.lock records the hashes of the copy's stages/*.py. When the
working directory is another checkout (a dvc.yaml beside a stages/ package), its stages/
is where every submodule is imported from, so the experiment runs the code it records,
not whatever the installed checkout holds by then.
"""
from __future__ import annotations

from pathlib import Path


def _checkout_here() -> Path | None:
    """The working directory's stages/ when it is another checkout's, else None."""
    try:
        local = (Path.cwd() / "stages").resolve()
    except OSError:  # a working directory that no longer exists
        return None
    if local == Path(__file__).resolve().parent:
        return None
    if (local / "__init__.py").is_file() and (local.parent / "dvc.yaml").is_file():
        return local
    return None


if (_local := _checkout_here()) is not None:
    __path__ = [str(_local)]  # submodules are found through the package's path
