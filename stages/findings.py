"""findings: the paper's claims, tested on this run's systems -> reports/findings.md.

Each claim compares two of our systems (Δ = B − A) on a measure: one dataset, the mean
of a task group's datasets, or the benchmark average. Δ comes with the 95% interval and
the two-sided p of the paired bootstrap (stages/lib/evaluation/bootstrap.py, the same resamples as
`compare`), beside the paper's Δ for the same pair of rows (params report.reference_rows,
Table 4; grid.paper_rows for Table 7's LLaMA-7B-GEC). The verdict is "reproduced" when
our Δ has the paper's sign at Holm-adjusted p < 0.05 (the whole table is one family of
tests), "contradicted" when it has the opposite sign at Holm-adjusted
p < 0.05, and "inconclusive" otherwise.

Two more tables: named-entity edits (sec. 4.2: the share of a system's GEC edits that
touch a named entity, against the share of the gold edits on the same items), and
Table 7's speed column (items/s greedy vs beam search, from the speed stages). The prose
around the tables is stages/templates/findings.md.
"""
from __future__ import annotations

from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from stages.lib.core.io import InputError, atomic_path, read_json
from stages.lib.core.params import load_params
from stages.lib.core.tables import markdown_table
from stages.lib.data.benchmark_info import PAPER_ORDER, label, read_index
from stages.lib.evaluation.bootstrap import (
    BootstrapParams,
    interval,
    p_value,
    resample_indices,
)
from stages.lib.evaluation.claims import (
    TASK_GROUPS,
    Claim,
    claims_table,
    copy_share_table,
    mixed_legend,
    paper_rows,
    verdict,
)
from stages.lib.evaluation.comparison import SystemResults
from stages.lib.evaluation.evaluate_config import parse_evaluate
from stages.lib.inference.decoding_record import decoding_note

if TYPE_CHECKING:
    from stages.lib.metrics.m2format import M2Block

GEC_SETS = ["conll", "bea"]
# The report's prose, with $placeholders for the tables and numbers filled in here.
TEMPLATE = Path(__file__).parent / "templates" / "findings.md"


CLAIMS = [
    Claim("Instruction tuning helps (sec. 3.6)", "base", "alpaca", "LLaMA-7B", "Alpaca-7B",
          ("avg",)),
    Claim("Writing instruction data helps, though not on every task (sec. 3.6)", "alpaca",
          "writing-alpaca", "Alpaca-7B", "Writing-Alpaca-7B", ("avg", *TASK_GROUPS)),
    Claim("Dropping the generic data hurts the held-out paraphrase set and the average "
          "(sec. 3.7)", "writing-alpaca", "writing-only", "Writing-Alpaca-7B",
          "- Generic instruction data", ("sts", "avg")),
    Claim("Full fine-tuning beats LoRA (sec. 3.7)", "writing-alpaca", "writing-alpaca-full",
          "Writing-Alpaca-7B", "LoRA→Full Fine-tuning", ("avg",)),
    Claim("Task-only data helps that task more (sec. 4.1, Table 7)", "writing-alpaca",
          "gec-only", "Writing-Alpaca-7B", "LLaMA-7B-GEC", ("conll", "bea")),
]


def gold_edits(block: str | M2Block) -> list[Any]:
    """The first annotator's gold edits of an M2 block (no-op annotations dropped)."""
    from stages.lib.metrics.m2format import parse_block

    parsed = parse_block(block)
    by_annotator = parsed.edits_by_annotator()
    return by_annotator[min(by_annotator)] if by_annotator else []


def ne_counts(benchmark: Path, predictions: Path, dataset: str, ner_model: str
              ) -> tuple[list[str], np.ndarray]:
    """Item ids and per item (system edits, of them touching an entity, gold edits, of
    them touching an entity), on the items the system predicted."""
    from stages.lib.evaluation.gec_analysis import ne_touch_counts
    from stages.lib.evaluation.predictions import align_predictions, gec_inputs

    items, outputs = align_predictions(benchmark, predictions, dataset)
    inputs = gec_inputs(items, outputs)  # the same tokenization and edits as `evaluate`
    system = ne_touch_counts(inputs.sources, inputs.hyp_edits, ner_model)
    gold = ne_touch_counts(inputs.sources, [gold_edits(block) for block in inputs.gold],
                           ner_model)
    return [item["id"] for item in items], np.array(
        [[*s, *g] for s, g in zip(system, gold)], dtype=np.int64)


def ne_table(system: str, counts: dict[str, np.ndarray], bootstrap: BootstrapParams) -> str:
    """Share of edits touching an entity, system vs gold, with the paired interval of Δ."""
    rows: list[list[str]] = []
    for dataset, table in counts.items():
        resampled = resample_indices(len(table), f"ne:{dataset}", bootstrap)
        sums = table[resampled].sum(axis=1)  # (resamples, 4)
        with np.errstate(divide="ignore", invalid="ignore"):
            deltas = 100 * (sums[:, 1] / sums[:, 0] - sums[:, 3] / sums[:, 2])
        deltas = deltas[np.isfinite(deltas)]
        total = table.sum(axis=0)
        if total[0] == 0 or total[2] == 0 or not len(deltas):
            rows.append([label(dataset), f"{total[1]} / {total[0]}", f"{total[3]} / {total[2]}",
                         "n/a", "", "", "inconclusive"])
            continue
        delta = 100 * (total[1] / total[0] - total[3] / total[2])
        low, high = interval(deltas)
        rows.append([label(dataset), f"{total[1]} / {total[0]} ({100 * total[1] / total[0]:.1f}%)",
                     f"{total[3]} / {total[2]} ({100 * total[3] / total[2]:.1f}%)",
                     f"{delta:+.1f}", f"[{low:+.1f}, {high:+.1f}]", f"{p_value(deltas):.3f}",
                     f"**{verdict(1.0, delta, p_value(deltas))}**"])
    return markdown_table(["Set", f"{system}: NE edits / edits", "gold: NE edits / edits",
                           "Δ share (pts)", "95% CI", "p", "verdict"], rows, "lrrrlrl")


def speed_table(speed: Path) -> str:
    rows = []
    for folder in sorted(speed.glob("beam*"), key=lambda p: int(p.name[4:] or 0)):
        timing = read_json(folder / "timing.json")
        scores = read_json(folder / "scores.json")
        rows.append([timing["system"], str(timing["num_beams"]), str(timing["items"]),
                     f"{timing['items_per_s']:.2f}",
                     *(f"{scores[d]:.2f}" if d in scores else "-" for d in GEC_SETS),
                     (f"{timing['inference']}, batch {timing['batch_size']}, "
                      f"{timing['torch_threads']} threads")])
    return markdown_table(["System", "beams", "items", "items/s",
                           *(f"{label(d)} F0.5" for d in GEC_SETS), "inference"],
                          rows, "lrrr" + "r" * len(GEC_SETS) + "l")


def load_systems(metrics_dir: Path) -> dict[str, SystemResults]:
    return {path.stem: SystemResults(metrics_dir, path.stem)
            for path in sorted(metrics_dir.glob("*.json"))}


@click.command()
@click.option("--metrics", "metrics_dir", required=True, type=click.Path(path_type=Path),
              help="The metrics folder of every system (the grid's included).")
@click.option("--speed", required=True, type=click.Path(path_type=Path),
              help="The speed stages' folder: beam<N>/timing.json and scores.json.")
@click.option("--predictions", required=True, type=click.Path(path_type=Path))
@click.option("--benchmark", required=True, type=click.Path(path_type=Path))
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--ne-system", default="writing-alpaca", show_default=True,
              help="System whose GEC edits are checked for named entities.")
@click.option("--out", required=True, type=click.Path(path_type=Path))
def findings(metrics_dir: Path, speed: Path, predictions: Path,
             benchmark: Path, params_path: str, ne_system: str, out: Path) -> None:
    """Test the paper's claims on this run's systems -> OUT (markdown)."""
    params = load_params(params_path)
    paper = paper_rows(params)
    paper.update((params.get("grid") or {}).get("paper_rows") or {})
    systems = load_systems(metrics_dir)
    if not systems:
        raise InputError(f"{metrics_dir}: no metrics files")
    index = read_index(benchmark)
    standins = {d for d, info in index.items() if info.get("standin")}
    decodings = {name: system.results.decoding_label for name, system in systems.items()}
    table, rows = claims_table(CLAIMS, systems, paper, standins, decodings)
    bootstrap = BootstrapParams(**next(iter(systems.values())).items.bootstrap)
    ner_model = parse_evaluate(params).ner_model
    ne = {d: ne_counts(benchmark, predictions / ne_system, d, ner_model)[1]
          for d in GEC_SETS if d in index and (predictions / ne_system / f"{d}.jsonl").is_file()}
    ne_results = systems[ne_system].results if ne_system in systems else None
    n_items = {d: ne_results.datasets[d]["n"]
               for d in GEC_SETS if ne_results and d in ne_results.scores}
    tallies: dict[str, int] = {}
    for row in rows:
        tallies[row["verdict"]] = tallies.get(row["verdict"], 0) + 1
    text = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        resamples=bootstrap.resamples, seed=bootstrap.seed, claims_table=table,
        verdicts=", ".join(f"{n} {v}" for v, n in sorted(tallies.items())), ne_system=ne_system,
        ne_items=", ".join(f"{label(d)} {n}" for d, n in n_items.items()),
        ne_table=ne_table(ne_system, ne, bootstrap) if ne else "(no GEC predictions)",
        copy_share_table=copy_share_table(predictions, [s for s in systems if decodings[s]],
                                          [d for d in PAPER_ORDER if d in index]),
        speed_table=speed_table(speed) if speed.is_dir() else "(no timings)",
        decodings=decoding_note(decodings),
        mixed_legend=mixed_legend(CLAIMS, systems, decodings))
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(table)
    click.echo(f"findings -> {out}", err=True)
