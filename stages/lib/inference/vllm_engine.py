"""vLLM as a generation engine: the optional GPU path (`pip install -e '.[gpu]'`).

vLLM runs on CUDA only and is not part of the CPU install, so it is imported lazily
here and `require` turns "cannot run" into one clear message. Generation gets the
token ids, per-item budgets and EOS ids stages.lib.inference.answers computes for every
engine, decodes greedily (temperature 0) and returns the raw new tokens, which
stages.lib.inference.answers decodes and cleans exactly as it does the other engines' tokens.

A LoRA adapter is served by vLLM's own LoRA support (its kernels run in fp16/bf16
only), so nothing is merged or written to disk: merging would save the whole merged
model (13.5 GB for a 7B base in bf16) once per predict stage. A full model folder
(a full fine-tune, the base itself) is loaded as it is. vLLM takes its GPU from
CUDA_VISIBLE_DEVICES, so `cuda:N` is applied there before vLLM starts (pin_device).

Written against vLLM 0.33's API (LLM, SamplingParams, TokensPrompt, LoRARequest) and
not run by the test suite, which has neither a GPU nor vllm: only `require`, the
errors raised before vLLM starts and the engine choice (stages.lib.inference.engines) are tested
there. stages.lib.inference.engines.VllmEngine is this module's face to predict and edit.
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stages.lib.inference.answers import decode_output, prepare

# The max_lora_rank values vLLM accepts (vllm.config.lora.MaxLoRARanks in 0.33).
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# What vLLM's LoRA kernels (punica / triton) accept.
LORA_DTYPES = (torch.float16, torch.bfloat16)


def installed() -> bool:
    """vllm importable here (without importing it: that initialises CUDA)."""
    return importlib.util.find_spec("vllm") is not None


def require(device: str, is_installed: bool | None = None) -> None:
    """ValueError saying why the vllm engine cannot run on `device`, if it cannot.
    `is_installed`: None = whether vllm is importable here (`plan` passes its assumption
    for the machine it plans for)."""
    if not (installed() if is_installed is None else is_installed):
        raise ValueError("engine 'vllm' needs the vllm package, which is not installed: "
                         "pip install -e '.[gpu]' on a CUDA machine (docs/gpu.md), "
                         "or use engine auto")
    if not device.startswith("cuda"):
        raise ValueError(f"engine 'vllm' needs a CUDA device, but the device is {device!r}; "
                         "use engine auto, continuous or hf")


@dataclass
class VllmModel:
    """A vLLM engine with what generation needs beside it."""

    llm: Any
    lora: Any  # vllm LoRARequest for an adapter, else None
    generation_config: Any  # transformers GenerationConfig: EOS ids as the other engines


def lora_rank_bound(adapter: Path) -> int:
    """The smallest max_lora_rank vLLM accepts that covers the adapter's ranks."""
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    rank = max([int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())])
    for bound in LORA_RANKS:
        if bound >= rank:
            return bound
    raise ValueError(f"{adapter}: LoRA rank {rank} is above vLLM's maximum {LORA_RANKS[-1]}; "
                     "use engine continuous or hf, which merge it in memory")


def _generation_config(model_dir: Path) -> Any:
    from transformers import AutoConfig, GenerationConfig

    try:
        return GenerationConfig.from_pretrained(model_dir)
    except OSError:  # no generation_config.json: transformers derives it from config.json
        return GenerationConfig.from_model_config(
            AutoConfig.from_pretrained(model_dir, trust_remote_code=False))


def pin_device(device: str) -> None:
    """Make `cuda:N` the GPU vLLM uses: vLLM has no device argument and runs on the first
    GPU that CUDA_VISIBLE_DEVICES shows, in engine processes that read it when they start.
    N counts the GPUs visible now, as torch's `cuda:N` does."""
    index = device.partition(":")[2]
    if not index:
        return
    if torch.cuda.is_initialized():
        raise ValueError(f"engine 'vllm' on {device}: CUDA is already initialised in this "
                         f"process; set CUDA_VISIBLE_DEVICES={index} and device cuda instead")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    if int(index) >= len(ids):
        raise ValueError(f"engine 'vllm' on {device}: only {len(ids)} GPU(s) visible")
    os.environ["CUDA_VISIBLE_DEVICES"] = ids[int(index)]


def check_lora_dtype(adapter: str | Path | None, dtype: torch.dtype) -> None:
    """vLLM's LoRA kernels fail inside the engine in float32: say so before it starts."""
    from stages.lib.model.models import is_adapter_dir

    if adapter is not None and is_adapter_dir(adapter) and dtype not in LORA_DTYPES:
        raise ValueError(f"engine 'vllm' serves LoRA adapters in float16 or bfloat16 only, "
                         f"not {str(dtype).removeprefix('torch.')}: set dtype auto (or "
                         f"bfloat16 / float16), or use engine continuous")


def load(base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
         device: str = "cuda") -> tuple[VllmModel, Any]:
    """(VllmModel, tokenizer) for base (+ adapter), as stages.lib.model.models.load_system
    reads them: `adapter` is a PEFT adapter folder, a full model folder, or None."""
    from stages.lib.model.models import is_adapter_dir, load_tokenizer

    check_lora_dtype(adapter, dtype)
    pin_device(device)
    from vllm import LLM

    if adapter is not None and not is_adapter_dir(adapter):
        model_dir, adapter = Path(adapter), None
    else:
        model_dir = Path(base)
    has_tokenizer = adapter is not None and (Path(adapter) / "tokenizer_config.json").is_file()
    tokenizer_dir = Path(adapter) if adapter is not None and has_tokenizer else model_dir
    lora, options = None, {}
    if adapter is not None:
        from vllm.lora.request import LoRARequest

        options = {"enable_lora": True, "max_lora_rank": lora_rank_bound(Path(adapter))}
        lora = LoRARequest("adapter", 1, str(adapter))
    llm = LLM(model=str(model_dir), tokenizer=str(tokenizer_dir),
              dtype=str(dtype).removeprefix("torch."), seed=0, trust_remote_code=False,
              **options)
    return VllmModel(llm, lora, _generation_config(model_dir)), load_tokenizer(tokenizer_dir)


def generate_tokens(model: VllmModel, encoded: list[list[int]], limits: list[int],
                    eos_ids: list[int], progress: bool) -> list[list[int]]:
    """Greedy new tokens per prompt (same order), each within its own budget."""
    from vllm import SamplingParams, TokensPrompt

    # Token ids in, token ids out: vLLM neither re-tokenizes the prompts nor detokenizes
    # (generation decodes and cleans the tokens itself), so prompts and cleaning match
    # the other engines exactly. Template echo is cut afterwards, not used as a stop.
    params = [SamplingParams(temperature=0.0, max_tokens=limit, stop_token_ids=list(eos_ids),
                             detokenize=False) for limit in limits]
    prompts = [TokensPrompt(prompt_token_ids=list(ids)) for ids in encoded]
    results = model.llm.generate(prompts, params, use_tqdm=progress, lora_request=model.lora)
    return [list(result.outputs[0].token_ids) for result in results]


@torch.inference_mode()
def generate(model: VllmModel, tokenizer: Any, prompts: list[str], max_new_tokens: list[int],
             batch_size: int, num_beams: int, progress: bool) -> list[str]:
    """Cleaned greedy continuations of `prompts` (same order). vLLM decodes the token ids
    and budgets stages.lib.inference.answers prepares for every engine and sizes its own batches
    (`batch_size` is only checked); its raw new tokens are decoded and cleaned there, as
    the other engines' are."""
    encoded, eos_ids = prepare(model, tokenizer, prompts, max_new_tokens, batch_size)
    if num_beams != 1:
        raise ValueError("the vllm engine decodes greedily only (num_beams 1)")
    tokens = generate_tokens(model, encoded, max_new_tokens, eos_ids, progress)
    return [decode_output(tokenizer, row, limit, set(eos_ids))
            for row, limit in zip(tokens, max_new_tokens, strict=True)]
