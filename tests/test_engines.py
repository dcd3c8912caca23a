"""Device, dtype and engine choice, and merged-LoRA generation, on the CPU.

GPUs and vLLM are absent here: their availability is monkeypatched for the choice
logic, and for vLLM only the error path is run (nothing of vLLM is faked).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from decode_helpers import generate, max_new_tokens_for
from test_predict import write_params, write_tiny_benchmark

from stages.lib.core.io import read_jsonl
from stages.lib.data.prompts import format_prompt
from stages.lib.inference import engines, vllm_engine
from stages.lib.inference.decoding import Decoding
from stages.lib.model import models
from stages.lib.model.models import load_system, resolve_device, resolve_dtype
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


# (device, num_beams, dtype, items, vllm installed) -> the engine `auto` resolves to
AUTO_CASES = [
    ("cuda", 1, torch.bfloat16, None, True, "vllm"),  # items unknown: assumed large
    ("cuda", 1, torch.bfloat16, engines.VLLM_MIN_ITEMS, True, "vllm"),
    ("cuda", 1, torch.float16, engines.VLLM_MIN_ITEMS, True, "vllm"),
    ("cuda:1", 1, torch.bfloat16, 10_000, True, "vllm"),
    # one `edit` sentence, or just under the bar: not worth vLLM's start-up
    ("cuda", 1, torch.bfloat16, 1, True, "continuous"),
    ("cuda", 1, torch.bfloat16, engines.VLLM_MIN_ITEMS - 1, True, "continuous"),
    # float32: vLLM's LoRA kernels refuse it, so auto keeps the torch engine
    ("cuda", 1, torch.float32, None, True, "continuous"),
    ("cuda", 4, torch.bfloat16, None, True, "continuous"),  # beam search
    ("cpu", 1, torch.bfloat16, None, True, "continuous"),
    ("mps", 1, torch.float16, None, True, "continuous"),
    ("cuda", 1, torch.bfloat16, None, False, "continuous"),  # vllm not installed
]


@pytest.mark.parametrize(("device", "beams", "dtype", "items", "vllm", "expected"), AUTO_CASES)
def test_auto_engine_rules(monkeypatch: pytest.MonkeyPatch, device: str, beams: int,
                           dtype: torch.dtype, items: int | None, vllm: bool,
                           expected: str) -> None:
    fake_hardware(monkeypatch, cuda=True, vllm=vllm)  # vllm found or not, as predict asks
    assert engines.resolve_engine("auto", device, beams, dtype, items).name == expected
    # plan says whether vllm is installed on the machine it plans for: that decides
    fake_hardware(monkeypatch, cuda=True, vllm=not vllm)
    assert engines.resolve_engine("auto", device, beams, dtype, items,
                                  vllm_installed=vllm).name == expected


def test_auto_engine_default_dtype_is_16_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=True, vllm=True)
    assert engines.resolve_engine("auto", "cuda") is engines.VLLM
    assert engines.resolve_engine("auto", "cuda", items=1) is engines.CONTINUOUS


@pytest.mark.parametrize("name", ["continuous", "hf", "vllm"])
def test_explicit_engines_resolve_to_themselves(monkeypatch: pytest.MonkeyPatch,
                                                name: str) -> None:
    fake_hardware(monkeypatch, cuda=True, vllm=True)
    # an explicit choice is kept whatever the workload and dtype
    engine = engines.resolve_engine(name, "cuda", 1, torch.float32, items=1)
    assert engine.name == name and engines.engine_named(name) is engine


def test_engine_names_are_one_constant() -> None:
    assert engines.ENGINE_NAMES == ("auto", "continuous", "hf", "vllm")
    concrete = [engines.engine_named(name) for name in engines.ENGINE_NAMES[1:]]
    assert concrete == [engines.CONTINUOUS, engines.HF, engines.VLLM]
    assert [engine.transformers_model for engine in concrete] == [True, True, False]


UNKNOWN = "unknown engine 'fast'; use auto, continuous, hf, vllm"


def test_an_unknown_engine_is_one_error_from_the_chooser(monkeypatch: pytest.MonkeyPatch,
                                                         lively_model_dir: Path) -> None:
    fake_hardware(monkeypatch, cuda=True, vllm=True)
    for call in (lambda: engines.resolve_engine("fast", "cuda"),
                 lambda: engines.resolve_engine("fast", "cpu", vllm_installed=False),
                 lambda: engines.engine_named("fast")):
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == UNKNOWN
    with pytest.raises(engines.SettingError) as setting:
        engines.choose("cpu", "float32", "fast", merge=True, num_beams=1)
    assert (setting.value.key, str(setting.value)) == ("engine", UNKNOWN)
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    with pytest.raises(ValueError) as error:
        generate(model, tokenizer, ["x"], [2], 1, engine="fast")
    assert str(error.value) == UNKNOWN
    with pytest.raises(ValueError, match="resolve it with stages.lib.inference.engines.choose"):
        engines.engine_named("auto")


def test_predict_reports_an_unknown_engine_from_the_chooser(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    code, err, out = run_predict(tmp_path, tiny_model_dir, tiny_model_dir, "base",
                                 engine="fast")
    assert code == 2 and f"params.yaml: predict.engine: {UNKNOWN}" in err
    assert not out.exists()


def test_vllm_that_cannot_run_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False, vllm=False)
    with pytest.raises(ValueError, match=r"not installed: pip install -e '\.\[gpu\]'"):
        engines.resolve_engine("vllm", "cpu")
    with pytest.raises(ValueError, match="not installed"):
        engines.resolve_engine("vllm", "cuda")
    fake_hardware(monkeypatch, cuda=False, vllm=True)
    with pytest.raises(ValueError, match="needs a CUDA device, but the device is 'cpu'"):
        engines.resolve_engine("vllm", "cpu")
    with pytest.raises(ValueError, match="greedily only"):
        engines.resolve_engine("vllm", "cuda", num_beams=2)
    # plan's assumption for another machine overrides this one's
    with pytest.raises(ValueError, match="not installed"):
        engines.resolve_engine("vllm", "cuda", vllm_installed=False)
    fake_hardware(monkeypatch, cuda=False, vllm=False)
    assert engines.resolve_engine("vllm", "cuda", vllm_installed=True) is engines.VLLM


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
    from stages.lib.core.params import load_params

    section = load_params(Path(__file__).resolve().parents[1] / "params.yaml")["predict"]
    defaults = PredictParams()
    assert (section["device"], section["engine"], section["merge_lora"]) == \
        (defaults.device, defaults.engine, defaults.merge_lora) == ("auto", "auto", True)
    options = {param.name: param for param in edit.params}
    assert options["device"].default == "auto" and options["merge_lora"].default is True
    assert tuple(options["engine"].type.choices) == engines.ENGINE_NAMES
    options = {param.name: param for param in predict.params}
    assert tuple(options["engine"].type.choices) == engines.ENGINE_NAMES


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


@pytest.mark.parametrize("name", ["continuous", "hf"])
def test_merged_lora_generates_what_the_unmerged_model_does(
        lively_model_dir: Path, lora_dir: Path, name: str) -> None:
    engine = engines.resolve_engine(name, "cpu", dtype=torch.float32)
    before = digest(lora_dir)
    unmerged, tokenizer = load_system(lively_model_dir, lora_dir, torch.float32)
    merged, _ = load_system(lively_model_dir, lora_dir, torch.float32, merge=True)
    assert hasattr(unmerged, "peft_config") and not hasattr(merged, "peft_config")
    assert not any("lora" in name for name, _ in merged.named_parameters())
    prompts = [format_prompt("Fix grammatical errors in the text.", t) for t in TEXTS]
    budgets = [max_new_tokens_for(t, tokenizer, 1.5, 4, 20) for t in TEXTS]
    ours = engine.generate(merged, tokenizer, prompts, budgets, Decoding(), 4, progress=False)
    assert ours == engine.generate(unmerged, tokenizer, prompts, budgets, Decoding(), 4,
                                   progress=False)
    base, _ = load_system(lively_model_dir, None, torch.float32)
    # the adapter matters: a real comparison
    assert ours != engine.generate(base, tokenizer, prompts, budgets, Decoding(), 4,
                                   progress=False)
    assert len({o for o in ours if o}) >= 4
    assert digest(lora_dir) == before  # merged in memory only


def test_vllm_generate_refuses_beams_before_vllm_runs(lively_model_dir: Path) -> None:
    model, tokenizer = load_system(lively_model_dir, None, torch.float32)
    with pytest.raises(ValueError, match="greedily only"):
        engines.VLLM.generate(model, tokenizer, ["x"], [2], Decoding(2), 1)
    with pytest.raises(ValueError, match="greedily only"):  # the same through the name
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


# --- predict and edit go through the one chooser ----------------------------------------

@dataclass(frozen=True)
class MarkerEngine:
    """An Engine that writes a marker per prompt, so a test sees whose outputs were used."""

    name: str = "marker"
    transformers_model: bool = True

    def load(self, base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
             device: str, merge: bool) -> tuple[Any, Any]:
        return None, models.load_tokenizer(base)  # the tokenizer sizes the budgets

    def generate(self, model: Any, tokenizer: Any, prompts: list[str],
                 max_new_tokens: list[int], decoding: Decoding, batch_size: int,
                 sources: list[str] | None = None, progress: bool = True) -> list[str]:
        return [f"marker {budget}" for budget in max_new_tokens]


def spy_on_chooser(monkeypatch: pytest.MonkeyPatch,
                   returns: engines.Engine | None = None) -> list[tuple[Any, ...]]:
    """Replace stages.lib.inference.engines.resolve_engine: each call is recorded as (name, device,
    num_beams, dtype, items, vllm_installed) and answered by the real chooser, or with
    `returns` when given."""
    calls: list[tuple[Any, ...]] = []
    real = engines.resolve_engine

    def spy(name: str, device: str, num_beams: int = 1, dtype: torch.dtype | None = None,
            items: int | None = None, vllm_installed: bool | None = None) -> engines.Engine:
        calls.append((name, device, num_beams, dtype, items, vllm_installed))
        chosen = real(name, device, num_beams, dtype, items, vllm_installed)
        return chosen if returns is None else returns

    monkeypatch.setattr(engines, "resolve_engine", spy)
    return calls


def test_predict_chooses_its_engine_through_the_chooser(
        tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hardware(monkeypatch, cuda=False)
    calls = spy_on_chooser(monkeypatch, returns=MarkerEngine())
    code, err, out = run_predict(tmp_path, tiny_model_dir, tiny_model_dir, "spied",
                                 engine="hf", num_beams=2)
    assert code == 0, err
    items = sum(len(read_jsonl(path)) for path in out.glob("*.jsonl"))
    assert calls == [("hf", "cpu", 2, torch.float32, items, None)]
    assert "engine marker" in err  # the chosen engine is the one described ...
    outputs = {record["output"] for path in out.glob("*.jsonl") for record in read_jsonl(path)}
    assert outputs and all(o.startswith("marker ") for o in outputs)  # ... and run


def test_edit_chooses_its_engine_through_the_chooser(
        tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stages.edit import edit

    fake_hardware(monkeypatch, cuda=False)
    calls = spy_on_chooser(monkeypatch, returns=MarkerEngine())
    result = CliRunner().invoke(edit, ["--adapter", str(tiny_model_dir), "--task", "grammar",
                                       "--dtype", "float32", "--engine", "hf"],
                                input="She go .\n\nHe go .\n")
    assert result.exit_code == 0, result.output
    assert calls == [("hf", "cpu", 1, torch.float32, 3, None)]  # items: every stdin line
    assert "engine marker" in result.stderr
    first, empty, last = result.stdout.splitlines()  # an empty line is not generated
    assert first.startswith("marker ") and empty == "" and last.startswith("marker ")


def test_vllm_on_cuda_n_with_dtype_auto_pins_before_cuda_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """cuda:N + auto + vLLM: the capability is asked only after CUDA_VISIBLE_DEVICES is
    set (asking it starts CUDA, and vLLM's GPU can then no longer be chosen)."""
    fake_hardware(monkeypatch, cuda=True, vllm=True)
    started: list[int] = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: bool(started))

    def capability(index: int = 0) -> tuple[int, int]:
        started.append(index)  # what the real query does: CUDA starts
        return (8, 0)

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    inference = engines.choose("cuda:1", "auto", "vllm", merge=True, num_beams=1)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1" and set(started) == {0}
    assert (inference.device, inference.dtype, inference.engine.name) == \
        ("cuda", torch.bfloat16, "vllm")
    # another engine keeps cuda:N and asks that GPU
    started.clear()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    inference = engines.choose("cuda:1", "auto", "hf", merge=True, num_beams=1)
    assert inference.device == "cuda:1" and set(started) == {1}
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


@pytest.mark.parametrize(("capability", "arch_list", "runs"), [
    ((7, 0), ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], False),  # V100, CUDA 13
    ((7, 0), ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_90"], True),     # cu126
    ((8, 6), ["sm_75", "sm_80", "sm_90"], True),   # an sm_80 cubin runs on sm_86
    ((8, 9), ["sm_90", "compute_90"], False),      # PTX of a newer capability does not
    ((12, 1), ["sm_100", "compute_120"], True),    # PTX of an older one is JIT-compiled
])
def test_a_gpu_without_kernels_in_this_torch_is_refused_before_loading(
        monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], arch_list: list[str],
        runs: bool) -> None:
    fake_hardware(monkeypatch, cuda=True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: arch_list)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Tesla V100-SXM2-16GB")
    if runs:
        engines.choose("cuda", "float32", "continuous", merge=True, num_beams=1)
        return
    with pytest.raises(engines.SettingError) as error:
        engines.choose("cuda", "float32", "continuous", merge=True, num_beams=1)
    assert error.value.key == "device"
    assert "has no kernels for Tesla V100-SXM2-16GB (sm_" in str(error.value)
    assert "download.pytorch.org/whl/cu126" in str(error.value)
