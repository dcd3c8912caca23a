"""corpora.yaml's `corpora:` section is exactly what `writing-alpaca corpora-params` makes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stages.cli import main
from stages.corpora_params import corpora_section, replace_section
from stages.lib.core.io import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _committed_params() -> str:
    return (REPO_ROOT / "corpora.yaml").read_text(encoding="utf-8")


def test_committed_section_is_generated(mirror: Path) -> None:
    manifest = json.loads((mirror / "MANIFEST.json").read_text(encoding="utf-8"))
    params = _committed_params()
    assert replace_section(params, corpora_section(manifest)) == params


def test_update_rewrites_only_the_section(mirror: Path, tmp_path: Path) -> None:
    manifest = json.loads((mirror / "MANIFEST.json").read_text(encoding="utf-8"))
    old_sha = manifest[0]["files"][0]["sha256"]
    manifest[0]["files"][0]["sha256"] = "0" * 64  # the mirror's file changed
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest), encoding="utf-8")
    params = tmp_path / "corpora.yaml"
    params.write_text(_committed_params(), encoding="utf-8")
    result = CliRunner().invoke(main, ["corpora-params", "--manifest",
                                       str(tmp_path / "MANIFEST.json"), "--update", str(params)])
    assert result.exit_code == 0, result.output
    assert params.read_text(encoding="utf-8") == _committed_params().replace(old_sha, "0" * 64)


def test_a_corpus_without_reader_is_named(mirror: Path) -> None:
    manifest = json.loads((mirror / "MANIFEST.json").read_text(encoding="utf-8"))
    manifest.append({**manifest[0], "id": "new-corpus"})
    with pytest.raises(InputError, match="'new-corpus' has no reader"):
        corpora_section(manifest)


@pytest.mark.parametrize("manifest_text", ["[]", "{}"])
def test_an_empty_manifest_leaves_corpora_yaml_as_it_was(tmp_path: Path,
                                                         manifest_text: str) -> None:
    (tmp_path / "MANIFEST.json").write_text(manifest_text, encoding="utf-8")
    params = tmp_path / "corpora.yaml"
    params.write_text(_committed_params(), encoding="utf-8")
    result = CliRunner().invoke(main, ["corpora-params", "--manifest",
                                       str(tmp_path / "MANIFEST.json"), "--update", str(params)])
    assert result.exit_code == 2
    assert "no corpora in it" in result.stderr and "left as it was" in result.stderr
    assert params.read_text(encoding="utf-8") == _committed_params()


def test_update_never_drops_a_declared_corpus(mirror: Path, tmp_path: Path) -> None:
    manifest = json.loads((mirror / "MANIFEST.json").read_text(encoding="utf-8"))
    gone = manifest.pop(0)["id"]
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest), encoding="utf-8")
    params = tmp_path / "corpora.yaml"
    params.write_text(_committed_params(), encoding="utf-8")
    result = CliRunner().invoke(main, ["corpora-params", "--manifest",
                                       str(tmp_path / "MANIFEST.json"), "--update", str(params)])
    assert result.exit_code == 2
    assert f"lacks corpora {gone} declared here" in result.stderr
    assert params.read_text(encoding="utf-8") == _committed_params()
