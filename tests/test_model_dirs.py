"""A folder that is not a model or adapter: one line and exit code 2, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stages.cli import main
from stages.lib.core.io import InputError
from stages.lib.model.model_dirs import check_adapter_or_model, check_model_dirs

REPO_ROOT = Path(__file__).resolve().parents[1]


def folder(tmp_path: Path, name: str, *files: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    for f in files:
        (path / f).write_text("{}", encoding="utf-8")
    return path


def test_models_and_adapters_pass(tmp_path: Path) -> None:
    model = folder(tmp_path, "model", "config.json", "model.safetensors")
    sharded = folder(tmp_path, "sharded", "config.json", "model.safetensors.index.json")
    adapter = folder(tmp_path, "adapter", "adapter_config.json", "adapter_model.safetensors")
    check_model_dirs(model)
    check_model_dirs(sharded, adapter)
    check_model_dirs(model, model)  # a full model given as the adapter
    check_adapter_or_model(adapter)


@pytest.mark.parametrize("files,message", [
    ((), "neither a PEFT adapter (no adapter_config.json) nor a model folder (no config.json)"),
    (("config.json",), "nor a model folder (config.json but no weights"),
    (("adapter_config.json",), "not a PEFT adapter: adapter_config.json but no adapter_model"),
])
def test_not_a_model_or_adapter(tmp_path: Path, files: tuple[str, ...], message: str) -> None:
    path = folder(tmp_path, "x", *files)
    with pytest.raises(InputError) as err:
        check_adapter_or_model(path)
    assert err.value.exit_code == 2
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_base_must_be_a_full_model(tmp_path: Path) -> None:
    adapter = folder(tmp_path, "adapter", "adapter_config.json", "adapter_model.safetensors")
    with pytest.raises(InputError, match=r"base: not a model folder: no config.json"):
        check_model_dirs(folder(tmp_path, "base"), adapter)


def _cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def test_edit_with_a_plain_folder_exits_2(tmp_path: Path) -> None:
    empty = folder(tmp_path, "empty")
    code, output = _cli("edit", "--adapter", str(empty), "--task", "grammar", stdin="hi\n")
    assert code == 2
    assert output.strip().splitlines() == [
        (f"Error: {empty}: neither a PEFT adapter (no adapter_config.json) nor a model folder "
         "(no config.json)")]


def test_edit_with_a_plain_base_folder_exits_2(tmp_path: Path) -> None:
    adapter = folder(tmp_path, "adapter", "adapter_config.json", "adapter_model.safetensors")
    base = folder(tmp_path, "base")
    code, output = _cli("edit", "--adapter", str(adapter), "--base", str(base), "--task",
                        "grammar", "hi")
    assert code == 2 and output.strip() == f"Error: {base}: not a model folder: no config.json"


def test_predict_with_a_plain_folder_exits_2(tmp_path: Path) -> None:
    empty, base = folder(tmp_path, "empty"), folder(tmp_path, "base", "config.json",
                                                     "model.safetensors")
    code, output = _cli("predict", "--system", "x", "--adapter", str(empty), "--base", str(base),
                        "--benchmark", str(tmp_path), "--params", str(REPO_ROOT / "params.yaml"),
                        "--out", str(tmp_path / "out"))
    assert code == 2 and len(output.strip().splitlines()) == 1
    assert output.startswith(f"Error: {empty}: neither a PEFT adapter")


def test_pull_refuses_a_plain_folder_as_a_model(tmp_path: Path) -> None:
    empty = folder(tmp_path, "empty")
    code, output = _cli("pull", str(empty))
    assert code == 2 and output.startswith(f"Error: {empty}: neither a PEFT adapter")
    code, output = _cli("pull", "--repo-type", "dataset", str(empty))  # datasets: any folder
    assert code == 0 and output.strip() == str(empty.resolve())
