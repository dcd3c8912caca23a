"""ship@<run>: trained/<run>/ + its evaluation -> adapters/<run>/, the adapter as it ships.

train writes what training made into trained/<run>/ (weights, tokenizer, training
records), and predict decodes that folder. This stage copies it and adds what a user of
the folder needs: the card (the base by Hub id and weights' sha256, the mixture, the
licence, the decoding and the scores of system <run>, with their intervals) and
decoding.json, which `edit` applies. A local folder is then what `publish` uploads.

It is a stage of its own so that a decoding experiment re-runs it in seconds instead of
retraining, and so that the card can carry the scores: predict never reads adapters/.
The decoding comes from the metrics' details (what predict recorded having used), not
from params, so the card cannot name a decoding the scores were not measured with.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import click

from stages.lib.core.io import InputError, atomic_path, write_json
from stages.lib.core.params import load_params
from stages.lib.inference.decoding import (
    DECODING_RECORD,
    RECORD_KEYS,
    DecodingError,
    decoding_from_settings,
)
from stages.lib.inference.systems import read_systems, run_system_problem
from stages.lib.model.model_dirs import MODEL_FOLDER_FILES

CARD_TEMPLATE = (Path(__file__).resolve().parents[1] / "datacards" / "templates"
                 / "adapter_folder_card.md")
# train's own records that stay in trained/<run>/: a pickle (training_args.json says the
# same in JSON) is no part of an adapter anyone downloads
LEFT_BEHIND = {"training_args.bin", "README.md"}
SHIPPED_FILES = (*MODEL_FOLDER_FILES, DECODING_RECORD)


@click.command("ship")
@click.option("--run", "name", required=True, help="The training run (params build.runs).")
@click.option("--trained", required=True, type=click.Path(path_type=Path),
              help="The folder train wrote (trained/<run>).")
@click.option("--mixture-dir", required=True, type=click.Path(path_type=Path),
              help="data/mixtures/<mixture>, whose dataset card declares the data's licence.")
@click.option("--base", "base_dir", required=True, type=click.Path(path_type=Path),
              help="models/<base>, whose base.json names the base's Hub id and licence.")
@click.option("--metrics", "metrics_file", required=True, type=click.Path(path_type=Path),
              help="metrics/<run>.json, with its details beside it.")
@click.option("--benchmark", "benchmark_dir", required=True, type=click.Path(path_type=Path),
              help="data/benchmark (index.json: metric and stand-in flag per dataset).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path))
def ship(name: str, trained: Path, mixture_dir: Path, base_dir: Path, metrics_file: Path,
         benchmark_dir: Path, params_path: Path, out: Path) -> None:
    """Write OUT: the adapter of run NAME with its card and decoding record."""
    from stages.lib.evaluation.results import read_results
    from stages.lib.publishing.adapter_card import folder_card, read_json

    if not (trained / "training_args.json").is_file():
        raise InputError(f"{trained}: no training_args.json; run `dvc repro train@{name}`")
    problem = run_system_problem(read_systems(load_params(params_path)), name, trained)
    if problem:
        raise InputError(f"{params_path}: {problem}")
    metrics = read_results(metrics_file, f" (run `dvc repro evaluate@{name}`)")
    recorded = metrics.details.get("decoding")
    if not isinstance(recorded, dict):
        raise InputError(f"{metrics_file}: its details hold no decoding record; "
                         f"run `dvc repro evaluate@{name}`")
    try:
        decoding = decoding_from_settings({key: recorded[key] for key in RECORD_KEYS
                                           if key in recorded})
    except DecodingError as exc:
        raise InputError(f"{metrics_file}: details.decoding: {exc.named({})}") from None
    with atomic_path(out, is_dir=True, owns=SHIPPED_FILES) as tmp:
        for item in sorted(trained.iterdir()):
            if item.is_file() and item.name not in LEFT_BEHIND:
                shutil.copy2(item, tmp / item.name)
        write_json(tmp / DECODING_RECORD, decoding.record())
        (tmp / "README.md").write_text(folder_card(
            name=name, system=name, folder=tmp, shown_as=out, trained_dir=trained,
            mixture_dir=mixture_dir, base_dir=base_dir, metrics=metrics,
            metrics_file=metrics_file, benchmark_index=read_json(benchmark_dir / "index.json"),
            decoding=decoding, template=CARD_TEMPLATE), encoding="utf-8")
    click.echo(f"ship@{name}: {out} ({decoding.label}, Avg. {metrics.score('avg')})", err=True)
