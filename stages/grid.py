"""grid: the paper's ablations (`make grid`), or its ladder on other bases (`make
ladder`, --section ladder), as one DVC experiment.

Runs `dvc exp run --temp -n NAME -S ...` with the overrides of stages/lib/plan/grid.py: the
grid's mixtures, runs and systems added to the default run's, the speed and findings
stages switched on. DVC re-runs what the grid adds (the default run's stages come from
its cache when `dvc repro` has run) in a temporary copy of the repository, so the
workspace and its params.yaml stay as they are; the experiment's results are listed by
`dvc exp show` and kept in its git ref. Its report (reports/findings.md, or
reports/ladder.md) is then copied into the workspace, where the docs link it.

The temporary copy goes when the experiment ends, and with it the stage times train and
predict keep (stages/lib/core/timings.py): they are kept in this checkout's
.cache/timings/<name>/ instead, and written as the experiment's run-time report
(reports/ladder-performance.md, reports/grid-performance.md) with the machine's CPU.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import click

from stages.lib.core.io import atomic_path
from stages.lib.core.params import load_params
from stages.lib.core.timings import FOLDER_ENV, TIMINGS, read_all
from stages.lib.plan.grid import REPORTS, TIME_REPORTS, grid_overrides

EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# DVC keeps experiment NAME of commit C as refs/exps/<C[:2]>/<C[2:]>/NAME
EXPERIMENT_REF = re.compile(r"refs/exps/([0-9a-f]{2})/([0-9a-f]{38})/([^/]+)")


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], check=False, capture_output=True, text=True)


def head_commit() -> str:
    return git("rev-parse", "HEAD").stdout.strip()


def experiment_ref(name: str, baseline: str) -> str:
    """The git ref DVC gives experiment NAME of commit BASELINE."""
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def older_baselines(name: str, baseline: str) -> dict[str, str]:
    """Experiments called NAME on commits other than BASELINE: full ref -> commit."""
    own = experiment_ref(name, baseline)
    listed = git("for-each-ref", "--format=%(refname)", "refs/exps/").stdout.split()
    found = {}
    for ref in listed:
        match = EXPERIMENT_REF.fullmatch(ref)
        if match and match[3] == name and ref != own:
            found[ref] = match[1] + match[2]
    return found


def rename_older_baselines(name: str, baseline: str) -> None:
    """Once NAME exists on two commits and HEAD is neither, DVC refuses `--rev NAME`
    (`dvc exp show`, `dvc get`) as ambiguous; those of commits other than BASELINE (the
    run just made) become NAME-<commit>: kept, and NAME names the newest run."""
    for ref, commit in older_baselines(name, baseline).items():
        new_name = f"{name}-{commit[:7]}"
        renamed = subprocess.run(["dvc", "exp", "rename", ref, new_name], check=False)
        if renamed.returncode == 0:
            click.echo(f"the {name} of commit {commit[:7]} is kept as {new_name}", err=True)
        else:
            click.echo(f"warning: the {name} of commit {commit[:7]} keeps its name ({new_name} "
                       f"is taken): `--rev {name}` is ambiguous once HEAD moves on", err=True)


@click.command("grid")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--section", type=click.Choice(sorted(REPORTS)), default="grid",
              show_default=True, help="The params section the experiment adds: grid (the "
              "ablations -> reports/findings.md) or ladder (other bases -> reports/ladder.md).")
@click.option("--name", default="paper-grid", show_default=True,
              help="The experiment's name; an earlier one of this commit is replaced once "
                   "the new one has run, one of an older commit is renamed NAME-<commit>.")
@click.option("-S", "--set-param", "extra", multiple=True,
              help="More `dvc exp run -S` overrides, e.g. profile=paper.")
@click.option("--queue", is_flag=True,
              help="Queue the experiment (`dvc queue start` runs it) instead of running it.")
@click.option("--target", "targets", multiple=True,
              help="Build only this stage and what it needs (`dvc exp run` targets), e.g. "
                   "findings@paper: the grid's claims without the dev stages of its systems.")
@click.option("--dry-run", is_flag=True, help="Print the dvc command only.")
def grid(params_path: str, section: str, name: str, extra: tuple[str, ...], queue: bool,
         targets: tuple[str, ...], dry_run: bool) -> None:
    """Run the paper's ablations (params `grid`) or ladder (params `ladder`) as DVC
    experiment NAME."""
    if not EXPERIMENT_NAME.fullmatch(name):
        # it names a git ref and the folder of the experiment's stage times
        raise click.BadParameter(f"{name!r}: letters, digits, '.', '_' and '-' only, "
                                 f"starting with a letter or digit", param_hint="--name")
    overrides = [*grid_overrides(load_params(params_path), section), *extra]
    report = Path(REPORTS[section])
    command = ["dvc", "exp", "run", "--queue" if queue else "--temp", "-n", name,
               *(arg for override in overrides for arg in ("-S", override)), *targets]
    click.echo(shlex.join(command))
    if dry_run:
        return
    # the commit the experiment is made on: HEAD may move (a commit in the workspace)
    # while the temporary copy runs
    baseline = head_commit()
    ref = experiment_ref(name, baseline)
    previous = f"{name}-previous"
    kept = git("show-ref", "--verify", "--quiet", ref).returncode == 0
    if kept:
        # the name must be free (`dvc exp run -f` would also force every stage to re-run);
        # the earlier results stay under another name until the new run has succeeded
        subprocess.run(["dvc", "exp", "rename", "-f", name, previous], check=True)
    times = Path(TIMINGS, name).resolve()
    if not queue:
        # this experiment's stage times only: an earlier run's would read as this one's
        for stale in times.glob("*.json"):
            stale.unlink()
    # the temporary copy's stages write their times here (a queued run's worker keeps
    # its own environment, so `--queue` runs keep theirs in the copy only)
    env = {**os.environ, FOLDER_ENV: str(times)}
    if subprocess.run(command, check=False, env=env).returncode != 0:
        if kept:
            subprocess.run(["dvc", "exp", "rename", previous, name], check=True)
        raise click.ClickException(
            f"dvc exp run failed; the experiment {name} is not kept"
            + ("; the earlier one keeps its name" if kept else ""))
    if queue:
        if kept:
            click.echo(f"the earlier {name} is kept as {previous} until you remove it "
                       f"(`dvc exp remove {previous}`)", err=True)
        return
    if kept:
        subprocess.run(["dvc", "exp", "remove", previous], check=True)
    rename_older_baselines(name, baseline)
    shown = git("show", f"{ref}:{report}")
    if shown.returncode != 0:
        raise click.ClickException(f"{ref}: no {report} ({shown.stderr.strip()})")
    with atomic_path(report) as tmp:
        tmp.write_text(shown.stdout, encoding="utf-8")
    click.echo(f"{section} -> experiment {name} (`dvc exp show`), {report}", err=True)
    write_time_report(times, Path(TIME_REPORTS[section]), name)


def write_time_report(times: Path, out: Path, name: str) -> None:
    """The experiment's run-time report from the times its stages kept, if any ran (a
    run whose stages all came from DVC's cache keeps none, and the last report stays)."""
    from stages.timings import render

    entries = read_all(times)
    if not entries:
        click.echo(f"{name}: every stage came from the cache; {out} stays as it is", err=True)
        return
    with atomic_path(out) as tmp:
        tmp.write_text(render(entries, f"`writing-alpaca grid` (experiment {name})"),
                       encoding="utf-8")
    click.echo(f"{name}: stage times -> {out}", err=True)
