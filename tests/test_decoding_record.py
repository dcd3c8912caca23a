"""decoding.json and the params lookup behind `edit`'s default decoding."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.lib.core.io import InputError
from stages.lib.inference.decoding import Decoding, read_record
from stages.lib.inference.decoding_record import evaluated_decoding

PARAMS = """predict: {num_beams: 1, copy_margin: null}
systems:
  copy: {adapter: adapters/copy}
  writer: {adapter: adapters/writer, predict: {num_beams: 4, copy_margin: 0.5}}
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(PARAMS, encoding="utf-8")
    for name in ("copy", "writer", "other"):
        (tmp_path / "adapters" / name).mkdir(parents=True)
    return tmp_path


def test_a_pipeline_adapter_takes_its_systems_decoding(checkout: Path) -> None:
    params = checkout / "params.yaml"
    assert evaluated_decoding(checkout / "adapters" / "writer", params) == (
        Decoding(4, 0.5), f"{params}: systems.writer")
    # a system without its own decoding: the shared predict section's
    assert evaluated_decoding(checkout / "adapters" / "copy", params) == (
        Decoding(1, None), f"{params}: systems.copy")
    assert evaluated_decoding(checkout / "adapters" / "other", params) is None


def test_a_folder_outside_the_checkout_never_reads_its_params(checkout: Path,
                                                             tmp_path_factory: pytest.TempPathFactory
                                                             ) -> None:
    elsewhere = tmp_path_factory.mktemp("hf-cache") / "writer"
    elsewhere.mkdir()
    (checkout / "params.yaml").write_text("not_a_section: 1\n", encoding="utf-8")
    assert evaluated_decoding(elsewhere, checkout / "params.yaml") is None
    # ... while one inside it does, and a broken params file is an error naming it
    with pytest.raises(InputError, match="params.yaml: unknown section"):
        evaluated_decoding(checkout / "adapters" / "writer", checkout / "params.yaml")


def test_the_record_wins_over_params(checkout: Path) -> None:
    folder = checkout / "adapters" / "writer"
    (folder / "decoding.json").write_text(json.dumps({"num_beams": 2, "copy_margin": None}))
    assert evaluated_decoding(folder, checkout / "params.yaml") == (
        Decoding(2, None), str(folder / "decoding.json"))


@pytest.mark.parametrize("content, message", [
    ({"num_beams": 4, "temperature": 0.7}, "only num_beams, copy_margin"),
    ({"num_beams": 0}, "num_beams must be an integer >= 1"),
    ({"num_beams": True}, "num_beams must be an integer >= 1"),
    ({"num_beams": 4, "copy_margin": "wide"}, "copy_margin must be a number"),
    ({"copy_margin": 0.5}, "copy_margin 0.5 chooses among beam search candidates"),
    ({"num_beams": 4, "copy_margin": -1}, "must be >= 0"),
    ([4, 0.5], "expected an object"),
])
def test_a_bad_record_is_an_error_naming_the_file(tmp_path: Path, content: object,
                                                  message: str) -> None:
    record = tmp_path / "decoding.json"
    record.write_text(json.dumps(content))
    with pytest.raises(InputError, match=message) as info:
        read_record(record)
    assert str(record) in info.value.message


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    record = tmp_path / "decoding.json"
    record.write_text('{\n  "num_beams": 4,\n}\n')
    with pytest.raises(InputError, match=r"decoding.json:3: invalid JSON"):
        read_record(record)
