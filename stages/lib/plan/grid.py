"""What a run builds: params `build` (the default run, `dvc repro`) and the grid on top.

dvc.yaml defines each stage kind once; its mix, train, speed and findings stages iterate
over `build` and its predict, evaluate and dev stages over `systems`. The grid (params
`grid`) is not a second pipeline: `make grid` runs one DVC experiment whose `-S`
overrides add the grid's mixtures, runs and systems to those same sections and switch on
the speed and findings stages. The overrides interpolate the grid's own entries
(`${grid.runs.gec-only}`), so the experiment's params.yaml holds their values as
params.yaml declares them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stages.lib.core.io import InputError

# grid section -> the section of the build it adds its entries to
ADDED_ENTRIES = {"mixtures": "build.mixtures", "runs": "build.runs", "systems": "systems"}
# build key -> the grid's value it takes (empty in the default run)
SWITCHED = {"build.speed_beams": "grid.speed.beams", "build.findings": "grid.findings"}


@dataclass(frozen=True)
class Run:
    name: str          # adapters/<name>
    mixture: str       # data/mixtures/<mixture>
    base: str          # models/<base>: a key of params `bases`
    overrides: str     # dotted params key of its `train` overrides
    origin: str        # build | grid


def grid_overrides(params: dict[str, Any]) -> list[str]:
    """The `dvc exp run -S` overrides that turn the default run into the grid."""
    grid = params.get("grid") or {}
    overrides = []
    for section, target in ADDED_ENTRIES.items():
        for key in grid.get(section) or {}:
            overrides.append(f"+{target}.{key}=${{grid.{section}.{key}}}")
    overrides += [f"{target}=${{{source}}}" for target, source in SWITCHED.items()]
    return overrides


def runs(params: dict[str, Any], with_grid: bool) -> list[Run]:
    """Every training run of `build.runs` (and with_grid: of `grid.runs`)."""
    found: list[Run] = []
    sections = [("build", "build.runs")] + ([("grid", "grid.runs")] if with_grid else [])
    for origin, where in sections:
        section, _, key = where.partition(".")
        for name, spec in ((params.get(section) or {}).get(key) or {}).items():
            for key in ("mixture", "base"):
                if not isinstance(spec, dict) or not isinstance(spec.get(key), str):
                    raise InputError(f"params.yaml: {where}.{name} needs a {key}")
            found.append(Run(name, spec["mixture"], spec["base"], f"{where}.{name}.train",
                             origin))
    return found
