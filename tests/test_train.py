"""train stage on the tiny model: LoRA learns, base stays frozen, kill+resume, DDP on CPU."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from safetensors.torch import load_file

from stages.lib.core.io import InputError
from stages.lib.data.prompts import format_example
from stages.train import parse_train, run_key, stable_adapter_config, train

REPO = Path(__file__).resolve().parents[1]
# `writing-alpaca train ARGS` whose steps each take a second, so that a kill lands mid-run:
# the child wraps stages.train.build_trainer (a test seam, no hook in the stage itself).
SLOW_TRAIN = """
import sys, time
from transformers import TrainerCallback
import stages.train
from stages.cli import main

class Slow(TrainerCallback):
    def on_step_end(self, *args, **kwargs):
        time.sleep(1.0)

build = stages.train.build_trainer

def slow_build(*args, **kwargs):
    trainer = build(*args, **kwargs)
    trainer.add_callback(Slow())
    return trainer

stages.train.build_trainer = slow_build
main(["train", *sys.argv[1:]], prog_name="writing-alpaca")
"""


def make_mixture(tmp_path: Path) -> Path:
    from datasets import Dataset

    rows = [{"id": f"r{i}", "corpus": "c", "task": "grammar",
             **format_example("Fix grammatical errors in the text.",
                              f"She go to school {i} .", f"She went to school {i} ."),
             "source": f"She go to school {i} ."}
            for i in range(32)]
    folder = tmp_path / "mix"
    folder.mkdir()
    Dataset.from_list(rows).to_parquet(str(folder / "train.parquet"))
    return folder


@pytest.fixture()
def mixture(tmp_path: Path) -> Path:
    return make_mixture(tmp_path)


def write_params(tmp_path: Path, **overrides) -> Path:
    train_params = {"max_steps": 2, "per_device_batch_size": 4, "global_batch_size": 4,
                    "learning_rate": 1e-2, "dtype": "float32", "save_steps": 1,
                    "logging_steps": 1, **overrides}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": train_params}))
    return path


def cli_args(tmp_path: Path, mixture: Path, base: Path, params: Path) -> list[str]:
    return ["--mixture", "mini", "--data", str(mixture), "--base", str(base),
            "--params", str(params), "--out", str(tmp_path / "adapter"),
            "--checkpoints", str(tmp_path / "ckpt"), "--live", str(tmp_path / "live")]


def logged(folder: Path, metric: str = "loss") -> list[dict[str, str]]:
    """Rows of a DVCLive per-step training curve (plots/metrics/<metric>.tsv: step, value)."""
    with open(folder / "live" / "plots" / "metrics" / f"{metric}.tsv",
              encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows, delimiter="\t"))


def test_two_steps_change_lora_only(tmp_path: Path, mixture: Path, tiny_model_dir: Path) -> None:
    params = write_params(tmp_path)
    result = CliRunner().invoke(train, cli_args(tmp_path, mixture, tiny_model_dir, params))
    assert result.exit_code == 0, result.output
    adapter = tmp_path / "adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                 "training_args.json", "mixture_hash.txt"):
        assert (adapter / name).is_file(), name
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["target_modules"] == sorted(config["target_modules"])
    # lora_B starts at zero; two steps at lr 1e-2 must move it.
    weights = load_file(adapter / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)
    assert not any("lora" not in k for k in weights)  # adapter holds no base weights
    # The base folder on disk is untouched, and the merged model differs from it.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = PeftModel.from_pretrained(base, adapter)
    for key, value in model.get_base_model().state_dict().items():
        if "lora" not in key and "base_layer" not in key:
            assert torch.equal(value, before[key]), key
    state = json.loads((adapter / "training_args.json").read_text())
    assert state["global_step"] == 2
    # the base is named by its weights, which a copy elsewhere shares (edit checks them)
    from stages.lib.model.model_dirs import weights_sha256

    copied = shutil.copytree(tiny_model_dir, tmp_path / "elsewhere")
    assert state["base_weights_sha256"] == weights_sha256(copied)
    assert [row["step"] for row in logged(tmp_path)] == ["1", "2"]
    final = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert final["step"] == 2 and final["num_input_tokens_seen"] == state["num_input_tokens_seen"]
    assert final["train"]["loss"] > 0  # the run's mean loss, for `dvc exp show`


def test_config_change_changes_checkpoint_key(tmp_path: Path, mixture: Path,
                                              tiny_model_dir: Path) -> None:
    a = parse_train(yaml.safe_load(write_params(tmp_path).read_text()))
    b = parse_train(yaml.safe_load(write_params(tmp_path, learning_rate=1e-3).read_text()))
    c = parse_train(yaml.safe_load(write_params(tmp_path, save_steps=7).read_text()))
    key = run_key(a, "m", tiny_model_dir, 1)
    assert key != run_key(b, "m", tiny_model_dir, 1)
    assert key == run_key(c, "m", tiny_model_dir, 1)  # checkpoint interval: same run
    assert key != run_key(a, "other-mixture", tiny_model_dir, 1)
    # another world size or launcher is another run: its checkpoints hold another data order
    assert key != run_key(a, "m", tiny_model_dir, 2)
    ddp = parse_train(yaml.safe_load(write_params(tmp_path, launcher="ddp").read_text()))
    assert key != run_key(ddp, "m", tiny_model_dir, 1)
    # edit weights shape the weights; the plain loss (1.0) keeps the key it always had
    weighted = parse_train(yaml.safe_load(write_params(tmp_path, edit_weight=3).read_text()))
    assert weighted.edit_weight == 3.0 and key != run_key(weighted, "m", tiny_model_dir, 1)
    plain = parse_train(yaml.safe_load(write_params(tmp_path, edit_weight=1).read_text()))
    assert key == run_key(plain, "m", tiny_model_dir, 1)


@pytest.mark.parametrize("weight", [0.5, 0, -3, float("inf"), float("nan")])
def test_edit_weight_below_one_names_the_key(tmp_path: Path, weight: float) -> None:
    with pytest.raises(InputError, match=r"train\.edit_weight must be >= 1"):
        parse_train(yaml.safe_load(write_params(tmp_path, edit_weight=weight).read_text()))


def test_edit_weight_trains_another_adapter(tmp_path: Path, mixture: Path,
                                           tiny_model_dir: Path) -> None:
    """Two steps with edits weighing 3 run through the CLI and move the adapter elsewhere
    than the plain loss does (same seed, data and steps)."""
    adapters = {}
    for weight in (1.0, 3.0):
        folder = tmp_path / f"w{weight}"
        folder.mkdir()
        params = write_params(folder, edit_weight=weight, lora={"dropout": 0.0})
        result = CliRunner().invoke(train, cli_args(folder, mixture, tiny_model_dir, params))
        assert result.exit_code == 0, result.output
        record = json.loads((folder / "adapter" / "training_args.json").read_text())
        assert record["params"]["edit_weight"] == weight and record["global_step"] == 2
        adapters[weight] = load_file(folder / "adapter" / "adapter_model.safetensors")
    assert adapters[1.0].keys() == adapters[3.0].keys()
    assert any(not torch.equal(adapters[1.0][k], adapters[3.0][k]) for k in adapters[1.0])


def test_edit_weight_needs_the_source_column(tmp_path: Path, mixture: Path,
                                            tiny_model_dir: Path) -> None:
    from datasets import Dataset

    old = tmp_path / "old-mix"
    old.mkdir()
    Dataset.from_parquet(str(mixture / "train.parquet")).remove_columns("source").to_parquet(
        str(old / "train.parquet"))
    params = write_params(tmp_path, edit_weight=3.0)
    result = CliRunner().invoke(train, cli_args(tmp_path, old, tiny_model_dir, params))
    assert result.exit_code == 2
    assert "has no source column" in result.output and "train.edit_weight 3.0" in result.output


def test_bad_train_params_name_the_key(tmp_path: Path, mixture: Path, tiny_model_dir: Path) -> None:
    params = write_params(tmp_path, learning_rte=1.0)
    result = CliRunner().invoke(train, cli_args(tmp_path, mixture, tiny_model_dir, params))
    assert result.exit_code == 2 and "train.learning_rte" in result.output


def test_killed_run_resumes(tmp_path: Path, mixture: Path, tiny_model_dir: Path) -> None:
    params = write_params(tmp_path, max_steps=8, save_steps=2)
    args = cli_args(tmp_path, mixture, tiny_model_dir, params)
    command = [sys.executable, "-m", "stages.cli", "train", *args]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TRAIN, *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while not list((tmp_path / "ckpt").glob("*/checkpoint-2/trainer_state.json")):
            assert proc.poll() is None, "training ended before the first checkpoint"
            assert time.time() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "adapter").exists()  # killed before the end: no output
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from checkpoint-" in done.stderr
    state = json.loads((tmp_path / "adapter" / "training_args.json").read_text())
    assert state["global_step"] == 8 and state["resumed_from"].startswith("checkpoint-")
    # every step logged once across the kill: the resumed run replays the checkpoint's log
    rows = logged(tmp_path)
    assert [row["step"] for row in rows] == [str(i) for i in range(1, 9)]
    # the summary's loss is the whole run's (transformers' covers the resumed steps only)
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())["train"]
    resumed_at = int(state["resumed_from"].removeprefix("checkpoint-"))
    assert summary["resumed_at_step"] == resumed_at
    assert summary["loss"] == pytest.approx(sum(float(r["loss"]) for r in rows) / 8, rel=1e-5)
    # no wall-clock figures: the same training logs the same on any machine
    assert not [key for key in summary if key.endswith(("runtime", "per_second"))]
    assert not list((tmp_path / "live" / "plots" / "metrics").rglob("*runtime*"))


def cpu_only() -> dict[str, str]:
    """The environment pinned to the CPU: on a machine with one GPU, rank 1 of a 2-process
    run would ask for cuda:1 (and the relaunch must see no GPU to use gloo). Built at
    each call, so that it carries the test's own timings folder (conftest.py) and the
    subprocess keeps no timing in the checkout's .cache/timings."""
    return {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def run_train_process(folder: Path, mixture: Path, base: Path, **overrides) -> dict:
    """`writing-alpaca train` in a subprocess with a global batch of 8 rows (unpacked, no
    dropout, so that every world size sees the same rows and noise); returns the loss rows
    and the training record."""
    folder.mkdir()
    params = write_params(folder, per_device_batch_size=2, global_batch_size=8, packing=False,
                          device="cpu", lora={"dropout": 0.0}, **overrides)
    done = subprocess.run([sys.executable, "-m", "stages.cli", "train",
                           *cli_args(folder, mixture, base, params)],
                          cwd=REPO, env=cpu_only(), capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("adapter ->") == 1  # written once, by the main process only
    assert [p.name for p in folder.iterdir() if p.name.startswith(".adapter")] == []
    # its time is kept in the tests' folder, not in the checkout's .cache/timings
    from stages.lib.core.timings import FOLDER_ENV, read_all

    assert any(entry["out"] == (folder / "adapter").as_posix()
               for entry in read_all(Path(os.environ[FOLDER_ENV])))
    tokens = {row["step"]: row["num_input_tokens_seen"]
              for row in logged(folder, "num_input_tokens_seen")}
    losses = [{**row, "num_input_tokens_seen": tokens[row["step"]]} for row in logged(folder)]
    return {"losses": losses, "stderr": done.stderr, "adapter": folder / "adapter",
            "record": json.loads((folder / "adapter" / "training_args.json").read_text())}


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict:
    tmp = tmp_path_factory.mktemp("one-process")
    return run_train_process(tmp / "run", make_mixture(tmp), tiny_model_dir)


def assert_same_steps(run: dict, reference: dict) -> None:
    """Same rows per step (tokens seen, gathered over processes) and the same losses."""
    assert len(run["losses"]) == len(reference["losses"]) == 2
    for got, want in zip(run["losses"], reference["losses"]):
        assert got["num_input_tokens_seen"] == want["num_input_tokens_seen"]
        assert float(got["loss"]) == pytest.approx(float(want["loss"]), rel=1e-5)


def test_ddp_two_cpu_processes_match_one_process(tmp_path: Path, mixture: Path,
                                                 tiny_model_dir: Path,
                                                 one_process_run: dict) -> None:
    """The global batch fixes the run: 2 processes x 2 rows x 2 accumulation trains the
    same 8 rows a step, with the same losses, as 1 process x 2 rows x 4 accumulation."""
    ddp = run_train_process(tmp_path / "ddp", mixture, tiny_model_dir,
                            launcher="ddp", num_processes=2)
    assert "8 rows a step (2 x 2 x 2 accumulation)" in ddp["stderr"]
    assert "8 rows a step (2 x 1 x 4 accumulation)" in one_process_run["stderr"]
    assert ddp["record"]["world_size"] == 2 and ddp["record"]["global_step"] == 2
    assert ddp["record"]["run_key"] != one_process_run["record"]["run_key"]
    assert_same_steps(ddp, one_process_run)


def test_fsdp_two_cpu_processes_train_and_save(tmp_path: Path, mixture: Path,
                                               tiny_model_dir: Path,
                                               one_process_run: dict) -> None:
    """FSDP2 (accelerate, gloo) trains 2 steps and every rank joins the save's state-dict
    gather: the run ends (no hang) with an adapter that PEFT loads, equal to the
    1-process adapter up to float rounding."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    fsdp = run_train_process(tmp_path / "fsdp", mixture, tiny_model_dir,
                             launcher="fsdp", num_processes=2)
    assert "--use_fsdp" in fsdp["stderr"] and fsdp["record"]["world_size"] == 2
    # rank 0 alone reads the base; the other rank starts on the meta device
    assert "--fsdp_cpu_ram_efficient_loading true" in fsdp["stderr"]
    assert_same_steps(fsdp, one_process_run)
    adapter = tmp_path / "fsdp" / "adapter"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                      adapter)
    assert model.peft_config["default"].r == 8
    sharded = load_file(adapter / "adapter_model.safetensors")
    single = load_file(one_process_run["adapter"] / "adapter_model.safetensors")
    assert sorted(sharded) == sorted(single)  # full (gathered) tensors, not shards
    for name, weight in single.items():
        torch.testing.assert_close(sharded[name], weight, rtol=1e-4, atol=1e-6)


def test_fsdp_in_bf16_on_two_cpu_processes(tmp_path: Path, mixture: Path,
                                            tiny_model_dir: Path) -> None:
    """The paper profile's FSDP path in bf16 (accelerate --mixed_precision bf16, the frozen
    base loaded in bf16, FSDP2 over gloo): it trains, every rank joins the gather, and the
    adapter equals the one-process bf16 adapter up to bf16 rounding."""
    single = run_train_process(tmp_path / "one", mixture, tiny_model_dir, dtype="bfloat16")
    fsdp = run_train_process(tmp_path / "fsdp", mixture, tiny_model_dir, dtype="bfloat16",
                             launcher="fsdp", num_processes=2)
    assert "--mixed_precision bf16" in fsdp["stderr"] and fsdp["record"]["world_size"] == 2
    assert len(fsdp["losses"]) == len(single["losses"]) == 2
    for got, want in zip(fsdp["losses"], single["losses"]):
        assert got["num_input_tokens_seen"] == want["num_input_tokens_seen"]
        assert float(got["loss"]) == pytest.approx(float(want["loss"]), rel=2e-2)
    sharded = load_file(fsdp["adapter"] / "adapter_model.safetensors")
    alone = load_file(single["adapter"] / "adapter_model.safetensors")
    assert sorted(sharded) == sorted(alone)
    for name, weight in alone.items():
        torch.testing.assert_close(sharded[name].float(), weight.float(), rtol=2e-2, atol=2e-3)


def test_global_batch_must_divide(tmp_path: Path) -> None:
    params = yaml.safe_load(write_params(tmp_path, global_batch_size=10, launcher="ddp",
                                         num_processes=2).read_text())
    with pytest.raises(InputError, match=r"global_batch_size 10 is not a multiple of "
                                         r"per_device_batch_size 4 x 2 process\(es\) = 8"):
        parse_train(params)
    params["train"].update(launcher="none")
    with pytest.raises(InputError, match="launcher none runs one process"):
        parse_train(params)


def test_adapter_config_target_modules_are_sorted(tmp_path: Path) -> None:
    # PEFT writes them in set order, which changes between Python processes
    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"r": 8, "target_modules": ["v_proj", "q_proj", "k_proj"]}))
    stable_adapter_config(tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config == {"r": 8, "target_modules": ["k_proj", "q_proj", "v_proj"]}
    stable_adapter_config(tmp_path / "missing")  # a full fine-tune has no adapter config


def test_two_trainings_give_byte_identical_adapters(tmp_path: Path, mixture: Path,
                                                    tiny_model_dir: Path) -> None:
    """The default profile's promise: same config, same machine -> the same adapter bytes
    (fp32, seeded, torch deterministic algorithms), so metrics do not move between runs."""
    params = write_params(tmp_path, max_steps=3, lora={"dropout": 0.1})
    weights = []
    for run in ("one", "two"):
        folder = tmp_path / run
        folder.mkdir()
        result = CliRunner().invoke(train, cli_args(folder, mixture, tiny_model_dir, params))
        assert result.exit_code == 0, result.output
        weights.append((folder / "adapter" / "adapter_model.safetensors").read_bytes())
    assert weights[0] == weights[1]
    assert parse_train({"train": yaml.safe_load(params.read_text())["train"]}).deterministic


def test_overrides_merge_one_runs_settings_over_train() -> None:
    """grid.runs.<run>.train: the grid's full fine-tuning run changes method and lr only."""
    params = {"train": {"max_steps": 3, "per_device_batch_size": 1,
                        "global_batch_size": 1, "learning_rate": 1e-3,
                        "lora": {"r": 8, "alpha": 16}},
              "grid": {"runs": {"full": {"train": {"method": "full", "learning_rate": 1e-4}},
                                "bad": {"train": {"learning_rat": 1.0}}}}}
    cfg = parse_train(params, "grid.runs.full.train")
    assert (cfg.method, cfg.learning_rate, cfg.max_steps, cfg.lora.r) == ("full", 1e-4, 3, 8)
    assert parse_train(params).method == "lora"
    with pytest.raises(InputError, match="grid.runs.nope.train is not defined"):
        parse_train(params, "grid.runs.nope.train")
    with pytest.raises(InputError, match="learning_rat"):
        parse_train(params, "grid.runs.bad.train")


def test_loss_covers_the_responses_only_when_packed(tmp_path: Path, mixture: Path,
                                                    tiny_model_dir: Path) -> None:
    """With packing, the labels of a training batch are the completions' tokens (and the
    end-of-sequence token) only: no prompt token is learned, so the model is not trained
    to reproduce the input text of the prompt."""
    from stages.train import build_trainer

    cfg = parse_train(yaml.safe_load(write_params(tmp_path, max_length=1024).read_text()))
    trainer = build_trainer(cfg, mixture, tiny_model_dir, tmp_path / "run")
    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer = trainer.processing_class
    learned = batch["labels"][batch["labels"] != -100]
    assert 0 < len(learned) < (batch["input_ids"] != tokenizer.pad_token_id).sum()
    text = tokenizer.decode(learned)
    assert "went to school" in text and "Fix grammatical" not in text and "go to" not in text


# --- nothing lost: earlier checkpoints, the user's folders, one writer ------------------

def test_a_failing_run_deletes_no_earlier_checkpoint(tmp_path: Path, mixture: Path,
                                                     tiny_model_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import stages.train

    other_run = tmp_path / "ckpt" / "0123456789abcdef" / "checkpoint-8"
    other_run.mkdir(parents=True)
    (other_run / "trainer_state.json").write_text("{}", encoding="utf-8")
    users = tmp_path / "ckpt" / "my-notes"
    users.mkdir()
    (users / "notes.txt").write_text("mine", encoding="utf-8")
    build = stages.train.build_trainer

    def failing_build(*args: object, **kwargs: object) -> object:
        trainer = build(*args, **kwargs)

        def fail(*a: object, **k: object) -> None:
            raise RuntimeError("the first step failed")
        trainer.train = fail
        return trainer

    monkeypatch.setattr(stages.train, "build_trainer", failing_build)
    params = write_params(tmp_path)
    result = CliRunner().invoke(train, cli_args(tmp_path, mixture, tiny_model_dir, params))
    assert isinstance(result.exception, RuntimeError)
    assert (other_run / "trainer_state.json").is_file()  # kept: this run never finished
    assert (users / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_finished_run_drops_only_other_runs(tmp_path: Path, mixture: Path,
                                              tiny_model_dir: Path) -> None:
    other_run = tmp_path / "ckpt" / "0123456789abcdef" / "checkpoint-8"
    other_run.mkdir(parents=True)
    users = tmp_path / "ckpt" / "my-notes"
    users.mkdir()
    (users / "notes.txt").write_text("mine", encoding="utf-8")
    params = write_params(tmp_path)
    result = CliRunner().invoke(train, cli_args(tmp_path, mixture, tiny_model_dir, params))
    assert result.exit_code == 0, result.output
    assert not other_run.parent.exists()  # another config's run: only disk space
    assert (users / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize(("lock", "refusal"), [
    ("ckpt/.writer.lock", "another training is writing here"),
    # another training, with its own --checkpoints, saving to the same --out
    (None, "another training is writing this adapter"),
])
def test_a_second_writer_is_refused(tmp_path: Path, mixture: Path, tiny_model_dir: Path,
                                    lock: str | None, refusal: str) -> None:
    import fcntl

    from stages.train import out_lock

    held_path = tmp_path / lock if lock else out_lock(tmp_path / "adapter")
    held_path.parent.mkdir(parents=True, exist_ok=True)
    with open(held_path, "w", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running training holds it
        done = subprocess.run(
            [sys.executable, "-m", "stages.cli", "train",
             *cli_args(tmp_path, mixture, tiny_model_dir, write_params(tmp_path))],
            cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 1
    assert refusal in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "adapter").exists()


def test_an_out_folder_it_did_not_write_is_refused_before_training(
        tmp_path: Path, mixture: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "thesis.tex").write_text("mine", encoding="utf-8")
    params = write_params(tmp_path)
    result = CliRunner().invoke(train, cli_args(tmp_path, mixture, tiny_model_dir, params))
    assert result.exit_code == 2 and "holds thesis.tex" in result.output
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").glob("*/checkpoint-*"))
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "mine"


def test_yaml_true_is_not_a_step_count(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="train.max_steps must be int, got True"):
        parse_train(yaml.safe_load(write_params(tmp_path, max_steps=True).read_text()))


def test_target_modules_must_be_a_list(tmp_path: Path) -> None:
    params = yaml.safe_load(write_params(tmp_path).read_text())
    params["train"]["lora"] = {"target_modules": "q_proj"}
    with pytest.raises(InputError, match="train.lora.target_modules must be a list"):
        parse_train(params)


def test_a_finished_run_is_trained_anew_not_past_max_steps(
        tmp_path: Path, mixture: Path, tiny_model_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished run's checkpoints (left by an earlier version, or a copy) and no adapter,
    as `dvc repro` leaves them: resuming would train a step past max_steps; the run is
    made again instead, byte-identical to the first."""
    import stages.train

    params = write_params(tmp_path)
    args = cli_args(tmp_path, mixture, tiny_model_dir, params)
    with monkeypatch.context() as keep:
        keep.setattr(stages.train, "drop_runs", lambda checkpoints: None)
        first = CliRunner().invoke(train, args)
    assert first.exit_code == 0, first.output
    assert list((tmp_path / "ckpt").glob("*/checkpoint-2"))  # the finished run's end
    weights = (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes()
    shutil.rmtree(tmp_path / "adapter")
    again = CliRunner().invoke(train, args)
    assert again.exit_code == 0, again.output
    assert "ended a finished run; training it anew" in again.output
    state = json.loads((tmp_path / "adapter" / "training_args.json").read_text())
    assert state["global_step"] == 2 and state["resumed_from"] is None
    assert (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes() == weights
    assert not list((tmp_path / "ckpt").glob("*/checkpoint-*"))  # saved: nothing to resume


def test_a_repository_without_a_commit_is_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVCLive asks git for a revision; before the first commit it raised a traceback."""
    import subprocess
    import sys

    from stages.lib.training.training_log import live_callback

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"live: DVCLive needs a git revision .*commit once"):
        live_callback(tmp_path / "live")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit",
                    "-qm", "first", "--allow-empty"], cwd=tmp_path, check=True)
    assert live_callback(tmp_path / "live").live is not None
