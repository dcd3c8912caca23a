"""Device, dtype and engine choice, and merged-LoRA generation, on the CPU.

GPUs and vLLM are absent here: their availability is monkeypatched for the choice
logic, and for vLLM only the error path is run (nothing of vLLM is faked).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_predict import write_params, write_tiny_benchmark

from stages.lib import engines, models, vllm_engine
from stages.lib.generation import generate, max_new_tokens_for
from stages.lib.models import load_system, resolve_device, resolve_dtype
from stages.lib.prompts import format_prompt
from stages.predict import PredictParams, predict

TEXTS = ["She go to school yesterday .", "Hi", "The cat sat on the mat. The dog barked.",
         "A", "She went", "The dog barked at the cat .", "Tea", "Go home now please .",
         "It are raining since morning and we has no umbrella .", "Ok", "Yes it is ."]


def fake_hardware(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool = False,
                  vllm: bool = False) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2 if cuda else 0)
    monkeypatch.setattr(models, "nvidia_gpu_present", lambda: cuda)
    monkeypatch.setattr(models, "mps_available", lambda: mps)
    monkeypatch.setattr(vllm_engine, "installed", lambda: vllm)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch,
                                                    cuda: bool, mps: bool,
                                                    expected: str) -> None:
    fake_hardware(monkeypatch, cuda=cuda, mps=mps)
    assert resolve_device("auto") == expected


def test_explicit_device_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False)
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="MPS"):
        resolve_device("mps")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    fake_hardware(monkeypatch, cuda=True)
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("cpu:0")


def test_auto_dtype_follows_the_chosen_device(monkeypatch: pytest.MonkeyPatch) -> None:
    # capability, not torch.cuda.is_bf16_supported (which counts emulation: V100, T4)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (8, 0))
    monkeypatch.setattr(models, "cpu_has_fast_bf16", lambda: False)
    assert resolve_dtype("auto", "cuda:0") == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "mps") == torch.float32
    assert resolve_dtype("float16", "cpu") == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (7, 0))
    assert resolve_dtype("auto", "cuda") == torch.float16


def test_auto_engine_is_vllm_only_on_cuda_with_vllm_and_greedy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=True, vllm=True)
    assert engines.resolve_engine("auto", "cuda") == "vllm"
    assert engines.resolve_engine("auto", "cuda", items=engines.VLLM_MIN_ITEMS) == "vllm"
    # one `edit` sentence: not worth vLLM's start-up and CUDA-graph capture
    assert engines.resolve_engine("auto", "cuda", items=1) == "continuous"
    # float32: vLLM's LoRA kernels refuse it, so auto keeps the torch engine
    assert engines.resolve_engine("auto", "cuda", dtype=torch.float32) == "continuous"
    assert engines.resolve_engine("auto", "cuda", num_beams=4) == "continuous"
    assert engines.resolve_engine("auto", "cpu") == "continuous"
    assert engines.resolve_engine("hf", "cuda") == "hf"
    fake_hardware(monkeypatch, cuda=True, vllm=False)
    assert engines.resolve_engine("auto", "cuda") == "continuous"
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        engines.resolve_engine("fast", "cpu")


def test_vllm_that_cannot_run_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False, vllm=False)
    with pytest.raises(ValueError, match=r"not installed: pip install -e '\.\[gpu\]'"):
        engines.resolve_engine("vllm", "cpu")
    fake_hardware(monkeypatch, cuda=False, vllm=True)
    with pytest.raises(ValueError, match="needs a CUDA device, but the device is 'cpu'"):
        engines.resolve_engine("vllm", "cpu")
    with pytest.raises(ValueError, match="greedily only"):
        engines.resolve_engine("vllm", "cuda", num_beams=2)


def test_vllm_float32_lora_fails_before_vllm_starts(lora_dir: Path,
                                                    lively_model_dir: Path) -> None:
    # raised before `import vllm`, which this machine does not have
    with pytest.raises(ValueError, match="LoRA adapters in float16 or bfloat16 only"):
        vllm_engine.load(lively_model_dir, lora_dir, torch.float32)
    vllm_engine.check_lora_dtype(lora_dir, torch.bfloat16)
    vllm_engine.check_lora_dtype(lively_model_dir, torch.float32)  # a full model: fine


def test_vllm_device_index_goes_to_cuda_visible_devices(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    vllm_engine.pin_device("cuda")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    vllm_engine.pin_device("cuda:1")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # cuda:1 = the second visible GPU
    vllm_engine.pin_device("cuda:1")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    with pytest.raises(ValueError, match="only 1 GPU"):
        vllm_engine.pin_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(ValueError, match="CUDA is already initialised"):
        vllm_engine.pin_device("cuda:1")


def test_vllm_serves_the_lora_unmerged(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=True, vllm=True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (9, 0))
    assert engines.choose("cuda", "auto", "vllm", merge=True, num_beams=1).merge is False
    assert engines.choose("cuda", "auto", "hf", merge=True, num_beams=1).merge is True


def test_choose_names_the_bad_setting_and_describes_the_choice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False)
    inference = engines.choose("auto", "float32", "auto", merge=True, num_beams=1)
    assert inference.describe(lora=True) == \
        "device cpu, dtype float32, engine continuous, merged LoRA"
    assert engines.choose("cpu", "float32", "hf", False, 1).describe(lora=True) == \
        "device cpu, dtype float32, engine hf, unmerged LoRA"
    for args, key in [(("cuda", "float32", "auto"), "device"), (("cpu", "fp8", "auto"), "dtype"),
                      (("cpu", "float32", "vllm"), "engine")]:
        with pytest.raises(engines.SettingError) as error:
            engines.choose(*args, merge=True, num_beams=1)
        assert error.value.key == key


def test_defaults_agree_with_params_yaml() -> None:
    from stages.edit import edit
    from stages.lib.params import load_params

    section = load_params(Path(__file__).resolve().parents[1] / "params.yaml")["predict"]
    defaults = PredictParams()
    assert (section["device"], section["engine"], section["merge_lora"]) == \
        (defaults.device, defaults.engine, defaults.merge_lora) == ("auto", "auto", True)
    options = {param.name: param for param in edit.params}
    assert options["device"].default == "auto" and options["merge_lora"].default is True
    assert tuple(options["engine"].type.choices) == engines.ENGINE_CHOICES


def test_lora_rank_bound_rounds_up_to_a_rank_vllm_accepts(tmp_path: Path) -> None:
    def bound(config: dict[str, object]) -> int:
        (tmp_path / "adapter_config.json").write_text(json.dumps(config))
        return vllm_engine.lora_rank_bound(tmp_path)

    assert bound({"r": 8}) == 8
    assert bound({"r": 12}) == 16
    assert bound({"r": 8, "rank_pattern": {"q_proj": 40}}) == 64
    with pytest.raises(ValueError, match="use engine continuous or hf"):
        bound({"r": 1024})


@pytest.fixture(scope="module")
def lora_dir(lively_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random LoRA adapter (B not zero, so it changes the outputs) on the lively model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(lively_model_dir, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(
        r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"]))
    out = tmp_path_factory.mktemp("lora")
    peft_model.save_pretrained(out)
    return out


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("engine", ["continuous", "hf"])
def test_merged_lora_generates_what_the_unmerged_model_does(
        lively_model_dir: Path, lora_dir: Path, engine: str) -> None:
    before = digest(lora_dir)
    unmerged, tokenizer = load_system(lively_model_dir, lora_dir, torch.float32)
    merged, _ = load_system(lively_model_dir, lora_dir, torch.float32, merge=True)
    assert hasattr(unmerged, "peft_config") and not hasattr(merged, "peft_config")
    assert not any("lora" in name for name, _ in merged.named_parameters())
    prompts = [format_prompt("Fix grammatical errors in the text.", t) for t in TEXTS]
    budgets = [max_new_tokens_for(t, tokenizer, 1.5, 4, 20) for t in TEXTS]
    ours = generate(merged, tokenizer, prompts, budgets, 4, progress=False, engine=engine)
    assert ours == generate(unmerged, tokenizer, prompts, budgets, 4, progress=False,
                            engine=engine)
    base, _ = load_system(lively_model_dir, None, torch.float32)
    assert ours != generate(base, tokenizer, prompts, budgets, 4, progress=False,
                            engine=engine)  # the adapter matters: a real comparison
    assert len({o for o in ours if o}) >= 4
    assert digest(lora_dir) == before  # merged in memory only


def test_generate_rejects_unknown_engines_and_beams_on_vllm(lively_model_dir: Path) -> None:
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    with pytest.raises(ValueError, match="unknown engine"):
        generate(model, tokenizer, ["x"], [2], 1, engine="ctranslate2")
    with pytest.raises(ValueError, match="greedily only"):
        generate(model, tokenizer, ["x"], [2], 1, num_beams=2, engine="vllm")


def run_predict(tmp_path: Path, base: Path, adapter: Path, name: str, **eval_params: object
                ) -> tuple[int, str, Path]:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    params = write_params(tmp_path / f"{name}.yaml", max_items=3, dtype="float32",
                          batch_size=4, max_new_tokens_min=2, max_new_tokens_max=10,
                          **eval_params)
    out = tmp_path / "predictions" / name
    result = CliRunner().invoke(predict, [
        "--system", name, "--adapter", str(adapter), "--base", str(base),
        "--benchmark", str(bench), "--params", str(params), "--out", str(out)])
    return result.exit_code, result.stderr, out


def test_predict_default_merged_run_matches_unmerged(lively_model_dir: Path, lora_dir: Path,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False)
    code, err, merged = run_predict(tmp_path, lively_model_dir, lora_dir, "merged")
    assert code == 0, err
    assert "predict@merged: device cpu, dtype float32, engine continuous, merged LoRA;" in err
    code, err, unmerged = run_predict(tmp_path, lively_model_dir, lora_dir, "unmerged",
                                      merge_lora=False, engine="continuous", device="cpu")
    assert code == 0 and "unmerged LoRA" in err
    assert digest(merged) == digest(unmerged)
    outputs = [json.loads(line)["output"] for line in (merged / "jfl.jsonl").open()]
    assert sum(bool(o) for o in outputs) >= 2  # the model writes text: a real comparison


def test_predict_with_vllm_unavailable_exits_2_in_one_line(
        tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False, vllm=True)
    code, err, out = run_predict(tmp_path, tiny_model_dir, tiny_model_dir, "base",
                                 engine="vllm")
    assert code == 2 and "Traceback" not in err
    assert "params.yaml: predict.engine: engine 'vllm' needs a CUDA device" in err
    assert not out.exists()
    fake_hardware(monkeypatch, cuda=False, vllm=False)
    code, err, _ = run_predict(tmp_path, tiny_model_dir, tiny_model_dir, "base", engine="vllm")
    assert code == 2 and "predict.engine" in err and "'.[gpu]'" in err


def test_edit_with_vllm_unavailable_exits_2(tiny_model_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from stages.edit import edit

    fake_hardware(monkeypatch, cuda=False, vllm=False)
    result = CliRunner().invoke(edit, ["--adapter", str(tiny_model_dir), "--task", "grammar",
                                       "--engine", "vllm", "She go ."])
    assert result.exit_code == 2 and "--engine" in result.stderr
    assert "not installed" in result.stderr and result.exception is not None
    assert not isinstance(result.exception, ValueError)  # a usage error, not a crash
