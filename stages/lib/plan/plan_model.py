"""The plan of one training run and of the predict systems, for a machine that need
not be this one (`writing-alpaca plan`, stages/plan.py).

Precision follows the target machine, by the rule of stages.lib.model.models.resolve_dtype
(which can only ask the machine it runs on): `auto` = bf16 on GPUs of compute
capability >= 8.0, fp16 on older GPUs, and on the CPU bf16 only with AMX/AVX512-BF16
(this machine's CPU decides, the only one plan can see), else fp32.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError
from stages.lib.data.benchmark_info import in_paper_order, read_index
from stages.lib.data.mixture_size import MixtureSize
from stages.lib.inference.predict_config import parse_predict
from stages.lib.inference.systems import read_systems
from stages.lib.plan.memory_estimate import GIB, ModelShape, estimate_memory, lora_trainable
from stages.lib.training.train_config import TrainParams, accumulation_steps, world_size

SIXTEEN_BIT = ("bfloat16", "float16")


@dataclass(frozen=True)
class Machine:
    gpus: int                      # 0 = CPU only
    gpu_memory_gib: float | None
    gpu_capability: float
    gpu_driver: str | None = None  # NVIDIA driver version, e.g. 535.104.05 (None: not said)

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"

    @property
    def capability(self) -> tuple[int, int]:
        """The compute capability as torch reports it: 8.6 -> (8, 6)."""
        return int(self.gpu_capability), round(self.gpu_capability * 10) % 10


@dataclass
class Problem:
    level: str                     # ERROR (the run would stop) | WARNING
    message: str
    subjects: list[str] = field(default_factory=list)   # the runs / systems it concerns


@dataclass
class RunPlan:
    name: str
    origin: str                    # build (build.runs), or grid / ladder (<section>.runs)
    mixture: str
    base: str                      # models/<base>
    method: str
    steps: int
    per_device_batch: int
    world_size: int
    accumulation: int
    rows_per_step: int             # = train.global_batch_size (packed blocks when packing)
    packing: bool
    max_length: int
    units_per_epoch: int | None    # mixture rows, or packed blocks
    epochs: float | None
    epochs_kind: str               # rows | blocks (~, from tokens) | at least | unknown
    device: str
    dtype: str
    launcher: str
    memory: dict[str, Any] | None  # bytes per device (MemoryEstimate + total, fits)


@dataclass
class SystemPlan:
    name: str
    adapter: str
    base: str                      # models/<base>
    items: int
    items_per_dataset: dict[str, int]
    device: str
    dtype: str
    engine: str


def add_problem(problems: list[Problem], level: str, message: str, subject: str) -> None:
    """One line per distinct problem, naming every run or system it concerns."""
    for problem in problems:
        if (problem.level, problem.message) == (level, message):
            problem.subjects.append(subject)
            return
    problems.append(Problem(level, message, [subject]))


def planned_dtype(setting: str, device: str, machine: Machine) -> str:
    """The dtype name `setting` resolves to on MACHINE's `device` (cpu | cuda...), by the
    rule the stages use (stages.lib.model.models.auto_dtype)."""
    if setting != "auto":
        return setting
    from stages.lib.model.models import auto_dtype, cpu_has_fast_bf16, native_bf16

    kind = device.partition(":")[0]
    dtype = auto_dtype(kind, native_bf16(machine.capability),
                       kind == "cpu" and cpu_has_fast_bf16())
    return str(dtype).removeprefix("torch.")


def check_dtype(dtype: str, device: str, machine: Machine, key: str,
                problems: list[Problem], subject: str) -> None:
    from stages.lib.model.models import native_bf16

    if device.startswith("cuda") and dtype == "bfloat16" and not native_bf16(machine.capability):
        add_problem(problems, "WARNING", f"{key} bfloat16 on a GPU of compute capability "
                    f"{machine.gpu_capability}: no native bf16 (emulated, slow; vLLM refuses "
                    f"it): set auto or float16", subject)
    if device == "cpu" and dtype == "float16":
        add_problem(problems, "WARNING", f"{key} float16 on the CPU: fp16 is a GPU "
                    f"precision, set float32 or auto", subject)


def check_torch_build(machine: Machine, problems: list[Problem]) -> None:
    """Whether torch will have kernels for MACHINE's GPUs: this torch's own kernel list
    when it is a CUDA build (plan run on the machine itself), else the default GPU
    install's (PyPI's CUDA 13 wheels: Turing and newer). The same verdict train, predict
    and edit give on the machine (stages.lib.model.models.check_cuda_kernels)."""
    import torch

    from stages.lib.model.models import CUDA13_MIN_CAPABILITY, OLD_GPU_TORCH, has_kernels_for

    if not machine.gpus:
        return
    capability = machine.gpu_capability
    arch_list = torch.cuda.get_arch_list()
    if arch_list:
        if not has_kernels_for(machine.capability, arch_list):
            add_problem(problems, "ERROR", f"torch {torch.__version__} here has no kernels "
                        f"for compute capability {capability} (built for "
                        f"{', '.join(arch_list)}): install {OLD_GPU_TORCH}", "machine")
    elif capability < CUDA13_MIN_CAPABILITY:
        add_problem(problems, "ERROR", f"a GPU of compute capability {capability}: PyPI's "
                    f"CUDA 13 torch wheels (the default install) have no kernels for it; "
                    f"install {OLD_GPU_TORCH}", "machine")


# The oldest Linux driver each CUDA major version runs on (NVIDIA's CUDA compatibility
# table: minor version compatibility within a major version)
MIN_DRIVER = {13: (580, 65, 6), 12: (525, 60, 13), 11: (450, 80, 2)}
DEFAULT_GPU_CUDA = "13.0"  # PyPI's default torch 2.13/2.14 wheels (and vLLM's torch pin)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def check_driver(machine: Machine, problems: list[Problem]) -> None:
    """Whether MACHINE's driver runs the CUDA of the torch it will use: this torch's when
    it is a CUDA build, else the default GPU install's (CUDA 13). On an older driver
    torch sees no GPU, so every stage would stop or fall back to the CPU."""
    import torch

    from stages.lib.model.models import OLD_GPU_TORCH

    if not machine.gpus or machine.gpu_driver is None:
        return
    cuda = torch.version.cuda or DEFAULT_GPU_CUDA
    needed = MIN_DRIVER.get(_version(cuda)[0])
    if needed is None or _version(machine.gpu_driver) >= needed:
        return
    shown = ".".join(str(n) for n in needed)
    whose = "here" if torch.version.cuda else "a GPU install gets"
    way_out = (f"update the driver, or (driver >= 525.60.13) install {OLD_GPU_TORCH}; the "
               "GPU extra (vLLM) pins a CUDA 13 torch, so vLLM needs the newer driver"
               if _version(cuda)[0] >= 13 else "update the driver")
    add_problem(problems, "ERROR", f"driver {machine.gpu_driver} is older than CUDA {cuda}'s "
                f"minimum {shown} (the torch build {whose}): "
                f"torch would see no GPU; {way_out}", "machine")


def train_device(cfg: TrainParams, machine: Machine, problems: list[Problem],
                 subject: str) -> str:
    if cfg.device == "cuda" and machine.gpus == 0:
        add_problem(problems, "ERROR", "train.device cuda, but --gpus 0: train would stop",
                    subject)
    if cfg.device == "cpu" and machine.gpus:
        add_problem(problems, "WARNING", f"train.device cpu: the {machine.gpus} GPU(s) "
                    f"stay idle", subject)
    return machine.device if cfg.device == "auto" else cfg.device


def check_world(cfg: TrainParams, device: str, machine: Machine, problems: list[Problem],
                subject: str) -> None:
    """Launcher none = one process whatever the machine; ddp / fsdp = num_processes."""
    if device != "cuda":
        return
    gpus, world = machine.gpus, world_size(cfg)
    if cfg.launcher == "none" and gpus > 1:
        add_problem(problems, "WARNING", f"train.launcher none runs one process: only 1 of "
                    f"{gpus} GPUs is used (set train.launcher ddp or fsdp and "
                    f"train.num_processes {gpus})", subject)
    elif cfg.launcher != "none" and world > gpus:
        add_problem(problems, "ERROR", f"train.num_processes {world} > the {gpus} GPU(s): "
                    f"train would stop", subject)
    elif cfg.launcher != "none" and world < gpus:
        add_problem(problems, "WARNING", f"train.num_processes {world}: only {world} of "
                    f"{gpus} GPUs is used", subject)


def epochs_over(cfg: TrainParams, size: MixtureSize) -> tuple[int | None, float | None, str]:
    """(rows or blocks in one epoch, epochs = steps x rows per step / that, kind)."""
    seen = cfg.max_steps * cfg.global_batch_size
    if not size.rows:
        return None, None, "unknown"
    if not cfg.packing:
        return size.rows, seen / size.rows, "rows"
    if size.tokens and size.token_unit.startswith("tokens of"):
        # packed blocks of max_length tokens (BFD packing leaves little slack)
        blocks = math.ceil(size.tokens / cfg.max_length)
        return blocks, seen / blocks, "blocks"
    # a block holds at least one row, so there are at most as many blocks as rows
    return size.rows, seen / size.rows, "at least"


def run_memory(cfg: TrainParams, shape: ModelShape | None, dtype: str, device: str,
               machine: Machine, problems: list[Problem], subject: str
               ) -> dict[str, Any] | None:
    if shape is None:
        return None
    trainable = 0
    if cfg.method == "lora":
        trainable, unmatched = lora_trainable(shape, cfg.lora.r, cfg.lora.target_modules)
        if unmatched:
            add_problem(problems, "ERROR", f"train.lora.target_modules {unmatched} match no "
                        f"module of {shape.source}: PEFT would stop", subject)
    estimate = estimate_memory(
        shape, method=cfg.method, trainable=trainable,
        compute_bytes=4 if dtype == "float32" else 2, batch=cfg.per_device_batch_size,
        seq=cfg.max_length, checkpointing=cfg.gradient_checkpointing,
        fsdp_world=world_size(cfg) if cfg.launcher == "fsdp" else 1, cuda=device == "cuda")
    limit = machine.gpu_memory_gib
    fits = None if device != "cuda" or limit is None else estimate.total <= limit * GIB
    if fits is False:
        # fsdp first for full fine-tuning: its weights and optimizer states dominate
        smaller = "a smaller per_device_batch_size (accumulation keeps the global batch)"
        remedies = ["train.gradient_checkpointing", smaller, "launcher fsdp"]
        if cfg.method == "full":
            remedies.reverse()
        add_problem(problems, "WARNING", f"memory: ~{estimate.total / GIB:.1f} GiB per GPU > "
                    f"--gpu-memory {limit:g} GiB, it will not fit: try "
                    f"{', '.join(remedies[:-1])} or {remedies[-1]}", subject)
    return {**dataclasses.asdict(estimate), "total": estimate.total, "fits": fits}


def plan_run(name: str, mixture: str, base: str, cfg: TrainParams, size: MixtureSize,
             machine: Machine, shape: ModelShape | None, problems: list[Problem], origin: str
             ) -> RunPlan:
    """One training run on MACHINE: batch arithmetic, epochs, dtype, world, memory."""
    subject = f"run {name}"
    device = train_device(cfg, machine, problems, subject)
    dtype = planned_dtype(cfg.dtype, device, machine)
    check_dtype(dtype, device, machine, "train.dtype", problems, subject)
    check_world(cfg, device, machine, problems, subject)
    world = world_size(cfg)
    units, epochs, kind = epochs_over(cfg, size)
    return RunPlan(name, origin, mixture, base, cfg.method, cfg.max_steps, cfg.per_device_batch_size,
                   world, accumulation_steps(cfg, world), cfg.global_batch_size, cfg.packing,
                   cfg.max_length, units, epochs, kind, device, dtype, cfg.launcher,
                   run_memory(cfg, shape, dtype, device, machine, problems, subject))


def benchmark_sizes(params: dict[str, Any], benchmark: Path,
                    declared: dict[str, Any]) -> dict[str, int]:
    """Items per dataset: the built benchmark's index, else params benchmark.datasets
    (the stand-in's size where the official corpus is not declared in corpora.yaml)."""
    if (benchmark / "index.json").is_file():
        index = read_index(benchmark)
        return {name: int(index[name]["size"]) for name in in_paper_order(list(index))}
    sizes = {}
    for name, spec in ((params.get("benchmark") or {}).get("datasets") or {}).items():
        standin = spec.get("standin") if isinstance(spec, dict) else None
        use_standin = bool(declared) and standin and spec.get("corpus") not in declared
        chosen, where = (standin, f"{name}.standin") if use_standin else (spec, name)
        size = chosen.get("size") if isinstance(chosen, dict) else None
        if not isinstance(size, int) or size < 1:
            raise InputError(f"params.yaml: benchmark.datasets.{where}.size must be a "
                             f"positive integer, got {size!r}")
        sizes[name] = size
    return sizes


def predict_device(setting: str, machine: Machine, problems: list[Problem]) -> str:
    if setting == "auto":
        return machine.device
    if setting.startswith("cuda"):
        index = int(setting.partition(":")[2] or 0)
        if index >= machine.gpus:
            add_problem(problems, "ERROR", f"predict.device {setting}, but the machine has "
                        f"{machine.gpus} GPU(s): predict would stop", "predict")
    return setting


def planned_engine(setting: str, device: str, beams: int, dtype: str, items: int,
                   problems: list[Problem]) -> str:
    """The engine predict will run there, chosen by predict's own chooser
    (stages.lib.inference.engines.resolve_engine). plan cannot see that machine's packages: vLLM is
    assumed installed, and where that decides the engine the fallback is named too."""
    from stages.lib.inference import engines
    from stages.lib.model.models import DTYPES

    def resolve(vllm_installed: bool) -> engines.Engine:
        return engines.resolve_engine(setting, device, beams, DTYPES[dtype], items,
                                      vllm_installed=vllm_installed)

    try:
        engine = resolve(vllm_installed=True)
    except ValueError as exc:  # the message predict would stop with
        add_problem(problems, "ERROR", f"predict.engine: {exc}: predict would stop",
                    "predict")
        return setting
    if not engine.transformers_model and dtype not in SIXTEEN_BIT:
        # vLLM serves a LoRA adapter with its own kernels, which run in 16-bit only
        add_problem(problems, "WARNING", f"predict.engine {engine.name} with {dtype}: vLLM "
                    f"serves LoRA adapters in 16-bit only, LoRA systems would stop", "predict")
    try:
        fallback = resolve(vllm_installed=False)
    except ValueError:  # vllm set explicitly: predict there says so if it is missing
        return engine.name
    if fallback is engine:
        return engine.name
    return f"{engine.name} (if installed there, else {fallback.name})"


def plan_systems(params: dict[str, Any], experiments: Sequence[str], machine: Machine,
                 benchmark: Path, declared: dict[str, Any], problems: list[Problem]
                 ) -> list[SystemPlan]:
    """Every system of params `systems` (and those the `experiments` sections add, e.g.
    grid.systems): items, device, dtype, engine."""
    cfg = parse_predict(params)
    sizes = benchmark_sizes(params, benchmark, declared)
    per_dataset = {d: min(n, cfg.max_items) if cfg.max_items else n for d, n in sizes.items()}
    items = sum(per_dataset.values())
    device = predict_device(cfg.device, machine, problems)
    dtype = planned_dtype(cfg.dtype, device, machine)
    check_dtype(dtype, device, machine, "predict.dtype", problems, "predict")
    engine = planned_engine(cfg.engine, device, cfg.num_beams, dtype, items, problems)
    plans = []
    for name, system in read_systems(params, experiments).items():
        copy = system.is_copy  # no model: output = input
        beams = parse_predict(params, name).num_beams  # systems.<name>.predict may differ
        own = engine if beams == cfg.num_beams else planned_engine(
            cfg.engine, device, beams, dtype, items, problems)
        plans.append(SystemPlan(name, system.adapter, system.base, items, per_dataset,
                                "-" if copy else device, "-" if copy else dtype,
                                "none (copy baseline)" if copy else own))
    return plans
