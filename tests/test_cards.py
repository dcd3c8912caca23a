"""Adapter and dataset cards: metadata parses into huggingface_hub's card classes, the
model-index round-trips, metrics/stand-ins/licences are carried over faithfully."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, ModelCard
from publish_fixtures import DATASETS, make_mixture, make_run

from stages.lib.core.io import InputError
from stages.lib.evaluation.results import Results, read_results
from stages.lib.publishing import adapter_card
from stages.publish import TEMPLATE, load_dataset_card

EXPECTED_METRIC = {"conll": "M2 F0.5", "bea": "ERRANT F0.5", "jfl": "GLEU"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    return make_run(tmp_path_factory.mktemp("cards"), tiny_model_dir, steps=0)


def render(run: dict[str, Path], metrics: Results | None = None) -> str:
    metrics = metrics or read_results(run["metrics"])
    index = json.loads((run["root"] / "data" / "benchmark" / "index.json").read_text())
    card = adapter_card.build_adapter_card(
        name="writing-alpaca", repo_id="me/wa", dataset_repo_id="me/wa-data",
        adapter_dir=run["adapter"], metrics=metrics, benchmark_index=index,
        license_info=adapter_card.license_info(load_dataset_card(run["mixture"]).data),
        base_model_id="org/base-7b", template=TEMPLATE)
    return str(card)


def test_adapter_card_metadata_and_model_index_round_trip(run: dict[str, Path]) -> None:
    text = render(run)
    metrics = read_results(run["metrics"])
    rows = adapter_card.benchmark_rows(metrics, json.loads(
        (run["root"] / "data" / "benchmark" / "index.json").read_text()))
    adapter_card.validate_adapter_card(text, rows)
    data = ModelCard(text).data
    assert data.library_name == "peft" and data.base_model == "org/base-7b"
    assert data.datasets == ["me/wa-data"] and "lora" in data.tags
    results = data.eval_results
    assert len(results) == len(DATASETS) == 10
    by_name = {r.dataset_name.split(" (stand-in")[0]: r for r in results}
    for dataset in DATASETS:
        result = by_name[adapter_card.BENCHMARK_CARD[dataset]["name"]]
        assert result.metric_value == metrics.scores[dataset]
        assert result.metric_name == EXPECTED_METRIC.get(dataset, "SARI")
    standins = [r.dataset_name for r in results if "stand-in" in r.dataset_name]
    assert standins == ["WNC test (stand-in, not the official test set)"]
    assert "stand-in: not the official test set" in text


def test_validation_catches_a_changed_value(run: dict[str, Path]) -> None:
    text = render(run)
    metrics = read_results(run["metrics"])
    rows = adapter_card.benchmark_rows(metrics, None)
    tampered = text.replace(f"value: {metrics.scores['conll']}", "value: 99.5", 1)
    assert tampered != text
    with pytest.raises(ValueError, match="round-trip"):
        adapter_card.validate_adapter_card(tampered, rows)


def test_only_measured_datasets_are_listed(run: dict[str, Path]) -> None:
    metrics = Results({"conll": 12.5, "sts": 40.0, "avg": 26.25})
    data = ModelCard(render(run, metrics)).data
    assert sorted(r.metric_value for r in data.eval_results) == [12.5, 40.0]


def test_licence_is_the_most_restrictive_and_the_card_says_non_commercial(
        run: dict[str, Path]) -> None:
    assert adapter_card.most_restrictive(["apache-2.0", "cc-by-nc-4.0", "cc-by-sa-4.0"]) \
        == "cc-by-nc-4.0"
    assert adapter_card.most_restrictive(["mit", "some-custom-terms"]) == "other"
    # the fixture mixture mixes CC BY-NC (alpaca) with Apache: the mix stage's card says
    # cc-by-nc-4.0 and the adapter card follows it
    assert DatasetCard(load_dataset_card(run["mixture"]).content).data.license == "cc-by-nc-4.0"
    text = render(run)
    assert ModelCard(text).data.license == "cc-by-nc-4.0"
    assert "non-commercial research use only" in text


def test_permissive_and_research_only_mixtures(tmp_path: Path) -> None:
    permissive = load_dataset_card(make_mixture(tmp_path / "a" / "m", {"x": "Apache-2.0"}))
    info = adapter_card.license_info(permissive.data)
    assert info == {"license": "apache-2.0", "noncommercial": False}
    research = load_dataset_card(make_mixture(tmp_path / "b" / "m", {
        "x": "Apache-2.0", "wi": "W&I+LOCNESS licence: non-commercial research use"}))
    info = adapter_card.license_info(research.data)
    assert info["license"] == "other" and info["noncommercial"] is True
    assert info["license_name"] == "research-only"


def test_the_base_models_licence_joins_the_datas(tmp_path: Path) -> None:
    gemma = {"license": "gemma", "license_link": "https://ai.google.dev/gemma/terms"}
    permissive = load_dataset_card(make_mixture(tmp_path / "a" / "m", {"x": "Apache-2.0"}))
    # the weights' terms win over permissive data
    info = adapter_card.license_info(permissive.data, gemma)
    assert info["license"] == "gemma" and info["noncommercial"] is False
    assert info["license_link"] == info["base_license_link"] == gemma["license_link"]
    # two restrictive licences: `other`, named after both
    noncommercial = load_dataset_card(make_mixture(tmp_path / "b" / "m", {"x": "CC-BY-NC-4.0"}))
    info = adapter_card.license_info(noncommercial.data, gemma)
    assert info["license"] == "other" and info["noncommercial"] is True
    assert info["license_name"] == "cc-by-nc-4.0-and-gemma"
    # a permissive base leaves the data's licence as it was
    info = adapter_card.license_info(noncommercial.data, {"license": "apache-2.0"})
    assert info["license"] == "cc-by-nc-4.0" and info["base_license"] == "apache-2.0"


def test_dataset_card_without_licence_or_sections_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlanguage: en\n---\n# m\n")
    with pytest.raises(InputError, match="license"):
        load_dataset_card(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# m\n## Composition\n")
    with pytest.raises(InputError, match="Decontamination"):
        load_dataset_card(folder)
