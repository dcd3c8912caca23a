"""DVC experiments change what they name: every `dvc exp run -S` example in the README
and docs, applied by DVC's own override code to a copy of params.yaml, sets the value it
names, the project's params reader sees it, and exactly the stages that declare the
changed params would re-run."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stages.lib.core.params import load_params
from stages.lib.data.mixture_config import parse_mixture
from stages.lib.plan.grid import grid_overrides

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# -S 'key=value' | -S "key=value" | -S key=value
OVERRIDE = re.compile(r"""(?:-S|--set-param)\s+(?:'([^']+)'|"([^"]+)"|([\w.\-]+=[^\s`'")]+))""")


def documented_overrides() -> list[str]:
    sections = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    found = []
    for path in DOCS:
        for match in OVERRIDE.finditer(path.read_text(encoding="utf-8")):
            override = next(group for group in match.groups() if group)
            # placeholders (key=value, key=<value>) are not examples
            section = override.lstrip("+").split(".")[0].split("=")[0]
            if section in sections and override not in found:
                found.append(override)
    return found


def apply(tmp_path: Path, *overrides: str) -> Path:
    """params.yaml after `dvc exp run -S <overrides>` (DVC's own code does the edit)."""
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    if overrides:
        apply_overrides(str(params), list(overrides))
    return params


def at(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return KeyError
        data = data[part]
    return data


def test_the_docs_have_experiment_examples() -> None:
    assert "mixtures.writing-alpaca.components.grammar.n=480" in documented_overrides()


def expected_value(parsed: Any) -> Any:
    """The value DVC writes for a parsed override: an interpolation such as
    `${grid.runs.x}` is resolved against params.yaml first (Hydra composes the file)."""
    from omegaconf import OmegaConf

    value = parsed.value()
    if not (isinstance(value, str) and "${" in value):
        return value
    config = OmegaConf.load(REPO / "params.yaml")
    OmegaConf.update(config, parsed.key_or_group, value, force_add=True)
    resolved = OmegaConf.select(config, parsed.key_or_group)
    return OmegaConf.to_container(resolved, resolve=True) if OmegaConf.is_config(resolved) \
        else resolved


@pytest.mark.parametrize("override", documented_overrides())
def test_a_documented_override_changes_what_it_names(tmp_path: Path, override: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(override)  # as DVC parses it
    params = apply(tmp_path, override)
    raw = yaml.safe_load(params.read_text(encoding="utf-8"))
    assert at(raw, parsed.key_or_group) == expected_value(parsed), f"-S {override} was lost"
    load_params(params)  # the project still reads the edited file


def test_a_derived_mixture_follows_the_mixture_it_derives_from(tmp_path: Path) -> None:
    params = apply(tmp_path, "mixtures.writing-alpaca.components.grammar.n=480")
    loaded = load_params(params)
    assert parse_mixture(loaded, "writing-alpaca").components["grammar"].n == 480
    derived = parse_mixture(loaded, "writing-only").components
    assert derived["grammar"].n == 480 and "generic" not in derived
    # the edit leaves the other components of both as they were
    original = parse_mixture(load_params(REPO / "params.yaml"), "writing-only").components
    assert {k: c for k, c in derived.items() if k != "grammar"} == \
        {k: c for k, c in original.items() if k != "grammar"}


def stage_params(root: Path) -> dict[str, list[str]]:
    """Stage address -> the params.yaml keys it declares, as DVC resolves the dvc.yaml
    files of ROOT with ROOT's params.yaml."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {stage.name: [key for dep in stage.deps
                                   if isinstance(dep, ParamsDependency)
                                   and Path(dep.def_path).name == "params.yaml"
                                   for key in dep.params]
                for stage in repo.index.stages}


def changed_stages(root: Path, before: dict, after: dict) -> set[str]:
    return {stage for stage, keys in stage_params(root).items()
            if any(at(before, key) != at(after, key) for key in keys)}


def test_the_readme_experiment_reruns_writing_alpaca_and_what_derives_from_it(
        tmp_path: Path) -> None:
    before = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    after = yaml.safe_load(apply(tmp_path, "mixtures.writing-alpaca.components.grammar.n=480")
                           .read_text(encoding="utf-8"))
    changed = changed_stages(REPO, before, after)
    assert changed == {"mix@writing-alpaca"}  # train, predict, ... follow its new output
    # in the grid experiment, writing-only derives from writing-alpaca: it re-runs too
    grid = tmp_path / "grid"
    grid.mkdir()
    for name in ("dvc.yaml", "corpora.yaml"):
        shutil.copy(REPO / name, grid / name)
    (grid / ".dvc").mkdir()
    (grid / ".dvc" / "config").write_text("[core]\n    no_scm = true\n", encoding="utf-8")
    with_grid = apply(grid, *grid_overrides(load_params(REPO / "params.yaml")))
    before = yaml.safe_load(with_grid.read_text(encoding="utf-8"))
    after = yaml.safe_load(apply(tmp_path, *grid_overrides(load_params(REPO / "params.yaml")),
                                 "mixtures.writing-alpaca.components.grammar.n=480")
                           .read_text(encoding="utf-8"))
    assert changed_stages(grid, before, after) == {"mix@writing-alpaca", "mix@writing-only"}


def test_a_derived_mixture_must_name_another_mixture(tmp_path: Path) -> None:
    from stages.lib.core.io import InputError

    params = apply(tmp_path, "mixtures.writing-only.derived_from=nope")
    with pytest.raises(InputError, match="mixtures.writing-only.derived_from: 'nope'"):
        parse_mixture(load_params(params), "writing-only")
    params = apply(tmp_path, "mixtures.writing-only.drop=[generik]")
    with pytest.raises(InputError, match="mixtures.writing-only.drop: 'generik'"):
        parse_mixture(load_params(params), "writing-only")


def test_the_grid_experiment_adds_the_grid_to_the_default_build(tmp_path: Path) -> None:
    from stages.lib.training.train_config import parse_train

    default = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    edited = apply(tmp_path, *grid_overrides(load_params(REPO / "params.yaml")))
    raw = yaml.safe_load(edited.read_text(encoding="utf-8"))
    grid = raw["grid"]
    for section, target in (("mixtures", raw["build"]["mixtures"]),
                            ("runs", raw["build"]["runs"]), ("systems", raw["systems"])):
        before = default["systems"] if section == "systems" else default["build"][section]
        assert target == {**before, **grid[section]}, section
    assert raw["build"]["speed_beams"] == grid["speed"]["beams"] == [1, 16]
    assert raw["build"]["findings"] == ["paper"]
    # the grid's full fine-tuning run, as its train stage reads it inside the experiment
    params = load_params(edited)
    assert parse_train(params, "build.runs.writing-alpaca-full.train").method == "full"
    assert parse_train(params, "build.runs.gec-only.train") == parse_train(params)


def test_the_ladder_experiment_adds_a_pre_trained_bases_rungs(tmp_path: Path) -> None:
    default = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    edited = apply(tmp_path, *grid_overrides(load_params(REPO / "params.yaml"), "ladder"))
    raw = yaml.safe_load(edited.read_text(encoding="utf-8"))
    ladder = raw["ladder"]
    assert raw["build"]["bases"] == [*default["build"]["bases"], "gemma-3-270m"]
    assert raw["build"]["runs"] == {**default["build"]["runs"], **ladder["runs"]}
    assert raw["systems"] == {**default["systems"], **ladder["systems"]}
    assert raw["build"]["ladders"] == ["bases"] and raw["build"]["findings"] == []
    # the same recipe as the default runs: only the base differs
    for name in ("alpaca", "writing-alpaca"):
        ours, default_run = raw["build"]["runs"][f"gemma-{name}"], default["build"]["runs"][name]
        assert {**ours, "base": None} == {**default_run, "base": None}
        assert ours["base"] == "gemma-3-270m"
    # every rung of every base is a system the experiment evaluates
    assert {s for rungs in ladder["rungs"].values() for s in rungs} <= set(raw["systems"])


def test_the_grid_command_runs_one_temporary_experiment() -> None:
    from click.testing import CliRunner

    from stages.grid import grid

    result = CliRunner().invoke(grid, ["--params", str(REPO / "params.yaml"), "--dry-run",
                                       "-S", "profile=paper"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dvc exp run --temp -n paper-grid -S ")
    assert "'+build.runs.gec-only=${grid.runs.gec-only}'" in result.output
    assert result.output.rstrip().endswith("-S profile=paper")
    # targets go last, after every override
    result = CliRunner().invoke(grid, ["--params", str(REPO / "params.yaml"), "--dry-run",
                                       "--target", "findings@paper"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("-S 'build.findings=${grid.findings}' findings@paper")


def _fake_dvc(monkeypatch: pytest.MonkeyPatch, run_rc: int, timed: bool = False
              ) -> list[list[str]]:
    """stages.grid's subprocess calls recorded; an earlier experiment of the name exists
    and `dvc exp run` exits with RUN_RC (having timed one stage, with TIMED); HEAD is
    a...a until the run, b...b after it (a commit made while it ran)."""
    import subprocess

    import stages.grid

    calls: list[list[str]] = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        rc = run_rc if command[:3] == ["dvc", "exp", "run"] else 0
        env = kwargs.get("env")
        if command[:3] == ["dvc", "exp", "run"] and isinstance(env, dict) and timed:
            # a stage of the temporary copy keeps its time where the command says
            times = Path(env["WRITING_ALPACA_TIMINGS"])
            times.mkdir(parents=True, exist_ok=True)
            (times / "predict-predictions_gemma-base.json").write_text(json.dumps(
                {"command": "predict", "out": "predictions/gemma-base", "seconds": 1360.2,
                 "items": 755, "finished": "2026-12-07 20:04:00", "cpu": "AMD EPYC",
                 "cores": 2}))
        ran = any(call[:3] == ["dvc", "exp", "run"] for call in calls)
        stdout = "# findings\n" if command[:2] == ["git", "show"] else ("b" if ran else "a") * 40
        return subprocess.CompletedProcess(command, rc, stdout, "")

    monkeypatch.setattr(stages.grid.subprocess, "run", run)
    return calls


@pytest.mark.parametrize("run_rc", [0, 1])
def test_the_grid_replaces_an_earlier_experiment_only_once_the_new_one_ran(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_rc: int) -> None:
    from click.testing import CliRunner

    from stages.grid import grid

    calls = _fake_dvc(monkeypatch, run_rc)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(grid, ["--params", str(REPO / "params.yaml")])
    dvc_calls = [c[:5] for c in calls if c[0] == "dvc"]
    assert dvc_calls[0] == ["dvc", "exp", "rename", "-f", "paper-grid"]
    assert calls[[c[0] for c in calls].index("dvc")][-1] == "paper-grid-previous"
    if run_rc:  # failed: the earlier results get their name back, nothing is written
        assert result.exit_code != 0 and "earlier one keeps its name" in result.output
        assert dvc_calls[-1] == ["dvc", "exp", "rename", "paper-grid-previous", "paper-grid"]
        assert not (tmp_path / "reports" / "findings.md").exists()
    else:
        assert result.exit_code == 0, result.output
        assert dvc_calls[-1] == ["dvc", "exp", "remove", "paper-grid-previous"]
        assert (tmp_path / "reports" / "findings.md").read_text() == "# findings\n"
        # the report comes from the experiment of the commit it was made on
        [shown] = [c for c in calls if c[:2] == ["git", "show"]]
        assert shown[-1].startswith(f"refs/exps/aa/{'a' * 38}/paper-grid:")


def test_the_ladder_runs_as_one_experiment_and_brings_back_its_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from stages.grid import grid

    calls = _fake_dvc(monkeypatch, 0)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(grid, ["--params", str(REPO / "params.yaml"), "--section",
                                       "ladder", "--name", "base-ladder", "--target",
                                       "ladder@bases"])
    assert result.exit_code == 0, result.output
    [run] = [c for c in calls if c[:3] == ["dvc", "exp", "run"]]
    assert run[:6] == ["dvc", "exp", "run", "--temp", "-n", "base-ladder"]
    assert "build.ladders=${ladder.reports}" in run and run[-1] == "ladder@bases"
    assert "build.bases=[smollm2-135m-instruct,gemma-3-270m]" in run
    assert not any("grid." in arg for arg in run)  # nothing of the grid section
    shown = [c for c in calls if c[:2] == ["git", "show"]]
    assert shown and shown[-1][-1].endswith(":reports/ladder.md")
    assert (tmp_path / "reports" / "ladder.md").read_text() == "# findings\n"
    assert not (tmp_path / "reports" / "findings.md").exists()
    # every stage came from the cache: no stage times, no time report
    assert not (tmp_path / "reports" / "ladder-performance.md").exists()


def test_the_experiments_stage_times_outlive_its_temporary_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stages of `dvc exp run --temp` keep their times in this checkout's
    .cache/timings/<name>/, from which the experiment's time report is written; an
    earlier run's times there are not reported as this run's."""
    from click.testing import CliRunner

    from stages.grid import grid

    calls = _fake_dvc(monkeypatch, 0, timed=True)
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / ".cache" / "timings" / "base-ladder"
    earlier.mkdir(parents=True)
    (earlier / "train-adapters_gemma-alpaca.json").write_text(json.dumps(
        {"command": "train", "out": "adapters/gemma-alpaca", "seconds": 1558.0}))
    result = CliRunner().invoke(grid, ["--params", str(REPO / "params.yaml"), "--section",
                                       "ladder", "--name", "base-ladder"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "reports" / "ladder-performance.md").read_text()
    assert "`writing-alpaca grid` (experiment base-ladder)" in report
    assert "| predict -> predictions/gemma-base | 1360.2 | 0.56 items/s" in report
    assert "AMD EPYC, 2 cores" in report and "gemma-alpaca" not in report
    assert any(c[:3] == ["dvc", "exp", "run"] for c in calls)


def test_a_systems_own_decoding_reruns_that_system_only(tmp_path: Path) -> None:
    before = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    after = yaml.safe_load(apply(tmp_path, "+systems.writing-alpaca.predict={copy_margin: 0.2}")
                           .read_text(encoding="utf-8"))
    # (and the report, which lists the systems)
    assert changed_stages(REPO, before, after) == {"predict@writing-alpaca",
                                                   "dev@writing-alpaca", "report"}
    after = yaml.safe_load(apply(tmp_path, "+systems.alpaca.predict={num_beams: 1, copy_margin: null}")
                           .read_text(encoding="utf-8"))
    assert changed_stages(REPO, before, after) == {"predict@alpaca", "dev@alpaca", "report"}


@pytest.mark.parametrize("name", ["../x", "a/b", "-n", ""])
def test_an_experiment_name_that_is_no_plain_name_is_refused_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The name becomes a git ref and the folder its stage times are kept in (cleared
    before each run): `../x` must not reach either."""
    from click.testing import CliRunner

    from stages.grid import grid

    calls = _fake_dvc(monkeypatch, 0)
    monkeypatch.chdir(tmp_path)
    kept = tmp_path / ".cache" / "x"
    kept.mkdir(parents=True)
    (kept / "mine.json").write_text("{}")
    result = CliRunner().invoke(grid, ["--params", str(REPO / "params.yaml"), "--name", name])
    assert result.exit_code == 2 and "--name" in result.output
    assert not calls and (kept / "mine.json").is_file()


def test_a_grid_of_an_older_commit_is_renamed_so_its_name_stays_unambiguous(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """paper-grid on two commits makes `--rev paper-grid` ambiguous to DVC once HEAD is
    neither; after a run the others carry their commit in the name, the run's keeps the
    plain name (also when HEAD moved on while it ran), and no experiment is lost."""
    import subprocess

    from stages.grid import rename_older_baselines

    def sh(*args: str) -> str:
        return subprocess.run(args, cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    monkeypatch.chdir(tmp_path)
    sh("git", "init", "-q")
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
       "-m", "0")
    sh(shutil.which("dvc") or "dvc", "init", "-q")
    commits = []
    for number in range(3):
        sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
           "--allow-empty", "-m", str(number + 1))
        commits.append(sh("git", "rev-parse", "HEAD"))
    refs = {commit: f"refs/exps/{commit[:2]}/{commit[2:]}/paper-grid" for commit in commits}
    for commit, ref in refs.items():
        sh("git", "update-ref", ref, commit)
    other = f"refs/exps/{commits[0][:2]}/{commits[0][2:]}/base-ladder"
    sh("git", "update-ref", other, commits[0])
    # a name an older run cannot take: it stays, with a warning
    taken = f"refs/exps/{commits[1][:2]}/{commits[1][2:]}/paper-grid-{commits[1][:7]}"
    sh("git", "update-ref", taken, commits[1])

    # the run was made on commits[2]; a commit made while it ran moves HEAD on
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
       "-m", "during the run")
    rename_older_baselines("paper-grid", commits[2])
    listed = set(sh("git", "for-each-ref", "--format=%(refname)", "refs/exps/").split())
    assert refs[commits[2]] in listed  # the new run keeps the name
    assert f"refs/exps/{commits[0][:2]}/{commits[0][2:]}/paper-grid-{commits[0][:7]}" in listed
    assert refs[commits[0]] not in listed and other in listed
    assert refs[commits[1]] in listed and taken in listed
    assert f"paper-grid of commit {commits[1][:7]} keeps its name" in capsys.readouterr().err

