"""A per-device memory estimate for training, from the base model's config alone.

The parameter count is exact: the model is built from its config.json on torch's meta
device (shapes, no storage), so tied weights count once and every architecture that
transformers knows is counted as it will be loaded. LoRA's trainable parameters come
from the same shapes: r x (rows + columns) for every 2-D weight whose module PEFT would
wrap (name == target or name ending in "." + target).

What a device holds (bytes; P = all parameters, T = trainable ones, b = compute bytes):

    weights      LoRA: P x b (the frozen base is loaded in the compute dtype) + T x 4;
                 full: P x 4 (fp32 master weights) + P x 2 when computing in 16-bit
                 without checkpointing (autocast's 16-bit copies, kept for backward)
    gradients    T x 4 (fp32)
    optimizer    T x 8 (AdamW's two fp32 moments): full fine-tuning = 16 bytes/param
    activations  per layer s x B x h x (34 + 5 a s / h) bytes in 16-bit (Korthikanti
                 et al. 2022, "Reducing Activation Recomputation in Large Transformer
                 Models", Table 2), x b/2; the 5 a s^2 B term is what eager attention
                 stores, so this is an upper bound under SDPA / flash attention, and so
                 is using it for LoRA (frozen layers need not keep their inputs). With
                 gradient checkpointing: every layer's input (s B h x b) plus one layer
                 recomputed in full.
    logits       s x B x vocab x 8 (fp32 logits for the loss and their gradient)
    overhead     1 GiB on a GPU (CUDA context, cuBLAS workspace, allocator slack)

s = max_length (the cutoff: the longest a batch can be), B = per-device batch,
h = hidden size, a = attention heads. FSDP shards weights, gradients and optimizer
states over the world size; DDP keeps a full replica on every GPU.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stages.lib.core.io import InputError

GIB = 1024 ** 3
CUDA_OVERHEAD = 1 * GIB


@dataclass(frozen=True)
class ModelShape:
    source: str
    model_type: str
    params: int                                      # all parameters, tied ones once
    layers: int
    hidden: int
    heads: int
    vocab: int
    matrices: tuple[tuple[str, int, int], ...]      # (module name, rows, cols) of 2-D weights


@dataclass(frozen=True)
class MemoryEstimate:
    trainable: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    overhead: int

    @property
    def total(self) -> int:
        return (self.weights + self.gradients + self.optimizer + self.activations
                + self.logits + self.overhead)


def read_model_shape(path: Path) -> ModelShape:
    """Shapes of the model that config.json at PATH describes (built on the meta device)."""
    import torch
    from transformers import CONFIG_MAPPING, AutoConfig, AutoModelForCausalLM

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: base model config not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_type"), str):
        raise InputError(f"{path}: not a transformers config.json (no model_type)")
    if data["model_type"] not in CONFIG_MAPPING:
        raise InputError(f"{path}: model_type {data['model_type']!r} is unknown to this "
                         f"transformers")
    settings = {k: v for k, v in data.items() if k != "model_type"}
    try:
        config = AutoConfig.for_model(data["model_type"], **settings)
        with torch.device("meta"):  # shapes only: a 7B model costs no memory here
            model = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot build a causal LM from this config: {exc}") from None
    text = config.get_text_config()
    dims = {key: getattr(text, key, None) for key in
            ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size")}
    missing = [key for key, value in dims.items() if not isinstance(value, int)]
    if missing:
        raise InputError(f"{path}: config lacks {', '.join(missing)}")
    matrices = tuple((name, *module.weight.shape) for name, module in model.named_modules()
                     if isinstance(getattr(module, "weight", None), torch.nn.Parameter)
                     and module.weight.dim() == 2)
    return ModelShape(str(path), data["model_type"], sum(p.numel() for p in model.parameters()),
                      dims["num_hidden_layers"], dims["hidden_size"],
                      dims["num_attention_heads"], dims["vocab_size"], matrices)


def lora_trainable(shape: ModelShape, r: int, targets: list[str]) -> tuple[int, list[str]]:
    """(LoRA parameters for rank r on the target modules, targets that match nothing)."""
    total, matched = 0, set()
    for name, rows, cols in shape.matrices:
        hits = [t for t in targets if name == t or name.endswith("." + t)]
        if hits:
            matched.update(hits)
            total += r * (rows + cols)  # A: r x cols, B: rows x r
    return total, [t for t in targets if t not in matched]


def activation_bytes(shape: ModelShape, batch: int, seq: int, compute_bytes: int,
                     checkpointing: bool) -> int:
    """Activations kept for backward over all layers (see the module docstring)."""
    sbh = seq * batch * shape.hidden
    full_layer = sbh * (34 + 5 * shape.heads * seq / shape.hidden) * compute_bytes / 2
    if checkpointing:
        return int(shape.layers * sbh * compute_bytes + full_layer)
    return int(shape.layers * full_layer)


def estimate_memory(shape: ModelShape, *, method: str, trainable: int, compute_bytes: int,
                    batch: int, seq: int, checkpointing: bool, fsdp_world: int,
                    cuda: bool) -> MemoryEstimate:
    """Bytes one device holds while training (fsdp_world = 1 when nothing is sharded)."""
    if method == "full":
        trainable = shape.params
        autocast_copies = compute_bytes == 2 and not checkpointing and fsdp_world == 1
        weights = shape.params * 4 + (shape.params * 2 if autocast_copies else 0)
    else:
        weights = shape.params * compute_bytes + trainable * 4
    return MemoryEstimate(
        trainable=trainable,
        weights=weights // fsdp_world,
        gradients=trainable * 4 // fsdp_world,
        optimizer=trainable * 8 // fsdp_world,
        activations=activation_bytes(shape, batch, seq, compute_bytes, checkpointing),
        logits=seq * batch * shape.vocab * 8,
        overhead=CUDA_OVERHEAD if cuda else 0,
    )
