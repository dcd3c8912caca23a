"""The KV-cache batch the continuous engines decode in (stages.lib.inference.generation's greedy
loop, stages.lib.inference.beam_search's beams): rows left-padded so every row's next token sits
in the last column, positions that count real tokens only, the prompt prefix all rows
share computed once, and batches that merge, drop rows or reorder them in place.

Batched and one-at-a-time decoding give the same tokens up to float rounding: padding
is masked and positions count real tokens, so a row computes what it would alone.
"""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Row:
    """One prompt being decoded: where its output goes, its budget, its tokens so far."""

    index: int
    limit: int
    tokens: list[int] = field(default_factory=list)


@dataclass
class Batch:
    """Rows decoded together. `cache` holds every row's tokens but the last generated one,
    right-aligned (left padding, masked out in `mask`); `last` is that pending token."""

    rows: list[Row]
    cache: Any
    mask: torch.Tensor   # (rows, cache length), 1 = real token
    last: torch.Tensor   # (rows,)

    def __len__(self) -> int:
        return len(self.rows)


class UnsupportedCache(Exception):
    """The model's KV cache is not a plain per-layer (keys, values) cache, or cannot be
    one for these prompts; the message says why."""


def cache_layers(cache: Any) -> list[Any]:
    from transformers.cache_utils import DynamicCache, DynamicLayer

    layers = getattr(cache, "layers", None)
    if type(cache) is not DynamicCache or not layers \
            or any(type(layer) is not DynamicLayer for layer in layers):
        raise UnsupportedCache(f"a {type(cache).__name__} with layers "
                               f"{sorted({type(layer).__name__ for layer in layers or []})}")
    return layers


def check_plain_cache(model: Any, longest: int) -> None:
    """Raise UnsupportedCache unless a plain cache (every token of every layer kept)
    decodes rows of up to `longest` tokens as the model's own cache does.

    A sliding-window layer (Gemma 3: five of every six, a 512-token window) keeps only
    its last window - 1 tokens, and its mask hides the older ones. A row that never
    outgrows the window loses nothing to either, so a plain layer computes the same.
    Cache columns count padding too, so `longest` is the longest prompt plus the
    largest budget, not one row's own length."""
    from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

    config = getattr(model, "config", None)
    if config is None:
        return
    for layer in DynamicCache(config=config).layers:
        if type(layer) is DynamicLayer:
            continue
        if type(layer) is not DynamicSlidingWindowLayer:
            raise UnsupportedCache(f"a {type(layer).__name__} layer")
        if longest > layer.sliding_window:
            raise UnsupportedCache(f"rows of up to {longest} tokens outgrow the "
                                   f"{layer.sliding_window}-token sliding window")


def left_pad(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """Zero-pad `tensor` on the left of `dim` up to `length`."""
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def merge_batches(a: Batch, b: Batch) -> Batch:
    """One batch from two: the shorter cache is left-padded, so rows stay right-aligned."""
    length = max(a.mask.shape[1], b.mask.shape[1])
    for layer_a, layer_b in zip(cache_layers(a.cache), cache_layers(b.cache)):
        layer_a.keys = torch.cat([left_pad(layer_a.keys, length, 2),
                                  left_pad(layer_b.keys, length, 2)])
        layer_a.values = torch.cat([left_pad(layer_a.values, length, 2),
                                    left_pad(layer_b.values, length, 2)])
    mask = torch.cat([left_pad(a.mask, length, 1), left_pad(b.mask, length, 1)])
    return Batch(a.rows + b.rows, a.cache, mask, torch.cat([a.last, b.last]))


def keep_rows(batch: Batch, keep: list[int]) -> Batch:
    """The batch made of rows `keep` of this one, in that order (a row may be named
    twice: beam search copies a beam's cache to its continuations), without columns
    that are padding in every remaining row (they would only cost attention work)."""
    index = torch.tensor(keep, dtype=torch.long, device=batch.mask.device)
    mask = batch.mask.index_select(0, index)
    first = int(mask.any(dim=0).nonzero()[0])
    # Beam search reorders rows in place of a batch of the same size: copying only the
    # rows that change (most beams keep their own) moves far less than the whole cache.
    # The cache tensors are the forward pass's own (its concatenation made them).
    moved = ([row for row, source in enumerate(keep) if row != source]
             if len(keep) == len(batch.rows) else None)
    targets = torch.tensor(moved or [], dtype=torch.long, device=batch.mask.device)
    for layer in cache_layers(batch.cache):
        if moved is None:
            layer.keys = layer.keys.index_select(0, index)[:, :, first:]
            layer.values = layer.values.index_select(0, index)[:, :, first:]
            continue
        if moved:  # the right side is gathered first, so overlapping moves are safe
            layer.keys[targets] = layer.keys[index[targets]]
            layer.values[targets] = layer.values[index[targets]]
        layer.keys = layer.keys[:, :, first:]
        layer.values = layer.values[:, :, first:]
    return Batch([batch.rows[i] for i in keep], batch.cache, mask[:, first:],
                  batch.last.index_select(0, index))


@dataclass
class SharedPrefix:
    """KV cache of the leading tokens every prompt shares (the Alpaca preface and the
    first header: about 30 tokens of an 80-token benchmark prompt), computed once."""

    length: int
    keys_values: list[tuple[torch.Tensor, torch.Tensor]]

    def cache_for(self, rows: int) -> Any:
        """A fresh plain cache holding the prefix once per row (empty without one)."""
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache()
        for layer, (keys, values) in enumerate(self.keys_values):
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), layer)
        return cache


@functools.cache
def cache_name(model_class: Any) -> str:
    """transformers renamed the KV-cache argument and output `past_key_values` -> `cache`
    during 5.x (the old name warns and is due to go): the name this model class takes."""
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters \
        else "past_key_values"


def forward(model: Any, cache: Any, **inputs: Any) -> tuple[torch.Tensor, Any]:
    """One forward pass with a KV cache -> (last-position logits, the cache)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    name = cache_name(base.__class__)
    out = model(**inputs, **{name: cache}, use_cache=True, logits_to_keep=1)
    return out.logits[:, -1, :], out.get(name)


def shared_prefix(model: Any, encoded: list[list[int]], limits: list[int],
                  device: torch.device) -> SharedPrefix:
    """The prefix every prompt of `encoded` shares, run once; raises UnsupportedCache
    (check_plain_cache) before any compute when the batch's plain cache would not decode
    prompts of these lengths with budgets `limits` as the model's own cache does."""
    from transformers.cache_utils import DynamicCache

    check_plain_cache(model, max(map(len, encoded)) + max(limits))
    # Token-level common prefix, so every prompt keeps exactly its own tokenization; at
    # least one token of each prompt is left for the prefill to produce logits from.
    length = min(len(os.path.commonprefix(encoded)), min(len(ids) for ids in encoded) - 1)
    if length < 1:
        return SharedPrefix(0, [])
    # a plain cache, not the model's own (which may keep sliding-window layers)
    _, cache = forward(model, DynamicCache(), input_ids=torch.tensor([encoded[0][:length]],
                                                                     device=device))
    layers = cache_layers(cache)
    return SharedPrefix(length, [(layer.keys, layer.values) for layer in layers])


def prefill(model: Any, tokenizer: Any, rows: list[Row], encoded: list[list[int]],
             prefix: SharedPrefix, device: torch.device) -> tuple[Batch, torch.Tensor]:
    """Run the prompts of `rows` after the shared prefix -> their batch and next-token
    logits. Shorter prompts are padded between the prefix and their own tokens; the
    padding is masked and positions count real tokens only, so each row computes what
    it would alone."""
    padded = tokenizer.pad({"input_ids": [encoded[row.index][prefix.length:] for row in rows]},
                           padding=True, padding_side="left", return_tensors="pt").to(device)
    own = padded["attention_mask"]
    positions = prefix.length + (own.cumsum(-1) - 1).clamp(min=0)
    cache = prefix.cache_for(len(rows))  # plain, empty without a prefix
    mask = torch.cat([own.new_ones(len(rows), prefix.length), own], dim=1)
    logits, cache = forward(model, cache, input_ids=padded["input_ids"],
                             attention_mask=mask, position_ids=positions)
    cache_layers(cache)
    empty = torch.empty(len(rows), dtype=torch.long, device=device)
    return Batch(rows, cache, mask, empty), logits


def decode_step(model: Any, batch: Batch) -> torch.Tensor:
    """Feed every row's pending token; returns the next-token logits."""
    positions = batch.mask.sum(dim=1, keepdim=True)
    batch.mask = torch.cat([batch.mask, batch.mask.new_ones(len(batch), 1)], dim=1)
    logits, batch.cache = forward(model, batch.cache, input_ids=batch.last[:, None],
                                   attention_mask=batch.mask, position_ids=positions)
    return logits
