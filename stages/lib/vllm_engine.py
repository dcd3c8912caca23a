"""vLLM as a generation engine: the optional GPU path (`pip install -e '.[gpu]'`).

vLLM runs on CUDA only and is not part of the CPU install, so it is imported lazily
here and `require` turns "cannot run" into one clear message. Generation gets the
token ids, per-item budgets and EOS ids stages.lib.generation computes for every
engine, decodes greedily (temperature 0) and returns the raw new tokens, which
generation decodes and cleans exactly as it does the other engines' tokens.

A LoRA adapter is merged into the base weights and the merged model saved to a
temporary folder for vLLM to load (the default, merge=True: works for any adapter
whose merged model vLLM supports), or served by vLLM's own LoRA support (merge=False).

Written against vLLM 0.33's API (LLM, SamplingParams, TokensPrompt, LoRARequest) and
not run by the test suite, which has neither a GPU nor vllm: only `require` and the
engine choice (stages.lib.engines) are tested there.
"""
from __future__ import annotations

import importlib.util
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# The max_lora_rank values vLLM accepts (vllm.config.lora.MaxLoRARanks in 0.33).
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def installed() -> bool:
    """vllm importable here (without importing it: that initialises CUDA)."""
    return importlib.util.find_spec("vllm") is not None


def require(device: str) -> None:
    """ValueError saying why the vllm engine cannot run on `device`, if it cannot."""
    if not installed():
        raise ValueError("engine 'vllm' needs the vllm package, which is not installed: "
                         "pip install -e '.[gpu]' on a CUDA machine (README, 'GPU'), "
                         "or use engine auto")
    if not device.startswith("cuda"):
        raise ValueError(f"engine 'vllm' needs a CUDA device, but the device is {device!r}; "
                         "use engine auto, continuous or hf")


@dataclass
class VllmModel:
    """A vLLM engine with what generation needs beside it."""

    llm: Any
    lora: Any  # vllm LoRARequest for an unmerged adapter, else None
    generation_config: Any  # transformers GenerationConfig: EOS ids as the other engines
    # The merged weights vLLM reads; the folder is removed when the model is dropped.
    workdir: tempfile.TemporaryDirectory[str] | None = None


def lora_rank_bound(adapter: Path) -> int:
    """The smallest max_lora_rank vLLM accepts that covers the adapter's ranks."""
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    rank = max([int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())])
    for bound in LORA_RANKS:
        if bound >= rank:
            return bound
    raise ValueError(f"{adapter}: LoRA rank {rank} is above vLLM's maximum {LORA_RANKS[-1]}; "
                     "merge the adapter instead (merge_lora true)")


def _generation_config(model_dir: Path) -> Any:
    from transformers import AutoConfig, GenerationConfig

    try:
        return GenerationConfig.from_pretrained(model_dir)
    except OSError:  # no generation_config.json: transformers derives it from config.json
        return GenerationConfig.from_model_config(AutoConfig.from_pretrained(model_dir))


def load(base: str | Path, adapter: str | Path | None, dtype: torch.dtype,
         merge: bool = True) -> tuple[VllmModel, Any]:
    """(VllmModel, tokenizer) for base (+ adapter), as stages.lib.models.load_system
    reads them: `adapter` is a PEFT adapter folder, a full model folder, or None."""
    from vllm import LLM

    from stages.lib.models import is_adapter_dir, load_system, load_tokenizer

    if adapter is not None and not is_adapter_dir(adapter):
        model_dir, adapter = Path(adapter), None
    else:
        model_dir = Path(base)
    has_tokenizer = adapter is not None and (Path(adapter) / "tokenizer_config.json").is_file()
    tokenizer_dir = Path(adapter) if adapter is not None and has_tokenizer else model_dir
    workdir, lora, options = None, None, {}
    if adapter is not None and merge:
        # Merged on the CPU, so the GPU is free for vLLM, which claims most of its memory.
        workdir = tempfile.TemporaryDirectory(prefix="writing-alpaca-merged-")
        merged, tokenizer = load_system(base, adapter, dtype, device="cpu", merge=True)
        merged.save_pretrained(workdir.name)
        tokenizer.save_pretrained(workdir.name)
        del merged
        model_dir = tokenizer_dir = Path(workdir.name)
    elif adapter is not None:
        from vllm.lora.request import LoRARequest

        options = {"enable_lora": True, "max_lora_rank": lora_rank_bound(Path(adapter))}
        lora = LoRARequest("adapter", 1, str(adapter))
    llm = LLM(model=str(model_dir), tokenizer=str(tokenizer_dir),
              dtype=str(dtype).removeprefix("torch."), seed=0, **options)
    model = VllmModel(llm, lora, _generation_config(model_dir), workdir)
    return model, load_tokenizer(tokenizer_dir)


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
