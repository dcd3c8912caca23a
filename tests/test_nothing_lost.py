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

from stages.lib.core.io import InputError, atomic_path
from stages.lib.core.params import parse_section
from stages.lib.evaluation.results import ItemStats, Results

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

    from stages.lib.model.model_dirs import check_model_dirs

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    path = folder / config_file
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    path.write_text(json.dumps(config), encoding="utf-8")
    (folder / "evil.py").write_text("raise SystemExit('ran')\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"model: {config_file} names code of its own "
                                         r"\(auto_map\)"):
        check_model_dirs(folder)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("learning_rate", -1, "train.learning_rate must be > 0, got -1.0"),
    ("warmup_steps", -2, "train.warmup_steps must be >= 0, got -2"),
    ("max_length", 0, "train.max_length must be >= 8, got 0"),
    ("lr_scheduler", "linaer", "train.lr_scheduler must be one of linear |"),
    ("lora", {"r": 0}, "train.lora.r must be >= 1, got 0"),
    ("lora", {"dropout": 1.0}, "train.lora.dropout must be >= 0 and < 1, got 1.0"),
    ("lora", {"target_modules": []}, "train.lora.target_modules must name at least one"),
    ("save_steps", 0, "train.save_steps must be >= 1, got 0"),
])
def test_train_values_out_of_range_name_their_key(key: str, value: object,
                                                  message: str) -> None:
    from stages.lib.training.train_config import parse_train

    section = {"max_steps": 2, "per_device_batch_size": 1, "global_batch_size": 1,
               "learning_rate": 1e-3, key: value}
    with pytest.raises(InputError, match=message):
        parse_train({"train": section})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("batch_size", 0, "predict.batch_size must be >= 1, got 0"),
    ("max_items", 0, "predict.max_items must be >= 1, got 0"),
    ("seed", -1, "predict.seed must be >= 0, got -1"),
])
def test_predict_values_out_of_range_name_their_key(key: str, value: object,
                                                    message: str) -> None:
    from stages.lib.inference.predict_config import parse_predict

    with pytest.raises(InputError, match=message):
        parse_predict({"predict": {key: value}})


# --- inputs ------------------------------------------------------------------------------

def test_non_utf8_inputs_are_one_line_naming_the_file(tmp_path: Path) -> None:
    from stages.lib.core.io import read_json, read_jsonl
    from stages.lib.core.params import load_params

    jsonl = tmp_path / "items.jsonl"
    jsonl.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"items.jsonl:2: not UTF-8"):
        read_jsonl(jsonl)
    data = tmp_path / "data.json"
    data.write_bytes(b'{"b": "caf\xe9"}')
    with pytest.raises(InputError, match=r"data.json: not UTF-8"):
        read_json(data)
    params = tmp_path / "params.yaml"
    params.write_bytes(b"predict: {seed: 0}  # caf\xe9\n")
    with pytest.raises(InputError, match=r"params.yaml: not UTF-8"):
        load_params(params)


def test_a_dataset_list_that_names_nothing_is_refused() -> None:
    from stages.lib.data.benchmark_info import chosen_datasets

    with pytest.raises(InputError, match=r"--datasets: ',' names no dataset"):
        chosen_datasets({"conll": {}, "jfl": {}}, ",", "--datasets")
    assert chosen_datasets({"conll": {}, "jfl": {}}, "jfl,", "--datasets") == ["jfl"]


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "x.y"])
def test_a_benchmark_dataset_name_is_a_name(tmp_path: Path, name: str) -> None:
    import yaml
    from click.testing import CliRunner

    from stages.benchmark import benchmark

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"benchmark": {"datasets": {name: {
        "task": "grammar", "metric": "gleu", "corpus": "c", "split": "test", "size": 1}}}}),
        encoding="utf-8")
    result = CliRunner().invoke(benchmark, ["--params", str(params), "--corpora",
                                            str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "a dataset name is letters, digits" in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "x.jsonl").exists()


# --- evaluate's three files are one unit ----------------------------------------------


def _result(score: float) -> Results:
    return Results({"conll": score, "avg": score},
                   {"datasets": {"conll": {"n": 2}}, "avg_over": ["conll"]},
                   ItemStats({"resamples": 10, "seed": 0}, {"conll": {"ids": ["a", "b"]}}))


def test_results_of_two_runs_are_never_paired(tmp_path: Path) -> None:
    from stages.lib.evaluation.results import details_path, read_items, read_results, write_results

    metrics = tmp_path / "metrics" / "sys.json"
    write_results(metrics, _result(40.0))
    old_details = details_path(metrics).read_text(encoding="utf-8")
    write_results(metrics, _result(55.0))
    assert read_results(metrics).details == _result(55.0).details  # stamp not shown
    assert read_items(metrics) == _result(55.0).items
    # a run stopped after its details file but before its scores file
    details_path(metrics).write_text(old_details, encoding="utf-8")
    with pytest.raises(InputError, match=r"details/sys.json: written by another evaluate "
                                         r"run than .*sys.json"):
        read_results(metrics)
    write_results(metrics, _result(55.0))
    metrics.write_text(json.dumps({"conll": 40.0, "avg": 40.0}), encoding="utf-8")
    with pytest.raises(InputError, match=r"items/sys.json: written by another evaluate run"):
        read_items(metrics)


def test_results_written_before_the_stamp_are_read(tmp_path: Path) -> None:
    from stages.lib.evaluation.results import details_path, read_results

    metrics = tmp_path / "sys.json"
    metrics.write_text(json.dumps({"conll": 40.0}), encoding="utf-8")
    details_path(metrics).parent.mkdir()
    details_path(metrics).write_text(json.dumps({"datasets": {}}), encoding="utf-8")
    assert read_results(metrics).details == {"datasets": {}}


# --- errors name the key the user wrote -------------------------------------------------


@pytest.mark.parametrize(("own", "message"), [
    ({"num_beams": "four"}, r"systems\.alpaca\.predict\.num_beams must be"),
    ({"num_beams": True}, r"systems\.alpaca\.predict\.num_beams must be"),
    ({"num_beams": 1, "copy_margin": 0.5},
     r"systems\.alpaca\.predict\.copy_margin .*systems\.alpaca\.predict\.num_beams"),
])
def test_a_systems_own_decoding_errors_name_its_key(own: dict, message: str) -> None:
    from stages.lib.inference.predict_config import parse_predict

    params = {"predict": {"num_beams": 4}, "systems": {"alpaca": {"predict": own}}}
    with pytest.raises(InputError, match=message):
        parse_predict(params, "alpaca")
    parse_predict(params, None)  # the shared section alone is fine
