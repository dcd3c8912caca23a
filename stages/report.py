"""report: all systems' metrics -> reports/table.md and PNG charts (paper Table 4 shape).

The table has one row per evaluated system (params `systems` order) and one column
per dataset in the paper's order plus the average; the paper's published rows
(params report.reference_rows, transcribed from Table 4) follow as clearly labelled
reference rows. Notes under the table say which datasets are stand-ins and how many
items each score is based on (predict.max_items caps). Charts (matplotlib, Agg backend):
per-dataset grouped bars across systems, the GEC edit actions per system (paper
Figure 1), and the training loss curves from the DVCLive folders dvclive/<system>/.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path
from stages.lib.core.params import load_params
from stages.lib.core.tables import markdown_table, score_cell
from stages.lib.data.benchmark_info import PAPER_ORDER, in_paper_order, label
from stages.lib.evaluation.comparison import SystemResults, compare_systems, compare_table
from stages.lib.evaluation.results import Results
from stages.lib.inference.decoding_record import decoding_note
from stages.lib.inference.systems import System, read_systems
from stages.lib.training.training_log import LOSS_CURVE, read_loss_curve


@dataclass
class ReportParams:
    """params.yaml `report`."""

    # published rows: name -> scores in `reference_columns` order (last = paper's average)
    reference_rows: dict[str, list[float]]
    reference_source: str
    reference_columns: list[str] = field(default_factory=lambda: [*PAPER_ORDER, "avg"])
    # every other system is compared with each of these (paired bootstrap, 95% intervals)
    baselines: list[str] = field(default_factory=lambda: ["copy", "alpaca"])
    dpi: int = 120


def read_params(path: Path) -> tuple[dict[str, System], ReportParams]:
    """The systems and the report section."""
    from stages.lib.core.params import parse_section

    data = load_params(path)
    systems = read_systems(data)
    params = parse_section(ReportParams, data.get("report") or {}, "report")
    for name, row in params.reference_rows.items():
        if len(row) != len(params.reference_columns):
            raise InputError(f"params.yaml: report.reference_rows.{name} has {len(row)} values, "
                             f"expected {len(params.reference_columns)} (reference_columns)")
    return systems, params


def load_results(metrics_dir: Path, systems: list[str]) -> dict[str, SystemResults]:
    """system -> its scores, details and per-item statistics, each file read once."""
    return {system: SystemResults(metrics_dir, system) for system in systems}


def dataset_columns(metrics: dict[str, Results]) -> list[str]:
    """Datasets found in any metrics file: the paper's order first, then any others."""
    return in_paper_order({d for m in metrics.values() for d in m.datasets})


def _half_width(m: Results, key: str) -> Any:
    return m.interval(key).get("half_width")


def render_table(metrics: dict[str, Results], params: ReportParams,
                 decodings: dict[str, str | None] | None = None,
                 bases: dict[str, str] | None = None) -> str:
    columns = dataset_columns(metrics)
    infos: dict[str, dict[str, Any]] = {}
    for m in metrics.values():
        for d, info in m.datasets.items():
            infos.setdefault(d, info)
    standins = [d for d in columns if infos[d].get("standin")]
    head = [label(d) + ("†" if d in standins else "") for d in columns]
    rows = [[system, *(score_cell(m.score(d), _half_width(m, d)) for d in [*columns, "avg"])]
            for system, m in metrics.items()]
    for name, row in params.reference_rows.items():
        ref = dict(zip(params.reference_columns, row))
        rows.append([f"*{name} (paper, reference)*",
                     *(score_cell(ref.get(d)) for d in [*columns, "avg"])])
    lines = ["# Writing benchmark results (paper Table 4 layout)", "",
             markdown_table(["System", *head, "Avg."], rows, "l" + "r" * (len(columns) + 1))]
    n_items = " · ".join(f"{label(d)} {infos[d].get('n')}/{infos[d].get('size')}"
                         for d in columns)
    lines += ["", ("Metrics (0-100): CoNLL = M2 F0.5, BEA = ERRANT F0.5, JFL = GLEU, "
              "others = SARI (paper Table 2). ± = half-width of the 95% bootstrap interval "
              "over the scored items (see *Sample size* below)."),
              (f"Items scored per dataset (evaluated / benchmark size): {n_items} "
              "(params predict.max_items; null = full sets)."),
              ("Rows in *italics* are the paper's published LLaMA-7B results "
              f"({params.reference_source or 'Zhang et al. 2023, Table 4'}); they are "
              "reference points, not reruns (7B models, full test sets; their Avg. is the paper's "
              "over all 10 sets).")]
    if decodings:
        lines.append(f"Decoding (as each system's predictions record it): "
                     f"{decoding_note(decodings)}. Systems that decode differently are "
                     "compared as each is run.")
    if bases:
        by_base: dict[str, list[str]] = {}
        for system, base in bases.items():
            by_base.setdefault(base or "(not named)", []).append(system)
        lines.append("Base model (params `systems.<name>.base`): " + "; ".join(
            f"{base}: {', '.join(names)}" for base, names in by_base.items()) + ".")
    if standins:
        lines.append("† stand-in dataset (a substitute corpus, not the paper's set): scored "
                     "but not comparable to the paper, and left out of our Avg. unless "
                     "evaluate.standin_in_avg is true.")
    lines += render_gec_table(metrics)
    return "\n".join(lines) + "\n"


def render_gec_table(metrics: dict[str, Results]) -> list[str]:
    """Edit actions and named-entity edits per system on the GEC sets (paper sec. 4.2)."""
    rows = []
    for system, m in metrics.items():
        for d, info in m.datasets.items():
            actions, ne = info.get("edit_actions"), info.get("named_entities")
            if actions and ne:
                rows.append([system, label(d), *(str(actions[key]) for key in (
                    "missing", "replacement", "unnecessary", "total")),
                    f"{ne['ne_share']:.1f}%"])
    if not rows:
        return []
    return ["", "## GEC edit analysis (paper Figure 1 and sec. 4.2)", "",
            markdown_table(["System", "Set", "Missing", "Replacement", "Unnecessary",
                            "All edits", "Edits touching an NE"], rows, "llrrrrr"), "",
            ("Edits are ERRANT edits from source to output; an edit touches a named entity when "
            "its source span overlaps a spaCy entity of the source (the paper reports 9.7% for "
            "LLaMA, 2.5% for RoBERTa, 3.3% for T5 on its GEC outputs).")]


def _error_bars(m: Results, keys: list[str], values: list[float]) -> Any:
    """(2, len(keys)) distances from each value down/up to its 95% interval (0 if none)."""
    import numpy as np

    bars = np.zeros((2, len(keys)))
    for k, (key, value) in enumerate(zip(keys, values)):
        if ci95 := m.interval(key).get("ci95"):
            low, high = ci95
            bars[:, k] = [max(0.0, value - low), max(0.0, high - value)]
    return bars


def render_sample_size(metrics: dict[str, Results]) -> list[str]:
    """Per dataset: items scored and the 95% half-width the sample gives (median over
    systems), so a reader sees which differences the sample can resolve at all."""
    import statistics

    rows = []
    for d in [*dataset_columns(metrics), "avg"]:
        widths = [w for m in metrics.values() if isinstance(w := _half_width(m, d), int | float)]
        infos = [m.datasets.get(d) or {} for m in metrics.values()]
        n = "–" if d == "avg" else str(next((i.get("n") for i in infos if i.get("n")), "–"))
        if widths:
            rows.append([label(d), n, f"±{statistics.median(widths):.1f}",
                         f"±{min(widths):.1f} – ±{max(widths):.1f}"])
    if not rows:
        return []
    return ["", "## Sample size: what the scored items can resolve", "",
            markdown_table(["Dataset", "Items", "95% half-width (median over systems)", "range"],
                           rows, "lrrl"), "",
            ("A system's score is known to about ± the half-width; for differences between "
             "two systems see the paired intervals below (pairing usually narrows them).")]


def render_comparisons(loaded: dict[str, SystemResults], params: ReportParams,
                       standins: set[str]) -> list[str]:
    """Each system vs each baseline (params report.baselines) with paired intervals."""
    systems = list(loaded)
    baselines = [b for b in params.baselines if b in systems]
    if not baselines:
        return []
    lines = ["", "## Differences with 95% intervals (paired bootstrap)"]
    for baseline in baselines:
        for system in systems:
            if system == baseline or system in baselines[: baselines.index(baseline)]:
                continue
            result = compare_systems(loaded[baseline], loaded[system])
            lines += ["", f"### {system} vs {baseline}", "", compare_table(result, standins)]
    return lines


def read_loss_curves(live_dir: Path) -> dict[str, tuple[list[float], list[float]]]:
    """System name -> (steps, losses) from the DVCLive folders <live_dir>/<system>/."""
    folders = sorted(p for p in live_dir.iterdir() if p.is_dir()) if live_dir.is_dir() else []
    return {folder.name: read_loss_curve(folder) for folder in folders
            if (folder / LOSS_CURVE).is_file()}


def draw_charts(metrics: dict[str, Results], curves: dict[str, tuple[list, list]],
                out: Path, dpi: int) -> list[str]:
    """Write the PNGs into `out`; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plt.rcParams["svg.hashsalt"] = "writing-alpaca"  # deterministic ids in vector output
    written = []
    columns = dataset_columns(metrics)
    systems = list(metrics)
    if columns and systems:
        fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(columns) + 2), 4.5))
        width = 0.8 / len(systems)
        x = np.arange(len(columns) + 1)
        for k, system in enumerate(systems):
            values = [metrics[system].score(d) or 0.0 for d in [*columns, "avg"]]
            ax.bar(x + (k - (len(systems) - 1) / 2) * width, values, width, label=system,
                   yerr=_error_bars(metrics[system], [*columns, "avg"], values),
                   error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_xticks(x, [label(d) for d in columns] + ["Avg."])
        ax.set_ylabel("score (0-100)")
        ax.set_title("Per-dataset scores by system (bars: 95% bootstrap intervals)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "scores_by_dataset.png", dpi=dpi)
        plt.close(fig)
        written.append("scores_by_dataset.png")
    gec = [(s, d, i["edit_actions"]) for s in systems
           for d, i in metrics[s].datasets.items()
           if i.get("edit_actions")]
    if gec:
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(gec) + 2), 4))
        bottom = np.zeros(len(gec))
        for action in ("missing", "replacement", "unnecessary", "other"):
            values = np.array([a.get(action, 0) for _, _, a in gec], dtype=float)
            ax.bar(range(len(gec)), values, bottom=bottom, label=action)
            bottom += values
        ax.set_xticks(range(len(gec)), [f"{s}\n{label(d)}" for s, d, _ in gec],
                      fontsize=8)
        ax.set_ylabel("system edits")
        ax.set_title("GEC edits by action (paper Figure 1)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "gec_edit_actions.png", dpi=dpi)
        plt.close(fig)
        written.append("gec_edit_actions.png")
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, (steps, losses) in curves.items():
            ax.plot(steps, losses, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title("Training loss")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "training_loss.png", dpi=dpi)
        plt.close(fig)
        written.append("training_loss.png")
    return written


@click.command()
@click.option("--metrics", "metrics_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of metrics/<system>.json.")
@click.option("--live", "live_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of the DVCLive training logs, one <system>/ each.")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Reports folder: writes table.md and charts/ inside it.")
def report(metrics_dir: Path, live_dir: Path, params_path: Path, out: Path) -> None:
    """Render the results table (with the paper's rows) and charts -> OUT/table.md, OUT/charts/."""
    systems, params = read_params(params_path)
    loaded = load_results(metrics_dir, list(systems))
    metrics = {name: system.results for name, system in loaded.items()}
    decodings = {name: results.decoding_label for name, results in metrics.items()}
    standins = {d for results in metrics.values() for d in results.standins}
    bases = {name: system.base for name, system in systems.items()}
    table = render_table(metrics, params, decodings, bases) + "\n".join(
        render_sample_size(metrics) + render_comparisons(loaded, params, standins)) + "\n"
    curves = read_loss_curves(live_dir)
    with atomic_path(out / "charts", is_dir=True, owns=("*.png",)) as tmp:
        written = draw_charts(metrics, curves, tmp, params.dpi)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(table, encoding="utf-8")
    click.echo(f"report: {out / 'table.md'} ({len(systems)} systems), charts: "
               f"{', '.join(written) or 'none'}", err=True)
