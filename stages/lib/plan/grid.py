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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stages.lib.core.io import InputError

# grid section -> the section of the build it adds its entries to
ADDED_ENTRIES = {"mixtures": "build.mixtures", "runs": "build.runs", "systems": "systems"}
# per experiment section (params `grid`, `ladder`): build key -> the value it takes there
# (empty in the default run), and the report the experiment writes
SWITCHED = {"grid": {"build.speed_beams": "grid.speed.beams", "build.findings": "grid.findings"},
            "ladder": {"build.ladders": "ladder.reports"}}
REPORTS = {"grid": "reports/findings.md", "ladder": "reports/ladder.md"}
# the run-time report of each experiment's own stages (`writing-alpaca timings`)
TIME_REPORTS = {"grid": "reports/grid-performance.md", "ladder": "reports/ladder-performance.md"}


@dataclass(frozen=True)
class Run:
    name: str          # adapters/<name>
    mixture: str       # data/mixtures/<mixture>
    base: str          # models/<base>: a key of params `bases`
    overrides: str     # dotted params key of its `train` overrides
    origin: str        # build, or the experiment section that adds it (grid, ladder)


def grid_overrides(params: dict[str, Any], section: str = "grid") -> list[str]:
    """The `dvc exp run -S` overrides that turn the default run into the experiment of
    params SECTION (`grid`: the ablations; `ladder`: the rungs on other bases). Its
    `bases` join build.bases (a list, so written out whole)."""
    if section not in SWITCHED:
        raise InputError(f"unknown experiment section {section!r}; known: "
                         f"{', '.join(SWITCHED)}")
    spec = params.get(section) or {}
    overrides = []
    for part, target in ADDED_ENTRIES.items():
        for key in spec.get(part) or {}:
            overrides.append(f"+{target}.{key}=${{{section}.{part}.{key}}}")
    built = list((params.get("build") or {}).get("bases") or [])
    added = [base for base in spec.get("bases") or [] if base not in built]
    if added:
        overrides.append(f"build.bases=[{','.join(built + added)}]")
    overrides += [f"{target}=${{{source}}}" for target, source in SWITCHED[section].items()]
    return overrides


def runs(params: dict[str, Any], experiments: Sequence[str] = ()) -> list[Run]:
    """Every training run of `build.runs`, then of each experiment section's `runs`
    (`grid`, `ladder`: what its experiment adds)."""
    found: list[Run] = []
    sections = [("build", "build.runs"), *((name, f"{name}.runs") for name in experiments)]
    for origin, where in sections:
        section, _, key = where.partition(".")
        for name, spec in ((params.get(section) or {}).get(key) or {}).items():
            for key in ("mixture", "base"):
                if not isinstance(spec, dict) or not isinstance(spec.get(key), str):
                    raise InputError(f"params.yaml: {where}.{name} needs a {key}")
            found.append(Run(name, spec["mixture"], spec["base"], f"{where}.{name}.train",
                             origin))
    return found
