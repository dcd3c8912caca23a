"""Loading the base model, an adapter on top of it, and choosing the device and dtype.

One home for model loading: training, prediction and the `edit` command all call
these, so a system is loaded the same way everywhere.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matmuls beat fp32. Without them (e.g. AVX2-only CPUs)
    torch emulates bf16 and it is ~50x slower than fp32 (measured: 0.7 vs 38 GFLOPS)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def mps_available() -> bool:
    """Apple-silicon GPU through torch's MPS backend (absent from older torch builds)."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def nvidia_gpu_present() -> bool:
    """The NVIDIA driver lists a GPU (read from the kernel, not through torch)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()


def cuda_unusable_reason() -> str | None:
    """Why this machine's GPU cannot be used by this torch, when it has one torch can't use.

    A CUDA build of torch on a driver older than its CUDA version (or a CPU build on a GPU
    machine) reports no CUDA device; `auto` would then train and predict on the CPU for
    hours without a word, so it is an error that names the cause and the way out.
    """
    if torch.cuda.is_available() or not nvidia_gpu_present():
        return None
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU build)"
    return (f"this machine has an NVIDIA GPU, but torch {torch.__version__} (built with "
            f"{build}) cannot use it: a driver older than torch's CUDA, or a CPU build; "
            f"install a torch that matches the driver (`nvidia-smi` shows its CUDA version), "
            f"or set the device to cpu to run on the CPU on purpose")


def resolve_device(name: str) -> str:
    """Map a device name to a torch device string; `auto` = cuda, then mps, then cpu.

    An explicit device that this machine lacks is an error rather than a silent CPU
    run: on a GPU machine with a CPU build of torch, predict would otherwise take hours.
    `auto` is an error too when a GPU is there but torch cannot use it.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if mps_available():
            return "mps"
        if (reason := cuda_unusable_reason()) is not None:
            raise ValueError(reason)
        return "cpu"
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not (kind == "cuda" and index.isdigit())):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(cuda_unusable_reason()
                         or f"device {name!r} asked for, but torch sees no CUDA device "
                            f"(torch {torch.__version__}; a CPU build?)")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} asked for, but torch sees "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    if kind == "mps" and not mps_available():
        raise ValueError("device 'mps' asked for, but torch's MPS backend is not available")
    return name


def has_kernels_for(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a torch build with `arch_list` (torch.cuda.get_arch_list(): sm_XY cubins,
    compute_XY PTX) runs on a GPU of `capability`: a cubin of the same major version and
    a minor no higher, or PTX of a capability no higher (JIT-compiled)."""
    major, minor = capability
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        if not digits.isdigit() or len(digits) < 2:
            continue
        arch_major, arch_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and arch_major == major and arch_minor <= minor:
            return True
        if kind == "compute" and (arch_major, arch_minor) <= (major, minor):
            return True
    return False


def check_cuda_kernels(device: str) -> None:
    """ValueError (one line) when this torch build has no kernels for the GPU of
    `device`: torch still says CUDA is available, and the first kernel fails with "no
    kernel image is available" after the model has loaded. PyPI's CUDA 13 builds carry
    none for pre-Turing GPUs (V100: sm_70), which PyTorch's cu126 wheels still do."""
    index = int(device.partition(":")[2] or 0)
    capability = torch.cuda.get_device_capability(index)
    arch_list = torch.cuda.get_arch_list()
    if not arch_list or has_kernels_for(capability, arch_list):
        return
    gpu = f"{torch.cuda.get_device_name(index)} (sm_{capability[0]}{capability[1]})"
    raise ValueError(
        f"{device}: torch {torch.__version__} has no kernels for {gpu}; it was built for "
        f"{', '.join(arch_list)}. Install a build that has them, e.g. {OLD_GPU_TORCH}")


# PyPI's CUDA 13 torch wheels (what `make setup` and the GPU extra install) carry kernels
# from Turing (compute capability 7.5) up; PyTorch's cu126 wheels still run older GPUs
CUDA13_MIN_CAPABILITY = 7.5
OLD_GPU_TORCH = (f"PyTorch's cu126 wheels: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/"
                 f"whl/cu126 make setup TORCH_SPEC=torch=={torch.__version__.split('+')[0]}"
                 f"+cu126")


# bf16 in hardware: compute capability 8.0 (Ampere) and newer
NATIVE_BF16_CAPABILITY = (8, 0)


def native_bf16(capability: tuple[int, int]) -> bool:
    """Whether a GPU of `capability` computes bf16 in hardware. torch's
    `is_bf16_supported()` also counts emulation (V100, T4), where bf16 is slow and vLLM
    refuses it. `plan` asks this of a described GPU."""
    return tuple(capability) >= NATIVE_BF16_CAPABILITY


def cuda_native_bf16(device: str = "cuda") -> bool:
    """native_bf16 of the GPU behind `device`."""
    index = int(device.partition(":")[2] or 0)
    return native_bf16(torch.cuda.get_device_capability(index))


def auto_dtype(kind: str, gpu_native_bf16: bool, cpu_fast_bf16: bool) -> torch.dtype:
    """`auto` on a device of `kind` (cuda | mps | cpu), given what its hardware does."""
    if kind == "cuda":
        return torch.bfloat16 if gpu_native_bf16 else torch.float16
    if kind == "mps":  # untested: bf16 needs macOS 14 and fp16 overflows in some models
        return torch.float32
    return torch.bfloat16 if cpu_fast_bf16 else torch.float32


def resolve_dtype(name: str, device: str | None = None) -> torch.dtype:
    """Map a params.yaml dtype name to torch; `auto` = the fastest precision the hardware
    runs natively: bf16 on Ampere+ GPUs, fp16 on older GPUs, bf16 on CPUs with AMX or
    AVX512-BF16, else fp32. `device` is where the model will run (None: CUDA when
    present, else the CPU).
    """
    if name == "auto":
        kind = device.partition(":")[0] if device else ("cuda" if torch.cuda.is_available()
                                                        else "cpu")
        native = kind == "cuda" and cuda_native_bf16(device or "cuda")
        return auto_dtype(kind, native, kind == "cpu" and cpu_has_fast_bf16())
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use auto, {', '.join(DTYPES)}") from None


def is_adapter_dir(path: str | Path) -> bool:
    """A PEFT adapter folder (as opposed to a full model folder)."""
    return (Path(path) / "adapter_config.json").is_file()


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer with a pad token and left padding (for batched generation)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_system(base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
                device: str = "cpu", merge: bool = False) -> tuple[Any, Any]:
    """Load (model, tokenizer) for inference: a base model, or base + PEFT adapter.

    `adapter` may be a PEFT adapter folder, a full model folder (e.g. a full
    fine-tune, or the base model itself for the untuned row), or None. merge=True
    folds a LoRA adapter into the base weights in memory (PEFT merge_and_unload):
    a plain model that skips the adapter's extra matmuls at every step (measured:
    2.82 vs 2.48 items/s on a 2-core CPU, identical outputs); the adapter folder is
    only read, never written.
    """
    from transformers import AutoModelForCausalLM

    if adapter is not None and not is_adapter_dir(adapter):
        model_dir, adapter = Path(adapter), None
    else:
        model_dir = Path(base)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype,
                                                      trust_remote_code=False)
    tokenizer_dir = adapter if adapter and (Path(adapter) / "tokenizer_config.json").is_file() \
        else model_dir
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device)  # before merging: on a GPU the merge matmuls run there
    if merge and adapter is not None:
        model = model.merge_and_unload()
    model.eval()
    return model, load_tokenizer(tokenizer_dir)
