"""The `systems` params section: what is evaluated, parsed once.

A system is a name, a folder and the base it runs on (a key of params `bases`): the
folder is a LoRA adapter, a full model (`models/<base>`), or a baseline that needs no
model (adapters/copy, whose baseline.json says output = input).
It may carry its own decoding settings (systems.<name>.predict), checked here for shape
and by stages/lib/inference/predict_config.py for their values. `make grid` adds the
grid's systems (params grid.systems) to these.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_json

COPY_BASELINE_FILE = "baseline.json"
# where train@<run> writes (dvc.yaml): trained/<run>, the folder the run's system decodes
TRAINED_DIR = Path("trained")

# what a system may decode differently (params systems.<name>.predict); every other
# predict setting is shared, so that all systems are scored on the same items
PER_SYSTEM = ("num_beams", "copy_margin")


def is_copy_baseline(folder: Path) -> bool:
    """A system folder holding baseline.json {"kind": "copy"} (adapters/copy): the
    copy-the-input baseline, which needs no model and generates nothing."""
    path = folder / COPY_BASELINE_FILE
    if not path.is_file():
        return False
    content = read_json(path)
    kind = content.get("kind") if isinstance(content, dict) else None
    if kind != "copy":
        raise InputError(f"{path}: unknown baseline kind {kind!r} (known: copy)")
    return True


@dataclass(frozen=True)
class System:
    """One entry of params `systems`: its folder and its own decoding settings."""

    name: str
    adapter: str  # as written in params (relative to the checkout)
    base: str = ""  # models/<base>; a key of params `bases`
    predict: dict[str, Any] = field(default_factory=dict)  # systems.<name>.predict

    @property
    def is_copy(self) -> bool:
        return is_copy_baseline(Path(self.adapter))


def _system(name: str, spec: Any) -> System:
    spec = spec or {}
    own = spec.get("predict") or {}
    where = f"params.yaml: systems.{name}.predict"
    if not isinstance(own, dict):
        raise InputError(f"{where} must be a mapping, got {own!r}")
    shared = sorted(set(own) - set(PER_SYSTEM))
    if shared:
        raise InputError(f"{where}.{shared[0]}: not a per-system setting (only "
                         f"{', '.join(PER_SYSTEM)}: the items and the rest of predict are "
                         f"shared by every system)")
    return System(name, str(spec.get("adapter", "")), str(spec.get("base", "")), own)


def read_systems(params: dict[str, Any], experiments: Sequence[str] = ()
                 ) -> dict[str, System]:
    """The systems of loaded params, in their order; then those each experiment section
    of `experiments` (`grid`, `ladder`) adds."""
    specs = dict(params.get("systems") or {})
    for section in experiments:
        specs.update((params.get(section) or {}).get("systems") or {})
    return {name: _system(name, spec) for name, spec in specs.items()}


def read_system(params: dict[str, Any], name: str) -> System:
    """One system of loaded params (an empty one when params do not name it)."""
    return _system(name, (params.get("systems") or {}).get(name))


def run_system_problem(systems: dict[str, System], run: str, trained: Path) -> str | None:
    """What is wrong with run `run`'s system, or None: every training run needs a system
    of its name that evaluates the folder train writes (`trained`), since ship@<run>
    puts that system's decoding and scores into the adapter's card."""
    system = systems.get(run)
    if system is None:
        return (f"systems.{run}: missing; every run needs a system of its name with "
                f"`adapter: {trained.as_posix()}` (its card carries that system's decoding "
                f"and scores)")
    if Path(system.adapter) != trained:
        return (f"systems.{run}.adapter is {system.adapter!r}, expected "
                f"{trained.as_posix()!r} (the folder train@{run} writes)")
    return None
