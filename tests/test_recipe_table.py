"""recipe-table: experiments' dev scores read at their git revisions, compared with the
baseline commit, with the params each one changed."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report import _setup

from stages.recipe_table import changed_params, flat_keys, recipe_table, short_rev


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_dev_metrics(repo: Path, metrics: Path, source: str, message: str) -> str:
    """dev/metrics/writing-alpaca.* = SOURCE's metrics files, committed; returns the sha."""
    dev = repo / "dev" / "metrics"
    for relative in ("{}.json", "details/{}.json", "items/{}.json"):
        target = dev / relative.format("writing-alpaca")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(metrics / relative.format(source), target)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture()
def repo_with_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    metrics, _, _ = _setup(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    # the baseline commit scores like the copy system, the experiment like the tuned one
    baseline = commit_dev_metrics(repo, metrics, "copy", "baseline")
    git(repo, "checkout", "-q", "-b", "exp")
    experiment = commit_dev_metrics(repo, metrics, "tuned", "experiment")
    git(repo, "checkout", "-q", "-")
    rows = [{"Experiment": None, "rev": "workspace", "typ": "baseline", "train.lr": 1.0},
            {"Experiment": None, "rev": baseline, "typ": "baseline", "train.lr": 1.0,
             "dev/metrics/writing-alpaca.json:avg": 1.0},
            {"Experiment": "lr-3", "rev": experiment, "typ": "branch_commit", "train.lr": 3.0,
             "dev/metrics/writing-alpaca.json:avg": 2.0, "State": "Success",
             "train.extra": 0.0},  # a key the experiment added (`-S +train.extra=0`)
            # queue entries without results: their rows are their base commit's
            {"Experiment": "queued", "rev": baseline, "typ": "branch_base", "State": "Queued",
             "train.lr": 5.0},
            {"Experiment": "running", "rev": baseline, "typ": "branch_commit",
             "State": "Running", "train.lr": 7.0},
            # `make grid`: adds systems, changes no recipe param
            {"Experiment": "paper-grid", "rev": experiment, "typ": "branch_commit",
             "State": "Success", "train.lr": 1.0, "build.findings": ["paper"],
             "dev/metrics/writing-alpaca.json:avg": 2.0}]
    import dvc.api

    monkeypatch.setattr(dvc.api, "exp_show", lambda repo=None, revs=None: rows)
    monkeypatch.setattr(dvc.api, "params_show", lambda repo=None, rev=None: (
        {"train": {"lr": 1.0}} if rev == baseline else {"train": {"lr": 3.0, "extra": 0.0}}))
    return repo


def test_table_compares_each_experiment_with_the_baseline(repo_with_experiment: Path) -> None:
    out = repo_with_experiment / "recipe.md"
    result = CliRunner().invoke(recipe_table, ["--repo", str(repo_with_experiment),
                                               "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = out.read_text()
    baseline = next(line for line in table.splitlines() if line.startswith("| baseline |"))
    experiment = next(line for line in table.splitlines() if line.startswith("| lr-3 |"))
    assert baseline.split("|")[-2].strip() == "-"
    assert experiment.split("|")[-2].strip() == "train.lr=3, train.extra=0"
    # the tuned outputs score higher than the copies: a positive paired delta with its CI
    delta = experiment.split("|")[-5].strip()
    assert delta.startswith("+") and "[" in delta and ", p " in delta
    # one experiment: its Holm p is its own p
    assert float(experiment.split("|")[-4]) == float(delta.rsplit("p ", 1)[1])
    assert experiment.split("|")[-3].strip() == "n/a"  # no dev predictions in this repo
    # unfinished queue entries are named and left out of the table and of Holm's family
    assert "| queued |" not in table and "| running |" not in table
    assert "queued is queued, left out" in result.output
    # the grid experiment builds other systems: not a recipe variant, not in Holm's family
    assert "| paper-grid |" not in table
    assert "paper-grid changes what is built" in result.output


def test_an_experiment_without_dev_metrics_names_the_file(repo_with_experiment: Path) -> None:
    import dvc.api

    rows = dvc.api.exp_show()
    branch = git(repo_with_experiment, "rev-parse", "--abbrev-ref", "HEAD")
    git(repo_with_experiment, "checkout", "-q", "--orphan", "empty")
    git(repo_with_experiment, "rm", "-rq", "--cached", "dev")
    git(repo_with_experiment, "commit", "-q", "--allow-empty", "-m", "no dev stage")
    rows[2]["rev"] = git(repo_with_experiment, "rev-parse", "HEAD")
    git(repo_with_experiment, "checkout", "-q", "-f", branch)
    result = CliRunner().invoke(recipe_table, ["--repo", str(repo_with_experiment),
                                               "--out", str(repo_with_experiment / "r.md")])
    assert result.exit_code != 0 and "dev/metrics/writing-alpaca.json" in result.output
    assert not (repo_with_experiment / "r.md").exists()


def test_changed_params_lists_only_params_that_differ() -> None:
    baseline = {"rev": "a", "train.lr": 1.0, "train.steps": 30, "metrics/x.json:avg": 1.0,
                "adapters/x": "h1"}
    row = {"rev": "b", "train.lr": 3.0, "train.steps": 30, "metrics/x.json:avg": 2.0,
           "adapters/x": "h2"}
    params = flat_keys({"train": {"lr": 1.0, "steps": 30}})
    assert params == {"train.lr", "train.steps"}
    assert changed_params(baseline, row, params) == "train.lr=3"  # not the dep hash
    assert changed_params(baseline, dict(baseline), params) == "-"


def _second_baseline(repo: Path, monkeypatch: pytest.MonkeyPatch, same_scores: bool
                     ) -> tuple[str, list[str]]:
    """A later baseline commit (identical dev scores, or the tuned ones) with one experiment
    of its own; `dvc exp show --rev first --rev second` lists both groups. Returns the new
    commit and the revs the command passed to exp_show."""
    import dvc.api

    rows = dvc.api.exp_show()
    first, experiment = rows[1]["rev"], rows[2]["rev"]
    if same_scores:
        (repo / "notes.txt").write_text("a commit that leaves dev metrics alone\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "second baseline")
    else:
        git(repo, "merge", "-q", "--ff-only", experiment)
    second = git(repo, "rev-parse", "HEAD")
    rows = [*rows,
            {"Experiment": None, "rev": second, "typ": "baseline", "train.lr": 1.0},
            {"Experiment": "lr-5", "rev": experiment, "typ": "branch_commit",
             "train.lr": 5.0, "State": "Success"}]
    asked: list[str] = []
    monkeypatch.setattr(dvc.api, "exp_show",
                        lambda repo=None, revs=None: asked.extend(revs or []) or rows)
    monkeypatch.setattr(dvc.api, "params_show", lambda repo=None, rev=None: (
        {"train": {"lr": 1.0}} if rev in (first, second) else {"train": {"lr": 3.0}}))
    return second, asked


def test_experiments_of_several_commits_form_one_family(repo_with_experiment: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    second, asked = _second_baseline(repo_with_experiment, monkeypatch, same_scores=True)
    first = git(repo_with_experiment, "rev-parse", "HEAD~1")
    out = repo_with_experiment / "recipe.md"
    result = CliRunner().invoke(recipe_table, ["--repo", str(repo_with_experiment), "--rev",
                                               first, "--rev", second, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert asked == [first, second]
    lines = out.read_text().splitlines()
    assert sum(line.startswith("| baseline |") for line in lines) == 1
    rows = {line.split("|")[1].strip(): line.split("|") for line in lines
            if line.startswith(("| lr-3 |", "| lr-5 |"))}
    assert set(rows) == {"lr-3", "lr-5"}
    # the experiment of the later commit: its changed param against its own baseline
    assert rows["lr-5"][-2].strip() == "train.lr=5"
    # two p-values in one family: Holm doubles the smaller (same outputs: same p)
    p = float(rows["lr-3"][-5].rsplit("p ", 1)[1])
    assert float(rows["lr-3"][-4]) == pytest.approx(min(1.0, 2 * p), abs=1e-3)


def test_baselines_with_different_scores_are_refused(repo_with_experiment: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first = git(repo_with_experiment, "rev-parse", "HEAD")
    second, _ = _second_baseline(repo_with_experiment, monkeypatch, same_scores=False)
    out = repo_with_experiment / "recipe.md"
    result = CliRunner().invoke(recipe_table, ["--repo", str(repo_with_experiment), "--rev",
                                               first, "--rev", second, "--out", str(out)])
    assert result.exit_code != 0
    assert f"{first[:7]} and {second[:7]}" in result.output
    assert not out.exists()


def test_a_commit_is_shortened_and_a_branch_name_kept_whole() -> None:
    assert short_rev("d0ac3e2" + "5" * 33) == "d0ac3e2"
    assert short_rev("margin-by-words") == "margin-by-words"  # was cut to "margin-"
    assert short_rev("main") == "main"
