"""ship@<run>: the adapter folder as users receive it - trained files, a card naming the
base, licence, decoding and scores, and decoding.json - or a one-line refusal."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from publish_fixtures import make_adapter, make_mixture

NAME = "writer"
DECODING = {"num_beams": 3, "copy_margin": 0.4, "max_new_tokens_factor": 1.5,
            "max_new_tokens_min": 16, "max_new_tokens_max": 128}
PAPER_SETS = ["conll", "bea", "jfl", "itr-f", "itr-l", "itr-o", "trk", "ast", "wnc", "sts"]


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_adapter(tiny_model_dir, tmp_path_factory.mktemp("trained") / NAME, steps=0)
    args = {"mixture": "my-mix", "prompt_template": "alpaca", "global_step": 2,
            "base": "models/tiny", "base_weights_sha256": "ab" * 32}
    (folder / "training_args.json").write_text(json.dumps(args))
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "README.md").unlink()  # PEFT's empty card: train removes it too
    return folder


@pytest.fixture
def project(tmp_path: Path, trained_adapter: Path, tiny_model_dir: Path) -> Path:
    """What ship reads, as the stages before it write it, in a checkout at tmp_path."""
    shutil.copytree(trained_adapter, tmp_path / "trained" / NAME)
    make_mixture(tmp_path / "data" / "mixtures" / "my-mix")
    base = shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny")
    (base / "base.json").write_text(json.dumps({
        "name": "tiny", "hub_id": "org/tiny-base", "license": "apache-2.0"}))
    scores = {ds: 10.0 + i for i, ds in enumerate(PAPER_SETS)}
    scores.update(avg=14.0, formal=41.5)  # and a set of the user's own
    (tmp_path / "metrics" / "details").mkdir(parents=True)
    (tmp_path / "metrics" / f"{NAME}.json").write_text(json.dumps(scores))
    details = {"avg_over": [ds for ds in PAPER_SETS if ds != "wnc"],
               "decoding": {"label": "beam 3, copy margin 0.4", **DECODING},
               "datasets": {ds: {"n": 80, "size": 1312 if ds == "conll" else 80,
                                 "ci95": [1.25, 19.5]} for ds in PAPER_SETS + ["formal"]}}
    (tmp_path / "metrics" / "details" / f"{NAME}.json").write_text(json.dumps(details))
    index = {ds: {"size": 80, "metric": {"conll": "m2", "bea": "errant", "jfl": "gleu"}
                  .get(ds, "sari"), "standin": ds == "wnc", "task": "t"} for ds in PAPER_SETS}
    index["formal"] = {"size": 80, "metric": "sari", "standin": False, "task": "formalize"}
    (tmp_path / "data" / "benchmark").mkdir(parents=True)
    (tmp_path / "data" / "benchmark" / "index.json").write_text(json.dumps(index))
    (tmp_path / "params.yaml").write_text(
        f"systems:\n  {NAME}: {{adapter: trained/{NAME}, base: tiny}}\n")
    return tmp_path


def run_ship(project: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    from stages.ship import ship

    monkeypatch.chdir(project)
    return CliRunner().invoke(ship, [
        "--run", NAME, "--trained", f"trained/{NAME}", "--mixture-dir", "data/mixtures/my-mix",
        "--base", "models/tiny", "--metrics", f"metrics/{NAME}.json",
        "--benchmark", "data/benchmark", "--params", "params.yaml", "--out", f"adapters/{NAME}"])


def test_the_shipped_folder_names_base_decoding_and_scores(project: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from huggingface_hub import ModelCard

    from stages.lib.inference.decoding import Decoding
    from stages.lib.inference.decoding_record import evaluated_decoding

    result = run_ship(project, monkeypatch)
    assert result.exit_code == 0, result.output
    shipped, trained = project / "adapters" / NAME, project / "trained" / NAME
    # every file train wrote, byte for byte, but its pickle; and the card and the record
    kept = {p.name for p in trained.iterdir()} - {"training_args.bin"}
    assert {p.name for p in shipped.iterdir()} == kept | {"README.md", "decoding.json"}
    for name in kept:
        assert (shipped / name).read_bytes() == (trained / name).read_bytes()
    assert json.loads((shipped / "decoding.json").read_text()) == DECODING
    # edit decodes the folder as its scores were measured, from the folder alone
    assert evaluated_decoding(shipped, Path("nowhere.yaml")) == (
        Decoding(3, 0.4), str(shipped / "decoding.json"))
    card = ModelCard.load(shipped / "README.md")
    assert card.data.base_model == "org/tiny-base" and card.data.license
    assert len(card.data.eval_results) == len(PAPER_SETS)
    text = card.text
    assert text.lstrip().startswith(f"# {NAME}\n")
    assert "on the `my-mix` instruction mixture" in text
    assert "beam search with 3 beams and a copy margin of 0.4" in text
    assert "| base_weights_sha256 | " + "ab" * 32 + " |" in text
    assert "| CoNLL-2014 test | Grammatical error correction | M2 F0.5 | 80 of 1312 | 10.00 " \
           "| [1.25, 19.50] |" in text
    assert "| formal | formalize | SARI | 80 | 41.50 | [1.25, 19.50] |" in text
    assert "Avg. over conll, bea, jfl" in text and "**14.00**" in text
    assert f'from_pretrained("adapters/{NAME}")' in text


def test_the_shipped_folder_loads_with_plain_peft(project: Path, tiny_model_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert run_ship(project, monkeypatch).exit_code == 0
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                      project / "adapters" / NAME)
    assert model.peft_config["default"].r == 8


@pytest.mark.parametrize("systems, said", [
    ("other: {adapter: trained/other}", f"systems.{NAME}: missing"),
    (f"{NAME}: {{adapter: trained/elsewhere}}", f"systems.{NAME}.adapter is 'trained/elsewhere'"),
])
def test_a_run_without_its_system_is_refused_in_one_line(project: Path, systems: str, said: str,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    (project / "params.yaml").write_text(f"systems:\n  {systems}\n")
    result = run_ship(project, monkeypatch)
    assert result.exit_code != 0
    assert said in result.output and len(result.output.strip().splitlines()) == 1
    assert not (project / "adapters").exists()


def test_metrics_without_a_decoding_record_are_refused(project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = project / "metrics" / "details" / f"{NAME}.json"
    details = json.loads(path.read_text())
    del details["decoding"]
    path.write_text(json.dumps(details))
    result = run_ship(project, monkeypatch)
    assert result.exit_code != 0 and "hold no decoding record" in result.output
    assert not (project / "adapters").exists()


def test_a_rerun_replaces_its_folder_but_never_a_users_file(project: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    assert run_ship(project, monkeypatch).exit_code == 0
    shipped = project / "adapters" / NAME
    assert run_ship(project, monkeypatch).exit_code == 0  # its own files only: replaced
    (shipped / "my-notes.txt").write_text("mine")
    result = run_ship(project, monkeypatch)
    assert result.exit_code != 0 and "my-notes.txt" in result.output
    assert (shipped / "my-notes.txt").read_text() == "mine"
