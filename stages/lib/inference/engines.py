"""How a system generates: device, dtype, engine, and whether its LoRA is merged.

Every generation engine sits behind one protocol, `Engine` (load a system, generate
cleaned outputs with it), and is chosen in one place, `resolve_engine`, which checks the
name against ENGINE_NAMES and resolves `auto`. predict and edit reach it through
`choose` (which adds the device and dtype), `plan` calls it for the machine it plans
for, and the benches use `choose` too, so no other module picks an engine by its name:

    continuous  this project's continuous batching, greedy or beam search (the same
                outputs as hf's beam search, stages.lib.inference.beam_search); any device (the
                CPU default)
    hf          transformers' generate() on static length-sorted batches (the reference)
    vllm        vLLM, on CUDA where the optional `gpu` extra is installed
    auto        vllm on a CUDA device when vllm is importable, decoding is greedy, the
                dtype is 16-bit and there are enough items to repay vLLM's start-up
                (VLLM_MIN_ITEMS), else continuous

torch, transformers and vLLM are imported by the calls that use them, not here: the CLI
modules read ENGINE_NAMES for their --engine option, and `--help` must stay fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from stages.lib.inference.decoding import Decoding

# vLLM's start-up (weights, KV-cache profiling, CUDA-graph capture) takes tens of seconds,
# in which the continuous engine on the same GPU generates a few hundred items: `auto`
# starts vLLM only for a workload at least this large (a predict stage, not an `edit`).
VLLM_MIN_ITEMS = 500
AUTO = "auto"


class Engine(Protocol):
    """A concrete generation engine. `load` gives the (model, tokenizer) that its
    `generate` takes. Every engine cleans its tokens with stages.lib.inference.generation's
    decode_output, so engines differ in speed (and float rounding), not in cleaning."""

    @property
    def name(self) -> str: ...

    @property
    def transformers_model(self) -> bool:
        """`load` gives a transformers model in torch, so its LoRA can be merged in
        memory and the model saved (edit --merge); vLLM keeps its own weights instead."""
        ...

    def load(self, base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
             device: str, merge: bool) -> tuple[Any, Any]: ...

    def generate(self, model: Any, tokenizer: Any, prompts: list[str],
                 max_new_tokens: list[int], decoding: Decoding, batch_size: int,
                 sources: list[str] | None = None, progress: bool = True) -> list[str]:
        """Cleaned continuations of `prompts` (same order), each within its own token
        budget, decoded as `decoding` says. With its copy margin on, `sources` holds
        each prompt's input text: a beam candidate that edits it wins over a best
        candidate that copies it when it scores within the margin
        (stages.lib.inference.decoding.prefer_edit)."""
        ...


@dataclass(frozen=True)
class TorchEngine:
    """continuous and hf: a transformers model on any torch device, generated from by
    stages.lib.inference.generation's loops."""

    name: str
    continuous: bool  # False: transformers' generate() on static length-sorted batches
    transformers_model: bool = True

    def load(self, base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
             device: str, merge: bool) -> tuple[Any, Any]:
        from stages.lib.model.models import load_system

        return load_system(base, adapter, dtype, device, merge=merge)

    def generate(self, model: Any, tokenizer: Any, prompts: list[str],
                 max_new_tokens: list[int], decoding: Decoding, batch_size: int,
                 sources: list[str] | None = None, progress: bool = True) -> list[str]:
        from stages.lib.inference.generation import torch_generate

        # continuous: stages.lib.inference.generation's greedy loop or stages.lib.inference.beam_search
        return torch_generate(model, tokenizer, prompts, max_new_tokens, decoding,
                              batch_size, sources, progress, continuous=self.continuous)


@dataclass(frozen=True)
class VllmEngine:
    """vLLM (stages.lib.inference.vllm_engine): CUDA only, greedy only (so no copy_margin, which
    needs beams); a LoRA adapter is served unmerged by vLLM's own kernels."""

    name: str = "vllm"
    transformers_model: bool = False

    def load(self, base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
             device: str, merge: bool) -> tuple[Any, Any]:
        from stages.lib.inference import vllm_engine

        return vllm_engine.load(base, adapter, dtype, device)

    def generate(self, model: Any, tokenizer: Any, prompts: list[str],
                 max_new_tokens: list[int], decoding: Decoding, batch_size: int,
                 sources: list[str] | None = None, progress: bool = True) -> list[str]:
        from stages.lib.inference import vllm_engine

        if decoding.margin:  # resolve_engine already refuses it, through num_beams > 1
            raise ValueError("engine 'vllm' decodes greedily only: copy_margin needs "
                             "beam search (engine continuous or hf)")
        return vllm_engine.generate(model, tokenizer, prompts, max_new_tokens, batch_size,
                                    decoding.num_beams, progress)


CONTINUOUS: Engine = TorchEngine("continuous", continuous=True)
HF: Engine = TorchEngine("hf", continuous=False)
VLLM: Engine = VllmEngine()
_CONCRETE: dict[str, Engine] = {engine.name: engine for engine in (CONTINUOUS, HF, VLLM)}
# Every valid engine setting (predict.engine, edit --engine, predict --engine).
ENGINE_NAMES: tuple[str, ...] = (AUTO, *_CONCRETE)


def _check_name(name: str) -> None:
    """The one check of an engine name, so every caller reports it alike."""
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {name!r}; use {', '.join(ENGINE_NAMES)}")


def vllm_worth_it(device: str, num_beams: int, dtype: torch.dtype, items: int | None) -> bool:
    """`auto`'s rule for vLLM (where installed): CUDA, greedy, 16-bit (its LoRA kernels),
    and enough items to repay its start-up (None: unknown, assumed large)."""
    from stages.lib.inference.vllm_engine import LORA_DTYPES

    return (device.startswith("cuda") and num_beams == 1 and dtype in LORA_DTYPES
            and (items is None or items >= VLLM_MIN_ITEMS))


def resolve_engine(name: str, device: str, num_beams: int = 1,
                   dtype: torch.dtype | None = None, items: int | None = None,
                   vllm_installed: bool | None = None) -> Engine:
    """The engine for setting `name` on `device`; ValueError when it cannot run there.

    `dtype`: the resolved one (None: bfloat16). `items`: how many prompts will be
    generated (None: unknown, assumed large). `vllm_installed`: None = whether vllm is
    importable here; `plan`, which plans for another machine, passes what it assumes.
    """
    from stages.lib.inference import vllm_engine

    _check_name(name)
    if name == AUTO:
        import torch

        worth_it = vllm_worth_it(device, num_beams,
                                 torch.bfloat16 if dtype is None else dtype, items)
        if worth_it and (vllm_engine.installed() if vllm_installed is None
                         else vllm_installed):
            return VLLM
        return CONTINUOUS
    engine = _CONCRETE[name]
    if engine is VLLM:
        vllm_engine.require(device, vllm_installed)
        if num_beams != 1:
            raise ValueError("engine 'vllm' decodes greedily only: set num_beams 1")
    return engine


def engine_named(name: str) -> Engine:
    """The concrete engine called `name`, for a model already loaded for it (`auto` is
    resolved by resolve_engine, which needs the device and the workload)."""
    _check_name(name)
    if name == AUTO:
        raise ValueError("engine 'auto' depends on the device and the workload: "
                         "resolve it with stages.lib.inference.engines.choose")
    return _CONCRETE[name]


@dataclass(frozen=True)
class Inference:
    """A resolved choice: a torch device string, a torch dtype, an engine, and whether a
    LoRA adapter is merged into the weights in memory."""

    device: str
    dtype: torch.dtype
    engine: Engine
    merge: bool

    def describe(self, lora: bool) -> str:
        """One line for the logs, e.g. `device cpu, dtype float32, engine continuous,
        merged LoRA`."""
        weights = ("merged LoRA" if self.merge else "unmerged LoRA") if lora else "no LoRA"
        return (f"device {self.device}, dtype {str(self.dtype).removeprefix('torch.')}, "
                f"engine {self.engine.name}, {weights}")


class SettingError(ValueError):
    """A device, dtype or engine setting that cannot be used here; `key` names it, so
    each caller can point at its own source (a params.yaml key, a CLI option)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def choose(device: str, dtype: str, engine: str, merge: bool, num_beams: int,
           items: int | None = None) -> Inference:
    """Resolve setting names to an Inference (SettingError naming the bad setting)."""
    from stages.lib.model.models import check_cuda_kernels, resolve_device, resolve_dtype

    key = "device"  # the setting being resolved, for the error
    try:
        resolved_device = resolve_device(device)
        key = "dtype"
        cuda = resolved_device.startswith("cuda")
        # `auto` on a GPU asks its compute capability, which starts CUDA in this process;
        # vLLM is told its GPU (cuda:N) by CUDA_VISIBLE_DEVICES before CUDA starts. So on
        # CUDA the engine is chosen first (auto's dtype is 16-bit there, whichever), vLLM's
        # GPU pinned, and only then the capability asked.
        resolved_dtype = None if dtype == "auto" and cuda else resolve_dtype(dtype, resolved_device)
        key = "engine"
        chosen = resolve_engine(engine, resolved_device, num_beams, resolved_dtype, items)
        if chosen is VLLM and ":" in resolved_device:
            from stages.lib.inference.vllm_engine import pin_device

            pin_device(resolved_device)
            resolved_device = "cuda"  # the one GPU this process now sees
        key = "device"
        if cuda:  # before any model loads, not at its first kernel
            check_cuda_kernels(resolved_device)
        key = "dtype"
        if resolved_dtype is None:
            resolved_dtype = resolve_dtype(dtype, resolved_device)
    except ValueError as exc:
        raise SettingError(key, str(exc)) from None
    # vLLM serves a LoRA adapter with its own kernels: nothing is merged or written
    return Inference(resolved_device, resolved_dtype, chosen,
                     merge and chosen.transformers_model)


def load(inference: Inference, base: str | Path, adapter: str | Path | None
         ) -> tuple[Any, Any]:
    """(model, tokenizer) for inference.engine.generate."""
    return inference.engine.load(base, adapter, inference.dtype, inference.device,
                                 inference.merge)
