"""Nothing the user made is lost or run: outputs never replace a folder the command did
not write, loading never runs a folder's own code, and params are typed strictly
(issue "Nothing lost, nothing run"). Each case failed on the code before its fix."""
from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from stages.lib.io import InputError, atomic_path
from stages.lib.params import parse_section

# --- outputs -----------------------------------------------------------------------------


def test_a_folder_the_command_did_not_write_is_refused_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "thesis.tex").write_text("mine", encoding="utf-8")
    refused = pytest.raises(InputError, match=r"out: holds thesis.tex, which this command "
                                              r"did not write")
    with refused, atomic_path(target, is_dir=True, owns=("*.jsonl",)) as tmp:
        (tmp / "a.jsonl").write_text("{}\n", encoding="utf-8")
    assert (target / "thesis.tex").read_text(encoding="utf-8") == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary left behind


def test_refused_before_the_work_starts(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    ran = []
    with pytest.raises(InputError), atomic_path(target, is_dir=True, owns=("*.jsonl",)):
        ran.append(True)
    assert ran == []


def test_its_own_earlier_output_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.jsonl").write_text("{}\n", encoding="utf-8")
    with atomic_path(target, is_dir=True, owns=("*.jsonl",)) as tmp:
        (tmp / "new.jsonl").write_text("{}\n", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["new.jsonl"]


def test_force_replaces_anything(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with atomic_path(target, is_dir=True, owns=("*.jsonl",), force=True) as tmp:
        (tmp / "a.jsonl").write_text("{}\n", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["a.jsonl"]


def test_a_file_where_a_folder_goes_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="not a folder"), atomic_path(target, is_dir=True):
        pass
    assert target.read_text(encoding="utf-8") == "mine"


def test_outputs_keep_the_users_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "d", is_dir=True) as tmp:
            (tmp / "f").write_text("x", encoding="utf-8")
        with atomic_path(tmp_path / "f.json") as tmp:
            tmp.write_text("x", encoding="utf-8")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644


def test_stale_temporaries_of_a_killed_run_are_cleaned(tmp_path: Path) -> None:
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # a writer that is no longer running
    stale = tmp_path / f".out.tmp-{gone.pid}-abc123"
    stale.mkdir()
    live = tmp_path / f".out.tmp-{os.getpid()}-def456"  # a running writer's: kept
    live.mkdir()
    (stale / "half.jsonl").write_text("{", encoding="utf-8")
    with atomic_path(tmp_path / "out", is_dir=True) as tmp:
        (tmp / "a.jsonl").write_text("{}\n", encoding="utf-8")
    assert not stale.exists() and live.exists()


# --- params ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Section:
    n: int = 1
    rate: float = 0.1
    names: list[str] = dataclasses.field(default_factory=lambda: ["a"])


@pytest.mark.parametrize(("data", "message"), [
    ({"n": True}, "params.yaml: s.n must be int, got True"),
    ({"rate": False}, "params.yaml: s.rate must be float, got False"),
    ({"names": "q_proj"}, "params.yaml: s.names must be a list, got 'q_proj'"),
    ({"names": ["q_proj", 3]}, r"params.yaml: s.names\[1\] must be str, got 3"),
])
def test_params_types_are_strict(data: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_section(Section, data, "s")


def test_params_lists_of_the_right_type_pass() -> None:
    assert parse_section(Section, {"names": ["q", "v"], "n": 3, "rate": 1}, "s") == \
        Section(n=3, rate=1.0, names=["q", "v"])


# --- trust -------------------------------------------------------------------------------

@pytest.mark.parametrize("config_file", ["config.json", "tokenizer_config.json",
                                         "adapter_config.json"])
def test_a_model_folder_with_its_own_code_is_refused(tiny_model_dir: Path, tmp_path: Path,
                                                      config_file: str) -> None:
    import shutil

    from stages.lib.model_dirs import check_model_dirs

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    path = folder / config_file
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    path.write_text(json.dumps(config), encoding="utf-8")
    (folder / "evil.py").write_text("raise SystemExit('ran')\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"model: {config_file} names code of its own "
                                         r"\(auto_map\)"):
        check_model_dirs(folder)
