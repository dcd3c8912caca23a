"""recipe-dev: train recipe variants and score them on dev splits (recipe_dev.yaml).

Each variant is params.yaml with a few overrides. It is built by the pipeline's own
commands (mix, train, predict, evaluate), so what is measured here is what `dvc repro`
would train. It is scored on the dev/validation splits named in recipe_dev.yaml, never on
the test sets. The report gives each variant's scores with 95% half-widths, its paired
Δ against the reference variant, the share of outputs that copy their input, and what
`writing-alpaca edit --task grammar` makes of one sentence. A variant whose metrics file
exists is not re-run, so a killed sweep resumes with the next variant.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import yaml

from stages.lib.benchmark_info import read_index
from stages.lib.comparison import SystemResults, compare_systems
from stages.lib.copy_share import copy_share
from stages.lib.io import InputError, atomic_path, read_json, write_json
from stages.lib.params import deep_merge


def cli(*args: str | Path, stdin: str | None = None) -> str:
    """Run one `writing-alpaca` subcommand; its stderr streams through, stdout is returned."""
    command = [sys.executable, "-m", "stages.cli", *map(str, args)]
    done = subprocess.run(command, input=stdin, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(map(str, args[:1]))} failed "
                                   f"(exit {done.returncode}): {' '.join(map(str, command))}")
    return done.stdout


def read_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read recipe config: {exc}") from exc
    for key in ("dev_benchmark", "mixture", "edit_example", "reference", "variants"):
        if key not in (config or {}):
            raise InputError(f"{path}: missing key {key!r}")
    if config["reference"] not in config["variants"]:
        raise InputError(f"{path}: reference {config['reference']!r} is not a variant")
    return config


def variant_params(params_path: Path, overrides: dict[str, Any], out: Path) -> Path:
    """params.yaml (default profile) with the variant's overrides, written to OUT."""
    params = yaml.safe_load(params_path.read_text(encoding="utf-8"))
    params["profile"] = "default"
    merged = deep_merge(params, copy.deepcopy(overrides))
    with atomic_path(out) as tmp:
        tmp.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return out


def run_variant(name: str, spec: dict[str, Any], config: dict[str, Any], paths: dict[str, Path],
                out: Path) -> None:
    """Build, train, predict and score one variant; metrics/<name>.json is written last."""
    work = out / "runs" / name
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    params = variant_params(paths["params"], {k: v for k, v in spec.items() if k != "adapter"},
                            work / "params.yaml")
    if "adapter" in spec:
        adapter = Path(spec["adapter"])
    else:
        mixture = config["mixture"]
        cli("mix", "--mixture", mixture, "--corpora", paths["corpora"], "--benchmark",
            paths["benchmark"], "--datacards", paths["datacards"], "--tokenizer", paths["base"],
            "--params", params, "--out", work / "mixture")
        adapter = work / "adapter"
        cli("train", "--mixture", mixture, "--data", work / "mixture", "--base", paths["base"],
            "--params", params, "--out", adapter, "--checkpoints", work / "checkpoints",
            "--live", work / "live")
    trained = time.perf_counter()
    cli("predict", "--system", name, "--adapter", adapter, "--base", paths["base"],
        "--benchmark", out / "benchmark", "--params", params, "--out", work / "predictions")
    edit = "" if "adapter" in spec else cli(
        "edit", "--adapter", adapter, "--base", paths["base"], "--task", "grammar",
        stdin=config["edit_example"] + "\n").strip()
    write_json(work / "run.json", {"train_s": round(trained - started, 1),
                                   "copy_rate": copy_share(work / "predictions"), "edit": edit})
    cli("evaluate", "--system", name, "--predictions", work / "predictions", "--benchmark",
        out / "benchmark", "--params", params, "--out", out / "metrics" / f"{name}.json")


def report(config: dict[str, Any], out: Path, datasets: list[str]) -> str:
    """Markdown: per variant the dev scores ± half-width, Δ avg vs reference, copy share."""
    reference = SystemResults(out / "metrics", config["reference"])
    head = ["Variant", *datasets, "Avg.", f"Δ Avg. vs {config['reference']} [95% CI], p",
            "copies input", "train s", "edit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    copies: list[str] = []
    for name in config["variants"]:
        if not (out / "metrics" / f"{name}.json").is_file():
            continue
        system = SystemResults(out / "metrics", name)
        details = system.scores["details"]
        cells = [f"{system.scores[d]:.2f} ± {details['datasets'][d]['half_width']:.1f}"
                 for d in datasets]
        cells.append(f"{system.scores['avg']:.2f} ± {details['avg']['half_width']:.1f}")
        avg = compare_systems(reference, system)["avg"]
        low, high = avg["ci95"]
        cells.append(f"{avg['delta']:+.2f} [{low:+.2f}, {high:+.2f}], p {avg['p']:.3f}")
        run = read_json(out / "runs" / name / "run.json")
        rates = run["copy_rate"]
        cells.append(f"{sum(rates.values()) / len(rates):.0%}")
        cells.append(f"{run['train_s']:.0f}" if "adapter" not in config["variants"][name] else "-")
        cells.append(f"`{run['edit']}`" if run["edit"] else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        copies.append(f"| {name} | " + " | ".join(f"{rates[d]:.0%}" for d in datasets) + " |")
    return "\n".join(lines + ["", "Share of outputs identical to their input:", "",
                              "| Variant | " + " | ".join(datasets) + " |",
                              "|" + "---|" * (len(datasets) + 1), *copies]) + "\n"


@click.command("recipe-dev")
@click.option("--config", "config_path", default="recipe_dev.yaml", show_default=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--only", default="", help="Comma-separated variants to run (default: all).")
@click.option("--out", default="runs/recipe-dev", show_default=True, type=click.Path(path_type=Path))
@click.option("--report-to", "report_path", default="reports/recipe-dev.md", show_default=True,
              type=click.Path(path_type=Path))
def recipe_dev(config_path: Path, params_path: Path, only: str, out: Path,
               report_path: Path) -> None:
    """Train the variants of CONFIG and compare them on dev splits (resumable)."""
    config = read_config(config_path)
    wanted = [v for v in only.split(",") if v] or list(config["variants"])
    unknown = [v for v in wanted if v not in config["variants"]]
    if unknown:
        raise InputError(f"{config_path}: unknown variant(s) {', '.join(unknown)}")
    paths = {"params": params_path, "corpora": Path("data/corpora"),
             "benchmark": Path("data/benchmark"), "datacards": Path("datacards"),
             "base": Path("models/base")}
    for key in ("corpora", "benchmark", "base"):
        if not paths[key].exists():
            raise InputError(f"{paths[key]} not found: run `dvc repro benchmark base_model` first")
    bench_params = out / "dev_benchmark.yaml"
    out.mkdir(parents=True, exist_ok=True)
    bench_params.write_text(yaml.safe_dump({"benchmark": config["dev_benchmark"]}),
                            encoding="utf-8")
    if not (out / "benchmark" / "index.json").is_file():
        cli("benchmark", "--corpora", paths["corpora"], "--params", bench_params,
            "--out", out / "benchmark")
    # the reference first: every other variant's Δ is against it
    for name in dict.fromkeys([config["reference"], *wanted]):
        if (out / "metrics" / f"{name}.json").is_file():
            click.echo(f"recipe-dev: {name} done, skipping", err=True)
            continue
        click.echo(f"recipe-dev: variant {name}", err=True)
        run_variant(name, config["variants"][name], config, paths, out)
    datasets = list(read_index(out / "benchmark"))
    table = report(config, out, datasets)
    with atomic_path(report_path) as tmp:
        tmp.write_text(f"# Recipe variants on dev splits\n\n"
                       f"Made by `writing-alpaca recipe-dev` ({config_path}); "
                       f"predict.max_items items per dev set, 95% bootstrap half-widths.\n\n"
                       + table, encoding="utf-8")
    click.echo(table)
