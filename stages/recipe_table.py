"""recipe-table: recipe experiments compared on the dev splits -> reports/recipe-dev.md.

A recipe variant is a DVC experiment (`dvc exp run --queue -n <name> -S key=value`, then
`dvc queue start`): the pipeline re-runs what the change touches, and the dev stage
scores every system on the dev splits (dev/metrics/<system>.json, never a test split).
This command reads the experiments `dvc exp show` lists for the current commit (or for
several commits whose own dev scores are identical, --rev), and for one system gives each
experiment's dev scores with 95% half-widths, its paired Δ on the average against the
baseline commit, the params it changed, and the share of its dev outputs that copy their
input (when its predictions are in the local cache).
"""
from __future__ import annotations

import filecmp
import re
import tempfile
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path
from stages.lib.core.tables import markdown_table, score_cell
from stages.lib.evaluation.bootstrap import holm
from stages.lib.evaluation.comparison import SystemResults, compare_systems
from stages.lib.evaluation.copy_share import copy_share

DEV = Path("dev")


# `dvc exp show` states of queue entries that have no results (yet): a queued or running
# experiment's row is its base commit's, so it would score exactly as the baseline
UNFINISHED = ("Queued", "Running", "Failed")
# params of what is built, not of how: an experiment that changes them (`make grid`)
# builds other systems and is not a recipe variant
BUILD_PARAMS = ("build.", "systems.")


def short_rev(rev: str) -> str:
    """A commit hash shortened to 7 characters; a branch or tag name (`--rev main`) whole."""
    return rev[:7] if re.fullmatch(r"[0-9a-f]{40}", rev) else rev


def list_experiments(repo: str, revs: tuple[str, ...] = ()
                     ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """For each baseline commit (REVS, or HEAD), its row and its finished recipe
    experiments' rows, from `dvc exp show`; queued, running and failed queue entries, and
    experiments that change what is built (the grid), are named on stderr and left out."""
    import dvc.api

    rows = dvc.api.exp_show(repo=repo, revs=list(revs) or None)
    # `dvc exp show` lists each baseline commit followed by its experiments
    groups: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for row in rows:
        if row["typ"] == "baseline":
            if row["rev"] != "workspace":
                groups.append((row, []))
            continue
        if not (row["typ"].startswith("branch") and row["Experiment"] and groups):
            continue
        baseline, kept = groups[-1]
        if row.get("State") in UNFINISHED:
            click.echo(f"recipe-table: {row['Experiment']} is {row['State'].lower()}, "
                       f"left out", err=True)
        elif any(key.startswith(BUILD_PARAMS) and row[key] != baseline.get(key)
                 for key in row):
            click.echo(f"recipe-table: {row['Experiment']} changes what is built "
                       f"(build, systems), not a recipe: left out", err=True)
        else:
            kept.append(row)
    if not groups:
        raise InputError("dvc exp show: no baseline commit (commit the pipeline first)")
    return groups


def flat_keys(params: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted keys of a nested params mapping, as `dvc exp show` names its columns."""
    keys = set()
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        keys |= flat_keys(value, f"{dotted}.") if isinstance(value, dict) and value \
            else {dotted}
    return keys


def changed_params(baseline: dict[str, Any], row: dict[str, Any], params: set[str]) -> str:
    """key=value for every param (a key of PARAMS) whose value differs from the baseline."""
    shown = [k for k in row if k in params and row[k] != baseline.get(k)]
    return ", ".join(f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                     for k in shown) or "-"


def materialize(repo: str, rev: str, system: str, folder: Path) -> Path:
    """The dev metrics of SYSTEM at REV (git-tracked files) written into FOLDER."""
    import dvc.api

    for relative in (f"{system}.json", f"details/{system}.json", f"items/{system}.json"):
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_text(dvc.api.read(str(DEV / "metrics" / relative), repo=repo, rev=rev),
                              encoding="utf-8")
        except Exception as exc:  # dvc raises many kinds for a missing file
            raise InputError(f"{DEV / 'metrics' / relative} at {short_rev(rev)}: not readable "
                             f"({exc}); did the dev stage run in this experiment?") from exc
    return folder


def dev_copy_share(repo: str, rev: str, system: str, datasets: list[str],
                   folder: Path) -> str:
    """Share of dev outputs equal to their input, or n/a when not in the local cache."""
    import dvc.api

    try:
        for dataset in datasets:
            (folder / f"{dataset}.jsonl").write_text(dvc.api.read(
                str(DEV / "predictions" / system / f"{dataset}.jsonl"), repo=repo, rev=rev),
                encoding="utf-8")
    except Exception:  # noqa: BLE001 - predictions not pulled: the share is unknown
        return "n/a"
    shares = copy_share(folder)
    return f"{sum(shares.values()) / len(shares):.0%}"


def render(system: str, rows: list[tuple[str, str, SystemResults, str]],
           reference: SystemResults, baselines: list[str]) -> str:
    """The table; the experiments' p-values are one family, so each also gets its Holm-
    adjusted p (a sweep of k variants at 0.05 each would find a false gain by chance)."""
    datasets = reference.datasets
    commits = ("commit " if len(baselines) == 1 else "commits ") + \
        ", ".join(short_rev(rev) for rev in baselines)
    same = "" if len(baselines) == 1 else \
        " (these commits' dev metrics are byte-identical)"
    avgs = {name: avg for name, _, results, _ in rows if results is not reference
            if (avg := compare_systems(reference, results).avg) is not None}
    adjusted = dict(zip(avgs, holm([avg.p for avg in avgs.values()])))
    head = ["Experiment", *datasets, "Avg.", "Δ Avg. vs baseline [95% CI], p", "Holm p",
            "copies input", "changed params"]
    lines = [f"# Recipe experiments on the dev splits ({system})", "",
             ("Made by `writing-alpaca recipe-table` from `dvc exp show`: every finished "
              f"experiment of {commits}, scored on the dev splits (dev/metrics); 95% "
              "bootstrap half-widths; Δ paired against the baseline"
              f"{same}; Holm p adjusts the experiments' p-values as one family."), ""]
    table = []
    for name, changed, results, copies in rows:
        scored = results.results
        cells = [score_cell(scored.scores[d], scored.interval(d)['half_width'])
                 for d in datasets]
        cells.append(score_cell(scored.scores['avg'], scored.interval('avg')['half_width']))
        if name in avgs:
            avg = avgs[name]
            low, high = avg.ci95
            cells.append(f"{avg.delta:+.2f} [{low:+.2f}, {high:+.2f}], p {avg.p:.3f}")
            cells.append(f"{adjusted[name]:.3f}")
        else:
            cells += ["-", "-"]
        table.append([name, *cells, copies, changed])
    lines.append(markdown_table(head, table, "l" * len(head)))
    return "\n".join(lines) + "\n"


def same_files(first: Path, second: Path) -> bool:
    """Whether two materialized metrics folders hold byte-identical files."""
    files = sorted(str(f.relative_to(first)) for f in first.rglob("*") if f.is_file())
    _, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    return not mismatch and not errors and \
        len(files) == sum(1 for f in second.rglob("*") if f.is_file())


@click.command("recipe-table")
@click.option("--system", default="writing-alpaca", show_default=True,
              help="The system whose dev scores are compared.")
@click.option("--repo", default=".", show_default=True, help="The DVC repository.")
@click.option("--rev", "revs", multiple=True,
              help="A baseline commit whose experiments join the table (repeatable; "
                   "default HEAD). Their dev metrics must equal the first one's, so that "
                   "every Δ is paired against one baseline and Holm sees one family.")
@click.option("--out", default="reports/recipe-dev.md", show_default=True,
              type=click.Path(path_type=Path))
def recipe_table(system: str, repo: str, revs: tuple[str, ...], out: Path) -> None:
    """Compare the experiments of a commit (or of several, --rev) on the dev splits -> OUT
    (markdown)."""
    import dvc.api

    groups = list_experiments(repo, revs)
    with tempfile.TemporaryDirectory() as tmp:
        first = groups[0][0]["rev"]
        reference = materialize(repo, first, system, Path(tmp) / "baseline")
        baseline_results = SystemResults(reference, system)
        loaded = [("baseline", "-", baseline_results,
                   dev_copy_share(repo, first, system, baseline_results.datasets,
                                  _folder(Path(tmp) / "baseline-predictions")))]
        names = [row["Experiment"] for _, rows in groups for row in rows]
        for index, (baseline, experiments) in enumerate(groups):
            if index:
                other = materialize(repo, baseline["rev"], system,
                                    Path(tmp) / f"baseline-{index}")
                if not same_files(reference, other):
                    raise InputError(
                        f"dev/metrics/{system}.* differ between baseline commits "
                        f"{short_rev(first)} and {short_rev(baseline['rev'])}: their "
                        f"experiments are not paired against one baseline")
            params = flat_keys(dvc.api.params_show(repo=repo, rev=baseline["rev"]))
            for row in experiments:
                label = row["Experiment"]
                if names.count(label) > 1:
                    label = f"{label}@{short_rev(row['rev'])}"
                folder = materialize(repo, row["rev"], system, Path(tmp) / label / "metrics")
                results = SystemResults(folder, system)
                copies = dev_copy_share(repo, row["rev"], system, results.datasets,
                                        _folder(Path(tmp) / label / "predictions"))
                # the experiment's own keys too: `-S +key=value` adds one the baseline lacks
                changed = changed_params(baseline, row, params | flat_keys(
                    dvc.api.params_show(repo=repo, rev=row["rev"])))
                loaded.append((label, changed, results, copies))
        table = render(system, loaded, loaded[0][2],
                       [baseline["rev"] for baseline, _ in groups])
    with atomic_path(out) as tmp_out:
        tmp_out.write_text(table, encoding="utf-8")
    click.echo(table)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
