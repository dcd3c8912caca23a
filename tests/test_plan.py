"""`writing-alpaca plan`: batch arithmetic, epochs, precision, world size and memory for a
machine that need not be this one. Every test runs in tmp_path (no data/, no mirror
unless a test gives one) with params written there; model configs are built in code
and only ever instantiated on the meta device."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from stages.lib.plan.memory_estimate import GIB, estimate_memory, lora_trainable, read_model_shape
from stages.plan import plan

REPO_ROOT = Path(__file__).resolve().parents[1]
LLAMA_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
            "vocab_size": 32000, "tie_word_embeddings": False}
TINY_LLAMA = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
              "vocab_size": 320, "tie_word_embeddings": True}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder: data/, models/ and the mirror are absent unless written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WRITING_ALPACA_MIRROR", raising=False)
    return tmp_path


def repo_params(workdir: Path, paper_train: dict[str, Any] | None = None) -> Path:
    """A copy of the project's params.yaml, with profiles.paper.train edited."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["profiles"]["paper"]["train"].update(paper_train or {})
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def tiny_params(workdir: Path, train: dict[str, Any] | None = None,
                component: dict[str, Any] | None = None) -> Path:
    """One mixture of one component, two systems, a two-dataset benchmark."""
    raw = {
        "profile": "default",
        "benchmark": {"datasets": {
            "a": {"corpus": "a-test", "split": "test", "task": "grammar", "metric": "m2",
                  "size": 100},
            "b": {"corpus": "b-test", "split": "test", "task": "fluency", "metric": "sari",
                  "size": 30}}},
        "build": {"mixtures": ["mix"], "runs": {"mix": {"mixture": "mix", "base": "tiny", "train": {}}}},
        "mixtures": {"mix": {"components": {"fl": component or {
            "corpus": "toy", "task": "fluency", "fraction": 0.5,
            "filters": {"intent": ["fluency"]}}}}},
        "train": {"max_steps": 30, "per_device_batch_size": 4, "global_batch_size": 8,
                  "learning_rate": 1.0e-3, "packing": False, "dtype": "float32",
                  **(train or {})},
        "systems": {"copy": {"adapter": "adapters/copy", "base": "tiny"},
                    "mix": {"adapter": "trained/mix", "base": "tiny"}},
        "predict": {"max_items": 40, "dtype": "auto"},
    }
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def write_corpus(workdir: Path, fluency: int = 600, other: int = 400) -> None:
    records = [{"id": str(i), "src": "a b", "refs": ["a c"],
                "meta": {"intent": "fluency" if i < fluency else "clarity"}}
               for i in range(fluency + other)]
    folder = workdir / "data" / "corpora" / "toy"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def write_config(workdir: Path, config: dict[str, Any]) -> Path:
    path = workdir / "base" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def run_plan(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(plan, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def plan_json(*args: str) -> dict[str, Any]:
    return json.loads(run_plan(*args, "--json").output)


def messages(result: dict[str, Any], level: str = "WARNING") -> list[str]:
    return [p["message"] for p in result["problems"] if p["level"] == level]


# --- (a) rows per step: the global batch on any machine --------------------------------

def test_paper_profile_is_128_rows_a_step_on_one_gpu(workdir: Path) -> None:
    repo_params(workdir)
    result = plan_json("--profile", "paper", "--gpus", "1")
    assert result["profile"] == "paper" and result["runs"]
    for run in result["runs"]:
        assert (run["rows_per_step"], run["per_device_batch"], run["world_size"],
                run["accumulation"]) == (128, 4, 1, 32)
        assert run["steps"] == 2625
    assert not any("GPUs is used" in m for m in messages(result))


def test_paper_profile_is_128_rows_a_step_on_eight_gpus_with_ddp(workdir: Path) -> None:
    repo_params(workdir, {"launcher": "ddp", "num_processes": 8})
    result = plan_json("--profile", "paper", "--gpus", "8")
    for run in result["runs"]:
        assert (run["rows_per_step"], run["world_size"], run["accumulation"]) == (128, 8, 4)
        assert run["launcher"] == "ddp"
    assert not any("GPUs is used" in m for m in messages(result))
    text = run_plan("--profile", "paper", "--gpus", "8").output
    assert "128 = 4 x 8 x 4" in text and "ddp (8 processes)" in text


def test_launcher_none_on_eight_gpus_uses_one_and_says_so(workdir: Path) -> None:
    repo_params(workdir)  # the paper profile's launcher: none
    result = plan_json("--profile", "paper", "--gpus", "8")
    for run in result["runs"]:
        assert (run["rows_per_step"], run["world_size"], run["accumulation"]) == (128, 1, 32)
    [warning] = [m for m in messages(result) if "GPUs is used" in m]
    assert "only 1 of 8 GPUs is used" in warning
    text = run_plan("--profile", "paper", "--gpus", "8").output
    assert "WARNING: train.launcher none runs one process: only 1 of 8 GPUs" in text


def test_more_processes_than_gpus_is_an_error(workdir: Path) -> None:
    repo_params(workdir, {"launcher": "ddp", "num_processes": 8})
    result = run_plan("--profile", "paper", "--gpus", "4", ok=False)
    assert result.exit_code == 1
    assert "ERROR: train.num_processes 8 > the 4 GPU(s): train would stop" in result.output


# --- (b) epochs = steps x rows per step / mixture rows ---------------------------------

def test_epochs_from_estimated_rows_with_filters(workdir: Path) -> None:
    tiny_params(workdir)
    write_corpus(workdir, fluency=600, other=400)  # the intent filter keeps 600; half = 300
    result = plan_json("--gpus", "0")
    [mixture] = result["mixtures"]
    assert (mixture["rows"], mixture["status"]) == (300, "estimated")
    assert mixture["components"][0]["available"] == 600
    assert "data/corpora" in mixture["source"]
    [run] = result["runs"]
    assert run["epochs"] == pytest.approx(30 * 8 / 300) == pytest.approx(0.8)
    assert (run["units_per_epoch"], run["epochs_kind"]) == (300, "rows")


def write_built(workdir: Path, rows: int, sampled: int, tokens: int,
                available: int | None = None) -> None:
    """A built `mix` (stats + decontamination report); fraction 0.5 of AVAILABLE."""
    folder = workdir / "data" / "mixtures" / "mix"
    folder.mkdir(parents=True)
    (folder / "stats.json").write_text(json.dumps(
        {"rows": rows, "tokens_total": tokens, "length_unit": "tokens of models/base"}))
    (folder / "decontamination.json").write_text(json.dumps({"components": {"fl": {
        "corpus": "toy", "split": "train", "sampled": sampled,
        "after_decontamination": available or 2 * sampled}}}))


def test_epochs_over_packed_blocks_of_a_built_mixture(workdir: Path) -> None:
    tiny_params(workdir, train={"packing": True, "max_length": 256})
    write_built(workdir, rows=500, sampled=500, tokens=256 * 100)
    [run] = plan_json("--gpus", "0")["runs"]
    assert (run["units_per_epoch"], run["epochs_kind"]) == (100, "blocks")
    assert run["epochs"] == pytest.approx(30 * 8 / 100)


def test_a_build_of_another_declaration_is_not_used(workdir: Path) -> None:
    tiny_params(workdir)
    write_corpus(workdir)
    # built from 123 of 1000 items: the declaration (fraction 0.5) gives 500
    write_built(workdir, rows=123, sampled=123, tokens=1000, available=1000)
    result = plan_json("--gpus", "0")
    assert result["mixtures"][0]["status"] == "estimated"
    assert result["mixtures"][0]["rows"] == 300
    assert any("built from another declaration" in m for m in messages(result))


def test_packing_without_token_counts_gives_a_lower_bound(workdir: Path) -> None:
    tiny_params(workdir, train={"packing": True})
    write_corpus(workdir)
    [run] = plan_json("--gpus", "0")["runs"]
    assert run["epochs_kind"] == "at least" and run["epochs"] == pytest.approx(0.8)
    assert ">=0.80" in run_plan("--gpus", "0").output


def test_n_beyond_the_corpus_is_an_error(workdir: Path) -> None:
    tiny_params(workdir, component={"corpus": "toy", "task": "fluency", "n": 5000})
    write_corpus(workdir)
    result = run_plan("--gpus", "0", ok=False)
    assert result.exit_code == 1
    assert "mixtures.mix.components.fl.n = 5000 but toy/train has only 1000 items" in \
        result.output


def test_rows_are_counted_from_the_mirror(workdir: Path, mirror: Path) -> None:
    tiny_params(workdir, component={"corpus": "wnc-derived-sample", "task": "neutralize",
                                    "fraction": 1.0})
    shutil.copy(REPO_ROOT / "corpora.yaml", workdir / "corpora.yaml")
    [mixture] = plan_json("--gpus", "0", "--mirror", str(mirror))["mixtures"]
    # the biased rows of the train file: what `normalize` writes (MANIFEST says 2,000)
    assert (mixture["rows"], mixture["components"][0]["source"]) == (596, "mirror")


def test_rows_fall_back_to_the_manifest(workdir: Path) -> None:
    tiny_params(workdir)  # fraction 0.5 of toy/train, intent-filtered
    mirror = workdir / "mirror"
    mirror.mkdir()
    (mirror / "MANIFEST.json").write_text(json.dumps(
        [{"id": "toy", "split": "train", "n_items": 1000}]))
    result = plan_json("--gpus", "0", "--mirror", str(mirror))
    component = result["mixtures"][0]["components"][0]
    # no corpora.yaml to read the raw files by: n_items, unfiltered (an upper bound)
    assert (component["rows"], component["source"]) == (500, "MANIFEST (before filters)")


# --- (c) the default profile on a CPU --------------------------------------------------

def test_default_profile_on_cpu(workdir: Path) -> None:
    repo_params(workdir)
    result = plan_json("--gpus", "0")
    assert result["profile"] == "default"
    for run in result["runs"]:
        assert (run["device"], run["dtype"], run["launcher"]) == ("cpu", "float32", "none")
        assert (run["rows_per_step"], run["world_size"], run["accumulation"]) == (8, 1, 2)
        assert run["steps"] == 30
    # the ladder's runs and systems are on its own base, the others on the default one
    ladder = {"gemma-alpaca", "gemma-writing-alpaca", "gemma-base"}
    for run in result["runs"]:
        on_ladder = run["origin"] == "ladder"
        assert on_ladder == (run["name"] in ladder), run["name"]
        assert run["base"] == ("gemma-3-270m" if on_ladder else "smollm2-135m-instruct")
    assert {s["name"] for s in result["systems"]} >= ladder
    for system in result["systems"]:
        assert system["items_per_dataset"]["bea"] == 80  # predict.max_items
        assert system["base"] == ("gemma-3-270m" if system["name"] in ladder
                                  else "smollm2-135m-instruct")
        if system["device"] != "-":
            assert (system["device"], system["dtype"], system["engine"]) == \
                ("cpu", "float32", "continuous")
    assert not messages(result, "ERROR")
    text = run_plan("--gpus", "0").output
    assert "CPU only (--gpus 0)" in text
    assert "gemma-writing-alpaca (ladder)" in text
    # its base is not built here: the memory table says so instead of guessing
    assert "no config for base gemma-3-270m" in text
    assert "--base-config gemma-3-270m=PATH" in text
    # BASE=FILE gives that base's runs a config, and no other base's
    gemma = write_config(workdir, TINY_LLAMA)
    named = plan_json("--gpus", "0", "--base-config", f"gemma-3-270m={gemma}")
    assert named["bases"]["gemma-3-270m"]["config"] == str(gemma)
    assert named["bases"]["smollm2-135m-instruct"] is None  # not built in this workdir
    assert all((r["memory"] is None) == (r["base"] != "gemma-3-270m") for r in named["runs"])
    alone = plan_json("--gpus", "0", "--no-ladder", "--no-grid")
    assert {r["origin"] for r in alone["runs"]} == {"build"}
    assert not ladder & {s["name"] for s in alone["systems"]}
    # the systems table names each system's base
    assert ["base", "models/smollm2-135m-instruct", "smollm2-135m-instruct"] in [
        line.split()[:3] for line in text.splitlines()]


def test_paper_profile_predicts_the_full_sets(workdir: Path) -> None:
    repo_params(workdir)
    shutil.copy(REPO_ROOT / "corpora.yaml", workdir / "corpora.yaml")
    [system, *_] = plan_json("--profile", "paper", "--gpus", "1")["systems"]
    assert system["items_per_dataset"]["bea"] == 4384
    # the official WNC is not declared in corpora.yaml: the benchmark uses its stand-in
    assert system["items_per_dataset"]["wnc"] == 404


# --- (c2) the engine: predict's own chooser, for the planned machine --------------------

def engine_params(workdir: Path, **predict: Any) -> None:
    """tiny_params with benchmark a of 600 items (630 in all: enough for vLLM under auto)."""
    path = tiny_params(workdir)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["benchmark"]["datasets"]["a"]["size"] = 600
    # greedy unless told: vLLM (these tests' subject) decodes greedily only
    raw["predict"].update({"max_items": None, "num_beams": 1, "copy_margin": None, **predict})
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


ENGINE_PLANS = [  # (predict settings, --gpus) -> the planned engine, an ERROR / WARNING
    ({}, "1", "vllm (if installed there, else continuous)", None),
    ({"max_items": 40}, "1", "continuous", None),  # 70 items: not worth vLLM's start-up
    ({"dtype": "float32"}, "1", "continuous", None),
    ({"num_beams": 4}, "1", "continuous", None),
    ({}, "0", "continuous", None),
    ({"engine": "hf"}, "1", "hf", None),
    ({"engine": "vllm"}, "1", "vllm", None),
    ({"engine": "vllm", "dtype": "float32"}, "1", "vllm",
     ("WARNING: predict.engine vllm with float32: vLLM serves LoRA adapters in 16-bit only, "
      "LoRA systems would stop")),
    ({"engine": "vllm"}, "0", "vllm",
     ("ERROR: predict.engine: engine 'vllm' needs a CUDA device, but the device is 'cpu'; "
      "use engine auto, continuous or hf: predict would stop")),
    ({"engine": "vllm", "num_beams": 2, "copy_margin": 0.5}, "1", "vllm",
     ("ERROR: predict.engine: engine 'vllm' decodes greedily only: set num_beams 1: "
      "predict would stop")),
    ({"engine": "fast"}, "1", "fast",
     ("ERROR: predict.engine: unknown engine 'fast'; use auto, continuous, hf, vllm: "
      "predict would stop")),
]


@pytest.mark.parametrize(("predict", "gpus", "engine", "problem"), ENGINE_PLANS)
def test_planned_engine(workdir: Path, predict: dict[str, Any], gpus: str, engine: str,
                        problem: str | None) -> None:
    engine_params(workdir, **predict)
    result = run_plan("--gpus", gpus, "--json", ok=False)
    assert result.exit_code == (1 if problem and problem.startswith("ERROR") else 0)
    plan_result = json.loads(result.stdout)
    assert {s["engine"] for s in plan_result["systems"]} == {engine}
    found = [f"{p['level']}: {p['message']}" for p in plan_result["problems"]
             if p["message"].startswith("predict.engine")]
    assert found == ([problem] if problem else [])


def test_plan_chooses_the_engine_through_predicts_chooser(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from stages.lib.inference import engines

    engine_params(workdir, num_beams=1)
    calls = []

    def spy(name: str, device: str, num_beams: int = 1, dtype: Any = None,
            items: int | None = None, vllm_installed: bool | None = None) -> Any:
        calls.append((name, device, num_beams, dtype, items, vllm_installed))
        return engines.HF

    monkeypatch.setattr(engines, "resolve_engine", spy)
    result = plan_json("--gpus", "1")
    # vLLM assumed installed there, then not, to name the fallback where it matters
    assert calls == [("auto", "cuda", 1, torch.bfloat16, 630, True),
                     ("auto", "cuda", 1, torch.bfloat16, 630, False)]
    assert {s["engine"] for s in result["systems"]} == {"hf"}


# --- (d) memory ---------------------------------------------------------------------

def test_parameter_counts_are_exact() -> None:
    shape = read_model_shape_from(LLAMA_7B)
    assert shape.params == 6_738_415_616  # LLaMA-7B
    assert lora_trainable(shape, 8, ["q_proj", "v_proj"]) == (4_194_304, [])
    assert lora_trainable(shape, 8, ["q_proj", "nope"])[1] == ["nope"]


def read_model_shape_from(config: dict[str, Any]) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        return read_model_shape(path)


def test_a_7b_model_in_fp32_does_not_fit_16_gib(workdir: Path) -> None:
    tiny_params(workdir)  # train.dtype float32
    config = write_config(workdir, LLAMA_7B)
    result = plan_json("--gpus", "1", "--gpu-memory", "16", "--base-config", str(config))
    memory = result["runs"][0]["memory"]
    assert memory["weights"] >= 6_738_415_616 * 4 and memory["fits"] is False
    assert any(m.startswith("memory: ~") and "--gpu-memory 16 GiB" in m
               for m in messages(result))
    text = run_plan("--gpus", "1", "--gpu-memory", "16", "--base-config", str(config)).output
    assert "WARNING: memory:" in text


def test_a_tiny_model_fits_without_a_warning(workdir: Path) -> None:
    tiny_params(workdir)
    config = write_config(workdir, TINY_LLAMA)
    result = plan_json("--gpus", "1", "--gpu-memory", "16", "--base-config", str(config))
    assert result["runs"][0]["memory"]["fits"] is True
    assert not any(m.startswith("memory") for m in messages(result))


def test_fsdp_shards_weights_and_optimizer_but_not_activations() -> None:
    shape = read_model_shape_from(LLAMA_7B)
    common = {"method": "full", "trainable": 0, "compute_bytes": 2, "batch": 4, "seq": 256,
              "checkpointing": False, "cuda": True}
    one = estimate_memory(shape, fsdp_world=1, **common)
    eight = estimate_memory(shape, fsdp_world=8, **common)
    assert one.optimizer == shape.params * 8 and eight.optimizer == shape.params * 8 // 8
    assert eight.activations == one.activations
    checkpointed = estimate_memory(shape, fsdp_world=1, **{**common, "checkpointing": True})
    assert checkpointed.activations < one.activations / 5
    assert one.total > 80 * GIB > eight.total


# --- (e) precision follows the GPU -----------------------------------------------------

def test_capability_7_means_fp16(workdir: Path) -> None:
    tiny_params(workdir, train={"dtype": "auto"})
    result = plan_json("--gpus", "1", "--gpu-capability", "7.5")
    assert result["runs"][0]["dtype"] == "float16"
    assert {s["dtype"] for s in result["systems"]} == {"float16"}  # predict.dtype auto
    ampere = plan_json("--gpus", "1", "--gpu-capability", "8.0")
    assert ampere["runs"][0]["dtype"] == "bfloat16"


def test_a_gpu_the_torch_build_cannot_run_is_an_error(workdir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A V100 (7.0) with the default CUDA 13 wheels: plan says so, as train would on it."""
    import torch

    tiny_params(workdir)
    v100 = run_plan("--gpus", "1", "--gpu-capability", "7.0", ok=False)
    assert v100.exit_code == 1 and "capability 7.0: PyPI's CUDA 13 torch wheels" in v100.output
    assert "whl/cu126" in v100.output
    assert not messages(plan_json("--gpus", "1", "--gpu-capability", "7.5"), "ERROR")
    # plan on a machine with a CUDA build: its own kernel list decides
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_90"])
    assert "here has no kernels for compute capability 7.5" in run_plan(
        "--gpus", "1", "--gpu-capability", "7.5", ok=False).output
    assert not messages(plan_json("--gpus", "1", "--gpu-capability", "8.6"), "ERROR")


def test_a_driver_older_than_the_torch_builds_cuda_is_an_error(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA 13 wheels (the default GPU install) need driver 580; CUDA 12 ones 525."""
    import torch

    tiny_params(workdir)
    monkeypatch.setattr(torch.version, "cuda", None)  # this CPU build: a GPU install's CUDA 13
    old = run_plan("--gpus", "1", "--gpu-driver", "535.104.05", ok=False)
    assert old.exit_code == 1
    assert ("ERROR: driver 535.104.05 is older than CUDA 13.0's minimum 580.65.6 (the torch "
            "build a GPU install gets): torch would see no GPU") in old.output
    assert "whl/cu126" in old.output and "vLLM" in old.output
    assert not messages(plan_json("--gpus", "1", "--gpu-driver", "580.82.07"), "ERROR")
    assert not messages(plan_json("--gpus", "0", "--gpu-driver", "400.1"), "ERROR")
    # plan on a machine with a CUDA 12.6 build: its CUDA decides
    monkeypatch.setattr(torch.version, "cuda", "12.6")
    assert not messages(plan_json("--gpus", "1", "--gpu-driver", "535.104.05"), "ERROR")
    assert "older than CUDA 12.6's minimum 525.60.13" in run_plan(
        "--gpus", "1", "--gpu-driver", "470.57.02", ok=False).output
    bad = run_plan("--gpus", "1", "--gpu-driver", "latest", ok=False)
    assert bad.exit_code == 2 and "--gpu-driver" in bad.output


def test_bf16_on_an_old_gpu_is_a_warning(workdir: Path) -> None:
    tiny_params(workdir, train={"dtype": "bfloat16"})
    result = plan_json("--gpus", "1", "--gpu-capability", "7.5")
    assert result["runs"][0]["dtype"] == "bfloat16"
    assert any("no native bf16" in m for m in messages(result))


# --- bad input: one line --------------------------------------------------------------

def test_unknown_profile_is_one_line(workdir: Path) -> None:
    repo_params(workdir)
    result = run_plan("--profile", "nope", ok=False)
    assert result.exit_code == 2
    # the message names the user's file, not the temporary copy the profile was applied to
    assert result.output.startswith("Error: params.yaml: profile 'nope' is not defined")


def test_bad_base_config_is_one_line(workdir: Path) -> None:
    tiny_params(workdir)
    result = run_plan("--base-config", str(write_config(workdir, {"model_type": "nosuch"})),
                      ok=False)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "model_type 'nosuch' is unknown" in result.output


def test_file_profile_is_overridden_by_the_option(workdir: Path) -> None:
    path = repo_params(workdir)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**raw, "profile": "paper"}, sort_keys=False))
    assert plan_json("--gpus", "0")["runs"][0]["steps"] == 2625
    assert plan_json("--gpus", "0", "--profile", "default")["runs"][0]["steps"] == 30


@pytest.mark.parametrize("systems, said", [
    ({}, "systems.mix: missing"),
    ({"mix": {"adapter": "adapters/mix", "base": "tiny"}},
     "systems.mix.adapter is 'adapters/mix', expected 'trained/mix'"),
])
def test_a_run_without_its_system_is_an_error(workdir: Path, systems: dict[str, Any],
                                              said: str) -> None:
    """ship@<run> puts system <run>'s decoding and scores into the run's card: refused
    here, before any training, not after it."""
    path = tiny_params(workdir)
    raw = yaml.safe_load(path.read_text())
    raw["systems"] = {"copy": raw["systems"]["copy"], **systems}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    write_corpus(workdir)
    result = run_plan("--gpus", "0", ok=False)
    assert result.exit_code == 1 and said in result.output
