"""`writing-alpaca publish`: upload a trained adapter and its mixture to the Hub, with cards.

Not a DVC stage (house rule 11: publishing has side effects). Reads adapters/<run>/ (as
ship@<run> wrote it: the adapter, its card and decoding.json), the mixture the run
trained on (data/mixtures/<mixture>/, named in the folder's training_args.json; runs of
several bases share one) and metrics/<run>.json; renders the card again with links to
the Hub repos and validates it locally; then makes ONE commit to the dataset repo and ONE to the model repo.
The decoding is the folder's decoding.json (what the scores were measured with); for a
folder without one, the system's decoding in params.yaml.

Order: the dataset repo first, then the adapter. The adapter card links to the dataset
repo, so the link works from the moment the adapter appears; if the adapter commit
fails, the Hub holds a complete dataset and no half-published adapter, and re-running
the same command finishes the job (create_repo is idempotent, unchanged files are not
re-sent, and each repo changes only through one whole commit).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, read_json
from stages.lib.core.params import load_params
from stages.lib.evaluation.results import read_results
from stages.lib.inference.decoding import read_record
from stages.lib.inference.decoding_record import DECODING_RECORD, decoding_settings
from stages.lib.inference.predict_config import parse_predict
from stages.lib.publishing.hub import looks_local, recorded_base

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a mixture card must tell a user (rendered by stages.lib.publishing.cards in the mix stage).
DATASET_CARD_SECTIONS = ("## Composition", "## Instruction template", "## Decontamination",
                         "## Source corpora")
TEMPLATE = Path(__file__).resolve().parents[1] / "datacards" / "templates" / "adapter_card.md"


def _check_repo_id(value: str, option: str) -> str:
    if not REPO_ID.match(value) or ".." in value or value.endswith((".git", ".")):
        raise InputError(f"{option}: expected OWNER/NAME, got {value!r}")
    return value


# Pickles run code when loaded, so none is published: the Trainer's training_args.bin is
# left out (training_args.json says the same in JSON), and any other pickle is refused.
UNPUBLISHED = {"training_args.bin"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def folder_files(folder: Path) -> dict[str, Path]:
    """Every plain file under `folder` (relative posix path -> file); hidden ones and
    training_args.bin skipped; another pickle is an InputError naming it."""
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if relative.name in UNPUBLISHED:
            continue
        if relative.suffix in PICKLE_SUFFIXES:
            raise InputError(f"{path}: a pickle (it would run code where it is loaded); "
                             f"publish ships safetensors only, so save it as .safetensors")
        files[relative.as_posix()] = path
    return files


def load_dataset_card(mixture_dir: Path) -> Any:
    """The mixture's dataset card (rendered by the mix stage), parsed and checked."""
    from huggingface_hub import DatasetCard

    path = mixture_dir / "README.md"
    if not path.is_file():
        raise InputError(f"{path}: no dataset card; run `dvc repro mix@{mixture_dir.name}`")
    try:
        card = DatasetCard(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: dataset card metadata does not parse: {exc}") from None
    if not card.data.get("license"):
        raise InputError(f"{path}: dataset card metadata has no `license`")
    missing = [s for s in DATASET_CARD_SECTIONS if f"\n{s}" not in card.text]
    if missing:
        raise InputError(f"{path}: dataset card lacks the section(s) {', '.join(missing)}")
    return card


def adapter_base(adapter_dir: Path) -> dict[str, Any] | None:
    """base.json of the folder adapter_config.json names as the base, when it is a base
    that base_model built here (its Hub id and licence)."""
    from stages.lib.model.bases import read_base_record

    name = recorded_base(adapter_dir)
    return read_base_record(Path(name)) if name and Path(name).is_dir() else None


def resolve_base_model_id(adapter_dir: Path, explicit: str | None) -> str | None:
    """The base model's Hub id: --base-model-id, else adapter_config's when it is one,
    else the hub_id of the base folder it names (models/<base>/base.json)."""
    if explicit:
        return _check_repo_id(explicit, "--base-model-id")
    name = recorded_base(adapter_dir)
    # A local path such as models/<base> means nothing to the Hub or to downloaders.
    if REPO_ID.match(name) and not looks_local(name):
        return name
    hub_id = str((adapter_base(adapter_dir) or {}).get("hub_id") or "")
    return _check_repo_id(hub_id, f"{name}/base.json hub_id") if hub_id else None


def adapter_files(adapter_dir: Path, card_text: str, base_id: str | None,
                  decoding: dict[str, Any]) -> dict[str, Any]:
    """Files of the model repo: the adapter folder, its card, decoding.json (so `edit`
    decodes it as it was evaluated) and (when the base model has a Hub id)
    adapter_config.json pointing at it so `edit` finds the base by itself."""
    files: dict[str, Any] = {k: v for k, v in folder_files(adapter_dir).items()
                             if k != "README.md"}
    if base_id and "adapter_config.json" in files:
        config = json.loads(files["adapter_config.json"].read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_id
        files["adapter_config.json"] = (json.dumps(config, indent=2, sort_keys=True)
                                        + "\n").encode()
    files[DECODING_RECORD] = (json.dumps(decoding, indent=2, sort_keys=True) + "\n").encode()
    files["README.md"] = card_text.encode("utf-8")
    return files


def trained_mixture(adapter_dir: Path, run: str) -> str:
    """The mixture the adapter was trained on, as train recorded it in
    training_args.json; a folder without that record (trained elsewhere, or before train
    wrote it) is taken to be named after its mixture."""
    record = adapter_dir / "training_args.json"
    if not record.is_file():
        return run
    recorded = read_json(record)
    mixture = recorded.get("mixture", run) if isinstance(recorded, dict) else None
    if not isinstance(mixture, str) or not mixture:
        raise InputError(f"{record}: `mixture` is not a mixture name: {mixture!r}")
    return mixture


def recorded_or_declared(adapter_dir: Path, params_path: Path, system: str
                         ) -> dict[str, Any]:
    """The decoding to publish: the folder's decoding.json (ship copies it from the
    metrics, so it is what the scores were measured with), else the system's settings
    in params (a folder trained elsewhere, or before ship existed)."""
    record = adapter_dir / DECODING_RECORD
    if record.is_file():
        return read_record(record).record()
    return decoding_settings(parse_predict(load_params(params_path), system))


def _describe(files: dict[str, Any]) -> list[str]:
    lines = []
    for path, content in sorted(files.items()):
        size = len(content) if isinstance(content, bytes) else content.stat().st_size
        lines.append(f"  {path}  ({size:,} bytes)")
    return lines


@click.command()
@click.argument("run")
@click.option("--repo-id", required=True, help="Model repo for the adapter, OWNER/NAME.")
@click.option("--dataset-repo-id", default=None,
              help="Dataset repo for the mixture (default: the same OWNER/NAME, as a dataset).")
@click.option("--private", is_flag=True, help="Create the repos as private.")
@click.option("--dry-run", is_flag=True, help="Print the files and cards; no network.")
@click.option("--base-model-id", default=None,
              help="Hub id of the base model, for the card and adapter_config.json.")
@click.option("--adapters-dir", type=click.Path(path_type=Path), default=Path("adapters"))
@click.option("--mixtures-dir", type=click.Path(path_type=Path), default=Path("data/mixtures"))
@click.option("--metrics-dir", type=click.Path(path_type=Path), default=Path("metrics"))
@click.option("--benchmark-dir", type=click.Path(path_type=Path), default=Path("data/benchmark"),
              help="For index.json (metric, size and stand-in flag per dataset).")
@click.option("--params", "params_path", type=click.Path(path_type=Path),
              default=Path("params.yaml"), show_default=True,
              help="For a folder without decoding.json: the system's decoding "
                   "(systems.RUN.predict over predict) goes into decoding.json.")
def publish(run: str, repo_id: str, dataset_repo_id: str | None, private: bool,
            dry_run: bool, base_model_id: str | None, adapters_dir: Path,
            mixtures_dir: Path, metrics_dir: Path, benchmark_dir: Path,
            params_path: Path) -> None:
    """Publish adapters/RUN and the mixture it was trained on to the Hugging Face Hub.

    The adapter's card names the mixture and the scores of system RUN
    (metrics/RUN.json). One commit to the dataset repo, then one to the model repo. The
    token comes from HF_TOKEN or `hf auth login` and is never printed.
    """
    from stages.lib.publishing import adapter_card

    repo_id = _check_repo_id(repo_id, "--repo-id")
    dataset_repo_id = _check_repo_id(dataset_repo_id or repo_id, "--dataset-repo-id")
    adapter_dir = adapters_dir / run
    if not adapter_dir.is_dir():
        raise InputError(f"{adapter_dir}: folder not found (run `dvc repro ship@{run}`)")
    mixture = trained_mixture(adapter_dir, run)
    mixture_dir = mixtures_dir / mixture
    if not mixture_dir.is_dir():
        raise InputError(f"{mixture_dir}: folder not found, the mixture {adapter_dir} was "
                         f"trained on (run `dvc repro mix@{mixture}`)")
    metrics = read_results(metrics_dir / f"{run}.json", f" (run `dvc repro evaluate@{run}`)")
    dataset_card = load_dataset_card(mixture_dir)
    base_id = resolve_base_model_id(adapter_dir, base_model_id)
    decoding = recorded_or_declared(adapter_dir, params_path, run)

    rows = adapter_card.benchmark_rows(metrics, adapter_card.read_json(benchmark_dir / "index.json"))
    card = adapter_card.build_adapter_card(
        name=mixture, repo_id=repo_id, dataset_repo_id=dataset_repo_id, adapter_dir=adapter_dir,
        metrics=metrics, benchmark_index=adapter_card.read_json(benchmark_dir / "index.json"),
        license_info=adapter_card.license_info(dataset_card.data, adapter_base(adapter_dir)),
        base_model_id=base_id,
        template=TEMPLATE, decoding=decoding,
    )
    card_text = str(card)
    adapter_card.validate_adapter_card(card_text, rows)
    model_files = adapter_files(adapter_dir, card_text, base_id, decoding)
    data_files: dict[str, Any] = dict(folder_files(mixture_dir))
    visibility = "private" if private else "public"

    plan = [("dataset", dataset_repo_id, data_files), ("model", repo_id, model_files)]
    for repo_type, rid, files in plan:
        click.echo(f"{repo_type} repo {rid} ({visibility}), one commit of {len(files)} files:")
        click.echo("\n".join(_describe(files)))
    if dry_run:
        click.echo(f"\n--- model card: {repo_id}/README.md ---\n{card_text}")
        click.echo(f"\n--- dataset card: datasets/{dataset_repo_id}/README.md ---\n"
                   f"{data_files['README.md'].read_text(encoding='utf-8')}")
        click.echo("dry run: nothing was uploaded")
        return
    _upload(plan, run, private)


def _upload(plan: list[tuple[str, str, dict[str, Any]]], run: str, private: bool) -> None:
    """Commit each repo's files in one commit; Hub errors become one token-free line."""
    from huggingface_hub import HfApi

    from stages.lib.publishing import hub

    token = hub.require_token()
    api = HfApi(endpoint=hub.endpoint(), token=token)
    for repo_type, rid, files in plan:
        try:
            url = hub.commit_files(api, rid, repo_type, files,
                                   f"writing-alpaca: publish {run} ({repo_type})", private)
        except Exception as exc:  # noqa: BLE001 - every failure gets one clear message
            raise hub.explain(exc, f"publishing {repo_type} repo {rid}", token) from None
        click.echo(hub.sanitize(f"published {repo_type} repo {rid}: {url}", token))
