"""The adapter's model card: Hub metadata (YAML + model-index) and a readable body.

The YAML is built with huggingface_hub's ModelCardData/EvalResult so the Hub parses it
the way we wrote it; `validate_adapter_card` re-parses the rendered text and checks the
eval results survived the round trip. The body comes from
datacards/templates/adapter_card.md (a Jinja template) when it exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stages.lib.core.io import read_json as parse_json_file
from stages.lib.data.benchmark_info import PAPER_METRICS, PAPER_ORDER
from stages.lib.data.prompts import recorded_template
from stages.lib.metrics.ids import METRIC_IDS

if TYPE_CHECKING:  # dataset cards (mix) import this module and need no results
    from stages.lib.evaluation.results import Results
    from stages.lib.inference.decoding import Decoding

# Benchmark dataset id -> how it is described on the Hub. dataset_type is the Hub
# dataset the test set comes from (ITERATER intents are configs of one dataset).
BENCHMARK_CARD: dict[str, dict[str, str]] = {
    "conll": {"type": "conll2014", "name": "CoNLL-2014 test", "split": "test",
              "task": "Grammatical error correction"},
    "bea": {"type": "wi_locness", "name": "BEA-2019 dev (W&I+LOCNESS)", "split": "validation",
            "task": "Grammatical error correction"},
    "jfl": {"type": "jhu-clsp/jfleg", "name": "JFLEG test", "split": "test",
            "task": "Fluency correction"},
    "itr-f": {"type": "wanyu/IteraTeR_human_sent", "config": "fluency",
              "name": "ITERATER-HUMAN fluency test", "split": "test",
              "task": "Fluency improvement"},
    "itr-l": {"type": "wanyu/IteraTeR_human_sent", "config": "clarity",
              "name": "ITERATER-HUMAN clarity test", "split": "test",
              "task": "Clarity improvement"},
    "itr-o": {"type": "wanyu/IteraTeR_human_sent", "config": "coherence",
              "name": "ITERATER-HUMAN coherence test", "split": "test",
              "task": "Coherence improvement"},
    "trk": {"type": "turk", "name": "TurkCorpus test", "split": "test",
            "task": "Simplification"},
    "ast": {"type": "facebook/asset", "name": "ASSET test", "split": "test",
            "task": "Simplification"},
    "wnc": {"type": "wnc", "name": "WNC test", "split": "test", "task": "Neutralization"},
    "sts": {"type": "mteb/stsbenchmark-sts", "name": "STS-B test (score 5 pairs)",
            "split": "test", "task": "Paraphrasing"},
}
TASK_TYPE = "text-generation"


@dataclass(frozen=True)
class BenchmarkRow:
    """One evaluation result as the card shows it."""

    dataset: str
    value: float
    metric: str
    standin: bool
    size: int | None


def benchmark_rows(metrics: Results, index: dict[str, Any] | None) -> list[BenchmarkRow]:
    """One row per benchmark dataset present in metrics/<name>.json, in the paper's order.

    `index` is data/benchmark/index.json (metric, stand-in flag, size); without it the
    paper's metric per dataset is assumed and stand-in comes from the metrics details.
    """
    rows = []
    details = metrics.datasets
    for dataset in PAPER_ORDER:
        if not isinstance(metrics.score(dataset), int | float):
            continue
        info = (index or {}).get(dataset, {})
        detail = details.get(dataset, {}) if isinstance(details.get(dataset), dict) else {}
        metric = info.get("metric") or detail.get("metric") or PAPER_METRICS[dataset]
        if metric not in METRIC_IDS:
            raise ValueError(f"unknown metric {metric!r} for benchmark dataset {dataset!r}")
        rows.append(BenchmarkRow(
            dataset=dataset, value=float(metrics.scores[dataset]), metric=metric,
            standin=bool(info.get("standin", detail.get("standin", False))),
            size=info.get("size"),
        ))
    return rows


def eval_results(rows: list[BenchmarkRow]) -> list[Any]:
    """huggingface_hub EvalResults for the model-index (stand-ins named as such)."""
    from huggingface_hub import EvalResult

    results = []
    for row in rows:
        meta = BENCHMARK_CARD[row.dataset]
        metric_type, metric_name = METRIC_IDS[row.metric].headline, METRIC_IDS[row.metric].label
        name = meta["name"] + (" (stand-in, not the official test set)" if row.standin else "")
        results.append(EvalResult(
            task_type=TASK_TYPE, task_name=meta["task"], dataset_type=meta["type"],
            dataset_name=name, dataset_config=meta.get("config"), dataset_split=meta["split"],
            metric_type=metric_type, metric_name=metric_name, metric_value=row.value,
        ))
    return results


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when the file does not exist."""
    if not path.is_file():
        return None
    data = parse_json_file(path)
    return data if isinstance(data, dict) else None


def build_adapter_card(*, name: str, repo_id: str, dataset_repo_id: str,
                       adapter_dir: Path, metrics: Results,
                       benchmark_index: dict[str, Any] | None, license_info: dict[str, Any],
                       base_model_id: str | None, template: Path | None,
                       decoding: dict[str, Any] | None = None) -> Any:
    """The adapter's ModelCard (metadata + body) for `repo_id`; `decoding`: the settings
    its scores were measured with (stages.lib.inference.decoding_record)."""
    from huggingface_hub import ModelCard, ModelCardData

    rows = benchmark_rows(metrics, benchmark_index)
    is_adapter = (adapter_dir / "adapter_config.json").is_file()
    data = ModelCardData(
        base_model=base_model_id, library_name="peft" if is_adapter else "transformers",
        license=license_info.get("license"), license_name=license_info.get("license_name"),
        license_link=license_info.get("license_link"), datasets=[dataset_repo_id],
        language="en", pipeline_tag="text-generation",
        tags=["writing-assistant", "grammatical-error-correction", "text-simplification",
              "writing-alpaca"] + (["lora", "peft"] if is_adapter else []),
        model_name=repo_id.split("/")[-1], eval_results=eval_results(rows) or None,
    )
    context: dict[str, Any] = {
        "name": name, "repo_id": repo_id, "dataset_repo_id": dataset_repo_id,
        "base_model_id": base_model_id,
        "rows": [_row_view(row) for row in rows], "avg": metrics.score("avg"),
        "lic": license_info, "training_args": _scalar_items(
            read_json(adapter_dir / "training_args.json") or {}),
        "mixture_hash": _read_text(adapter_dir / "mixture_hash.txt"),
        "is_adapter": is_adapter,
        "prompt_template": recorded_template(adapter_dir) or "alpaca",
        "decoding": decoding,
    }
    return ModelCard.from_template(data, template_path=str(template), **context) \
        if template is not None and template.is_file() \
        else ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {repo_id}\n")


def folder_card(*, name: str, system: str, folder: Path, shown_as: Path, trained_dir: Path,
                mixture_dir: Path, base_dir: Path, metrics: Results, metrics_file: Path,
                benchmark_index: dict[str, Any] | None, decoding: Decoding,
                template: Path) -> str:
    """The card of the adapter folder `ship` writes, titled with the run's `name`
    (gemma-writing-alpaca, not only its mixture's): the base (its Hub id, licence and
    weights' sha256), the data's licence (the mixture's dataset card), the decoding and
    scores of `system` (its metrics, with their intervals), the training settings and
    how to load it. The training records are read from `folder` (the folder being
    written); `shown_as` is its final path, named in the loading example, and
    `trained_dir` and `metrics_file` are named as its sources."""
    from huggingface_hub import DatasetCard, ModelCard, ModelCardData

    from stages.lib.model.bases import read_base_record

    base = read_base_record(base_dir) or {}
    card_path = mixture_dir / "README.md"
    dataset_data = (DatasetCard(card_path.read_text(encoding="utf-8")).data
                    if card_path.is_file() else {})
    lic = license_info(dataset_data, base)
    is_adapter = (folder / "adapter_config.json").is_file()
    base_id = str(base.get("hub_id") or "") or None
    training_args = read_json(folder / "training_args.json") or {}
    rows = benchmark_rows(metrics, benchmark_index)
    data = ModelCardData(
        base_model=base_id, library_name="peft" if is_adapter else "transformers",
        license=lic.get("license"),
        license_name=lic.get("license_name"), license_link=lic.get("license_link"),
        language="en", pipeline_tag="text-generation",
        tags=["writing-assistant", "writing-alpaca"] + (["lora", "peft"] if is_adapter else []),
        model_name=name, eval_results=eval_results(rows) or None)
    card = ModelCard.from_template(
        data, template_path=str(template), name=name, system=system,
        mixture=training_args.get("mixture", ""), is_adapter=is_adapter,
        base_model_id=base_id, base_name=base.get("name"), base_dir=base_dir.as_posix(),
        lic=lic, adapter_dir=shown_as.as_posix(),
        trained_dir=trained_dir.as_posix(), metrics_file=metrics_file.as_posix(),
        prompt_template=recorded_template(folder) or "alpaca",
        decoding=decoding.record(), decoding_text=_decoding_text(decoding),
        avg=metrics.score("avg"), avg_over=metrics.details.get("avg_over") or [],
        rows=[_folder_row(_row_view(row), metrics.datasets.get(row.dataset)) for row in rows]
        + [_folder_row(view, metrics.datasets.get(view["dataset"]))
           for view in _own_set_views(metrics, benchmark_index)],
        mixture_hash=_read_text(folder / "mixture_hash.txt"),
        training_args=_scalar_items(training_args))
    return str(card)


def _decoding_text(decoding: Decoding) -> str:
    if decoding.num_beams == 1:
        return "greedy decoding"
    shown = f"beam search with {decoding.num_beams} beams"
    return shown + (f" and a copy margin of {decoding.copy_margin}" if decoding.margin else "")


def _own_set_views(metrics: Results, index: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Table rows of the scored sets that are not the paper's (a user's own benchmark
    sets, docs/your-data.md): named by their id, described by data/benchmark/index.json.
    The Hub's model-index lists the paper's sets only (BENCHMARK_CARD)."""
    views = []
    for dataset, detail in metrics.datasets.items():
        score = metrics.score(dataset)
        if dataset in BENCHMARK_CARD or not isinstance(score, int | float):
            continue
        info = (index or {}).get(dataset, {})
        metric = info.get("metric") or detail.get("metric")
        views.append({"dataset": dataset, "name": dataset, "task": info.get("task", ""),
                      "metric": METRIC_IDS[metric].label if metric in METRIC_IDS else metric,
                      "value": f"{score:.2f}",
                      "standin": bool(info.get("standin", detail.get("standin", False))),
                      "size": info.get("size", "")})
    return views


def _folder_row(view: dict[str, Any], detail: Any) -> dict[str, Any]:
    """A row of the folder card's table: `view` (_row_view) with the items scored and
    the 95% interval from the metrics' details."""
    detail = detail if isinstance(detail, dict) else {}
    ci = detail.get("ci95")
    n, size = detail.get("n"), detail.get("size") or view["size"]
    items = f"{n} of {size}" if n is not None and size and n != size else (n or size or "")
    return {**view, "scored": items,
            "interval": f"[{ci[0]:.2f}, {ci[1]:.2f}]" if isinstance(ci, list) and len(ci) == 2
            else ""}


def _row_view(row: BenchmarkRow) -> dict[str, Any]:
    meta = BENCHMARK_CARD[row.dataset]
    return {"dataset": row.dataset, "name": meta["name"], "task": meta["task"],
            "metric": METRIC_IDS[row.metric].label, "value": f"{row.value:.2f}",
            "standin": row.standin, "size": row.size if row.size is not None else ""}


def _scalar_items(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """The flat (key, value) pairs of training_args.json worth showing in a table."""
    return sorted((key, value) for key, value in data.items()
                  if isinstance(value, str | int | float | bool) and "token" not in key.lower())


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def validate_adapter_card(text: str, expected: list[BenchmarkRow]) -> None:
    """Parse rendered card text back; ValueError unless metadata and results round-trip."""
    from huggingface_hub import ModelCard

    card = ModelCard(text)  # raises ValueError when the YAML or model-index is malformed
    data: Any = card.data  # a ModelCardData (typed as its base class upstream)
    if data.library_name is None or data.license is None:
        raise ValueError("adapter card: library_name and license are required")
    parsed = {(r.dataset_type, r.dataset_config, r.metric_type): r.metric_value
              for r in (data.eval_results or [])}
    wanted = {}
    for row in expected:
        meta = BENCHMARK_CARD[row.dataset]
        wanted[(meta["type"], meta.get("config"), METRIC_IDS[row.metric].headline)] = row.value
    if parsed != wanted:
        raise ValueError(f"adapter card: model-index does not round-trip: {parsed} != {wanted}")


# Hub licence ids from least to most restrictive for a model trained on the data;
# anything not listed (e.g. research-only terms) ranks as `other`, the most restrictive.
LICENSE_ORDER = ["apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "gpl-3.0",
                 "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0", "other"]


def most_restrictive(licenses: list[str]) -> str:
    """The most restrictive of Hub licence ids (unknown ids count as `other`)."""
    ranked = [lic if lic in LICENSE_ORDER else "other" for lic in licenses if lic]
    return max(ranked, key=LICENSE_ORDER.index) if ranked else "other"


PERMISSIVE = ("apache-2.0", "mit", "bsd-3-clause")


def license_info(dataset_card_data: Any, base: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The adapter's licence: the mixture card's licence (already the most restrictive
    of its sources), passed through `most_restrictive` so a list collapses to one id,
    and the base model's (`base`: its base.json, stages.lib.model.bases). The weights'
    own terms win over permissive data; two restrictive licences make `other`, named
    after both, since neither id alone says what applies."""
    declared = dataset_card_data.get("license")
    ids = declared if isinstance(declared, list) else [declared] if declared else []
    license_id = most_restrictive([str(i) for i in ids])
    info: dict[str, Any] = {"license": license_id,
                            "noncommercial": "-nc" in license_id or license_id == "other"}
    if license_id == "other":
        info["license_name"] = dataset_card_data.get("license_name") or "research-only"
        info["license_link"] = dataset_card_data.get("license_link")
    base_license = str((base or {}).get("license") or "")
    if base_license:
        info["base_license"] = base_license
        info["base_license_link"] = (base or {}).get("license_link") or None
    if base_license and base_license not in PERMISSIVE and base_license != license_id:
        if license_id in PERMISSIVE:
            info["license"] = base_license
            info["license_link"] = info["base_license_link"]
        else:
            data_name = info.get("license_name") or license_id
            info["license"] = "other"
            info["license_name"] = f"{data_name}-and-{base_license}"
            info["license_link"] = info["base_license_link"]
    return info
