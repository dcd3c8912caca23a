"""ladder: the paper's ladder on each base model -> reports/ladder.md (`make ladder`).

The paper climbs three rungs: a pre-trained base (LLaMA-7B), the base tuned on generic
instructions (Alpaca-7B), and tuned on generic plus writing instructions
(Writing-Alpaca-7B). params `ladder.rungs` names our three systems for each base. The
report shows every rung's scores with their 95% intervals beside the copy baseline and
the paper's rows; each step up a ladder as a paired difference (Δ = upper − lower rung,
its 95% interval, its p and the Holm-adjusted p over the whole table, the verdict
against the paper's step; stages/lib/evaluation/claims.py); and how often each rung
leaves its input unchanged. The prose is stages/templates/ladder.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path
from stages.lib.core.params import load_params, parse_section
from stages.lib.core.tables import markdown_table, score_cell
from stages.lib.data.benchmark_info import PAPER_ORDER, label, read_index
from stages.lib.evaluation.bootstrap import BootstrapParams
from stages.lib.evaluation.claims import (
    TASK_GROUPS,
    Claim,
    claims_table,
    copy_share_table,
    mixed_legend,
    paper_rows,
)
from stages.lib.evaluation.comparison import SystemResults
from stages.lib.inference.decoding_record import decoding_note

TEMPLATE = Path(__file__).parent / "templates" / "ladder.md"
COPY = "copy"
# what each step up the ladder tests, as the paper states it (sec. 3.6), and on what
STEPS = [("Instruction tuning helps", ("avg",)),
         ("Writing instruction data helps, though not on every task",
          ("avg", *TASK_GROUPS))]


@dataclass
class LadderParams:
    """params.yaml `ladder` (bases, runs and systems are what `make ladder` adds to the
    build; stages/lib/plan/grid.py reads them)."""

    rungs: dict[str, list[str]]          # base -> its systems, bottom rung first
    paper_rungs: list[str]               # the paper's rows for the same rungs
    bases: list[str] = field(default_factory=list)
    runs: dict[str, Any] = field(default_factory=dict)
    systems: dict[str, Any] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)


def read_ladder(params: dict[str, Any]) -> LadderParams:
    ladder = parse_section(LadderParams, params.get("ladder") or {}, "ladder")
    steps = len(STEPS) + 1
    for base, rungs in ladder.rungs.items():
        if len(rungs) != steps:
            raise InputError(f"params.yaml: ladder.rungs.{base}: {len(rungs)} systems, "
                             f"expected {steps} (untuned, generic, + writing)")
    if len(ladder.paper_rungs) != steps:
        raise InputError(f"params.yaml: ladder.paper_rungs: {len(ladder.paper_rungs)} rows, "
                         f"expected {steps}")
    return ladder


def ladder_claims(ladder: LadderParams) -> list[Claim]:
    """Each step of each base's ladder as a claim of the paper (Δ = upper − lower rung)."""
    paper = ladder.paper_rungs
    return [Claim(f"{base}: {text}", rungs[i], rungs[i + 1], paper[i], paper[i + 1], measures)
            for base, rungs in ladder.rungs.items()
            for i, (text, measures) in enumerate(STEPS)]


def scores_table(systems: dict[str, SystemResults], ladder: LadderParams,
                 paper: dict[str, dict[str, float]], datasets: list[str]) -> str:
    """Every rung of every base (and the copy baseline) per dataset and on Avg., each
    with the half-width of its 95% interval; the paper's rows below, in italics."""
    rows = []
    named = ([(COPY, "-")] if COPY in systems else []) + [
        (system, base) for base, rungs in ladder.rungs.items() for system in rungs]
    for system, base in named:
        results = systems[system].results
        rows.append([system, base, *(
            score_cell(results.score(d), results.interval(d).get("half_width"))
            for d in [*datasets, "avg"])])
    for row in ladder.paper_rungs:
        values = paper.get(row, {})
        rows.append([f"*{row} (paper)*", "LLaMA-7B", *(score_cell(values.get(d))
                                                       for d in [*datasets, "avg"])])
    return markdown_table(["System", "Base", *(label(d) for d in datasets), "Avg."], rows,
                          "ll" + "r" * (len(datasets) + 1))


def summary(rows: list[dict[str, Any]]) -> str:
    """One line per base: the Avg. step of each rung and its verdict."""
    lines = []
    for row in rows:
        if row["measure"] != "avg":
            continue
        low, high = row["ci95"]
        lines.append(f"- {row['claim']}: Avg. {row['delta']:+.2f} [{low:+.2f}, {high:+.2f}], "
                     f"Holm p {row['p_holm']:.3f} (paper {row['paper_delta']:+.2f}): "
                     f"**{row['verdict']}**")
    return "\n".join(lines)


@click.command("ladder")
@click.option("--metrics", "metrics_dir", required=True, type=click.Path(path_type=Path))
@click.option("--predictions", required=True, type=click.Path(path_type=Path))
@click.option("--benchmark", required=True, type=click.Path(path_type=Path))
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path))
def ladder(metrics_dir: Path, predictions: Path, benchmark: Path, params_path: str,
           out: Path) -> None:
    """The paper's ladder on each base (params `ladder`) -> OUT (markdown)."""
    params = load_params(params_path)
    spec = read_ladder(params)
    paper = paper_rows(params)
    missing_rows = [row for row in spec.paper_rungs if row not in paper]
    if missing_rows:
        raise InputError(f"params.yaml: ladder.paper_rungs: {missing_rows[0]} is not a row "
                         f"of report.reference_rows")
    names = [COPY, *(s for rungs in spec.rungs.values() for s in rungs)]
    absent = [n for n in names[1:] if not (metrics_dir / f"{n}.json").is_file()]
    if absent:
        raise InputError(f"{metrics_dir}: no metrics of {', '.join(absent)} (ladder.rungs; "
                         f"`make ladder` builds them)")
    systems = {n: SystemResults(metrics_dir, n) for n in names
               if (metrics_dir / f"{n}.json").is_file()}
    index = read_index(benchmark)
    datasets = [d for d in PAPER_ORDER if d in index]
    standins = {d for d, info in index.items() if info.get("standin")}
    decodings = {name: system.results.decoding_label for name, system in systems.items()}
    claims = ladder_claims(spec)
    table, rows = claims_table(claims, systems, paper, standins, decodings)
    bootstrap = BootstrapParams(**next(iter(systems.values())).items.bootstrap)
    rung_systems = [s for rungs in spec.rungs.values() for s in rungs]
    text = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        resamples=bootstrap.resamples, seed=bootstrap.seed,
        bases=", ".join(spec.rungs), scores_table=scores_table(systems, spec, paper, datasets),
        steps_table=table, summary=summary(rows), decodings=decoding_note(decodings),
        mixed_legend=mixed_legend(claims, systems, decodings),
        copy_share_table=copy_share_table(predictions, rung_systems, datasets))
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(summary(rows))
    click.echo(f"ladder -> {out}", err=True)
