"""Batched greedy (or beam) generation for evaluation and the `edit` command.

Speed comes from continuous batching: prompts enter longest first, padded on the left
so every row's next token sits in the last column, and are decoded with the KV cache;
a row leaves the batch as soon as it stops and new prompts take its place, so no
compute is spent on finished rows (a plain batched generate() runs every row until the
slowest one ends). The prompt prefix all items share (the Alpaca preface) is run
through the model once, not once per item. Each row stops at EOS, at its own token
budget, or as soon as it starts echoing the prompt template (a new "### ..." header,
the Alpaca preface, or a run of blank lines) - small models often keep going after the
answer. Results come back in the caller's order.

The cache batch itself (padding, shared prefix, merging and dropping rows) is
stages.lib.inference.kv_batch; batched and one-at-a-time generation give the same tokens up to
float rounding. Beam search runs in the same kind of batch (stages.lib.inference.beam_search),
or in transformers' generate() on length-sorted batches (the hf engine, the reference
the beam loop is tested against); with a copy margin both keep every finished beam and
prefer one that edits the input over a near-tied copy of it (`prefer_edit`), against
the adapters' under-correction. These loops are the torch engines of stages.lib.inference.engines; its vLLM engine (stages.lib.inference.vllm_engine)
decodes the same token ids within the same budgets (`prepare`). Every engine's tokens
are decoded and cleaned by the same function (`decode_output`).
"""
from __future__ import annotations

import sys
from collections import deque
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from stages.lib.inference.answers import cut_point, decode_output, prepare
from stages.lib.inference.beam_search import EARLY_STOPPING, LENGTH_PENALTY, beam_continuous
from stages.lib.inference.decoding import Decoding, check_sources, prefer_edit
from stages.lib.inference.kv_batch import (
    Batch,
    Row,
    UnsupportedCache,
    decode_step,
    keep_rows,
    merge_batches,
    prefill,
    shared_prefix,
)


class _StopRows(StoppingCriteria):
    """Per-row stop for generate(): the row's own token budget is used up or template
    echo began. Beam search passes several candidate rows per prompt (2 x beams in
    transformers 5), grouped by prompt, so a row's prompt is row // rows-per-prompt."""

    def __init__(self, tokenizer: Any, prompt_len: int, limits: list[int]):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.limits = limits

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        generated = input_ids[:, self.prompt_len:]
        per_prompt = max(1, input_ids.shape[0] // len(self.limits))
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        done = [
            generated.shape[1] >= self.limits[row // per_prompt] or cut_point(text) is not None
            for row, text in enumerate(texts)
        ]
        return torch.tensor(done, dtype=torch.bool,  # type: ignore[return-value]
                            device=input_ids.device)


def _finished(row: Row, tokenizer: Any, eos_ids: set[int]) -> bool:
    if row.tokens[-1] in eos_ids or len(row.tokens) >= row.limit:
        return True
    return cut_point(tokenizer.decode(row.tokens, skip_special_tokens=True)) is not None


def _greedy_continuous(model: Any, tokenizer: Any, encoded: list[list[int]],
                       limits: list[int], batch_size: int, eos_ids: list[int],
                       bar: Any) -> list[str]:
    """Greedy decoding with continuous batching on a CPU or GPU.

    A finished row leaves the running batch at once (its compute is not wasted until
    the slowest row ends), and once a quarter of the slots are free the next prompts
    are prefilled together and merged in, so the batch stays full. Prompts enter
    longest first, so rows in the batch have similar lengths. The prefix all prompts
    share is computed once (on a CPU, prefill is most of the batched work).
    """
    device = next(model.parameters()).device
    pending = deque(sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i)))
    eos = set(eos_ids)
    outputs = [""] * len(encoded)
    prefix = shared_prefix(model, encoded, limits, device)
    batch: Batch | None = None
    refill_at = max(1, batch_size // 4)
    while pending or batch is not None:
        room = batch_size - (len(batch) if batch is not None else 0)
        if pending and (batch is None or room >= min(refill_at, len(pending))):
            rows = [Row(pending.popleft(), 0) for _ in range(min(room, len(pending)))]
            for row in rows:
                row.limit = limits[row.index]
            new, logits = prefill(model, tokenizer, rows, encoded, prefix, device)
            survivors = _choose(new, logits, tokenizer, eos, outputs, bar)
            if survivors is not None:
                batch = survivors if batch is None else merge_batches(batch, survivors)
            continue
        assert batch is not None
        batch = _choose(batch, decode_step(model, batch), tokenizer, eos, outputs, bar)
    return outputs


def _choose(batch: Batch, logits: torch.Tensor, tokenizer: Any, eos: set[int],
            outputs: list[str], bar: Any) -> Batch | None:
    """Append each row's greedy token; finished rows are written out and dropped."""
    batch.last = logits.argmax(dim=-1)
    keep: list[int] = []
    for i, (row, token) in enumerate(zip(batch.rows, batch.last.tolist())):
        row.tokens.append(token)
        if _finished(row, tokenizer, eos):
            outputs[row.index] = decode_output(tokenizer, row.tokens, row.limit, eos)
        else:
            keep.append(i)
    bar.update(len(batch) - len(keep))
    if not keep:
        return None
    return batch if len(keep) == len(batch) else keep_rows(batch, keep)


# generation-config settings that add a logits processor (or change the search) in
# transformers' generate(): the continuous loops apply none of them, so a model that
# sets one is decoded by generate() itself
_SEARCH_SETTINGS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
                    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None,
                    "min_length": 0, "min_new_tokens": None, "forced_bos_token_id": None,
                    "forced_eos_token_id": None, "suppress_tokens": None,
                    "begin_suppress_tokens": None, "sequence_bias": None,
                    "diversity_penalty": 0.0, "exponential_decay_length_penalty": None}


def _plain_search(model: Any) -> bool:
    """The model's generation config adds nothing to plain greedy / beam search."""
    config = getattr(model, "generation_config", None)
    return all(getattr(config, name, default) in (default, None)
               for name, default in _SEARCH_SETTINGS.items())


def free_memory(device: torch.device) -> int:
    """Bytes free for new tensors on `device` now (host RAM for a CPU or MPS)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    return int(psutil.virtual_memory().available)


def scores_batch_size(batch_size: int, num_beams: int, steps: int, vocab: int,
                      free: int) -> int:
    """Prompts a generate() call with output_scores may take: every prompt keeps one
    float32 vocabulary row per beam and step, and all of them together may use half of
    the `free` bytes (the other half is for the model's activations and cache)."""
    per_prompt = num_beams * steps * vocab * 4
    return max(1, min(batch_size, free // 2 // per_prompt))


def _hf_generate(model: Any, tokenizer: Any, encoded: list[list[int]], limits: list[int],
                 batch_size: int, decoding: Decoding, eos_ids: list[int], bar: Any,
                 sources: list[str] | None = None) -> list[str]:
    """transformers' generate() on length-sorted batches: beam search, and models whose
    cache the continuous-batching loop cannot reshape (e.g. rows longer than a
    sliding window: kv_batch.check_plain_cache).

    With a copy margin, every prompt's `num_beams` finished candidates come back, best
    first, with `sequences_scores`: the score beam search itself ranks finished
    candidates by - the sum of the candidate's token log-probabilities divided by its
    generated length (its final EOS or stopping token included) ** length_penalty, which
    is 1.0 here (GenerationConfig's default), so the mean log-probability per generated
    token. prefer_edit then picks among them; the top candidate is the plain output.
    Keeping the scores costs memory until generate() returns: one float32 row of the
    vocabulary per beam and step (about 25 MB a step for 32 prompts x 4 beams of a
    49k-token vocabulary, 134 MB for Gemma 3's 262k), so fewer prompts go into each
    call when a full batch's scores would not fit (scores_batch_size)."""
    num_beams, margin = decoding.num_beams, decoding.margin
    device = next(model.parameters()).device
    if margin:
        vocab = model.get_output_embeddings().weight.shape[0]
        fitting = scores_batch_size(batch_size, num_beams, max(limits), vocab,
                                    free_memory(device))
        if fitting < batch_size:
            bar.write(f"generate: {fitting} prompt{'s' * (fitting > 1)} a batch, not "
                      f"{batch_size}: the scores "
                      f"the copy margin needs ({num_beams} beams x up to {max(limits)} "
                      f"steps x {vocab:,} floats a prompt) must fit in the free memory",
                      file=sys.stderr)
            batch_size = fitting
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    # without a copy margin, the call is exactly the plain beam search's
    candidates = num_beams if margin else 1
    extra = {"num_return_sequences": num_beams, "output_scores": True,
             "return_dict_in_generate": True} if margin else {}
    outputs = [""] * len(encoded)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, padding=True,
                              padding_side="left", return_tensors="pt").to(device)
        row_limits = [limits[i] for i in rows]
        # the length penalty and stopping rule beam_continuous applies, whatever the
        # model's own generation config says
        beam_rules = {"length_penalty": LENGTH_PENALTY,
                      "early_stopping": EARLY_STOPPING} if num_beams > 1 else {}
        config = GenerationConfig(
            max_new_tokens=max(row_limits), do_sample=False, num_beams=num_beams,
            eos_token_id=eos_ids, pad_token_id=pad_id, use_cache=True, **beam_rules, **extra,
        )
        stop = _StopRows(tokenizer, batch["input_ids"].shape[1], row_limits)
        generated = model.generate(**batch, generation_config=config,
                                   stopping_criteria=StoppingCriteriaList([stop]))
        sequences = generated.sequences if margin else generated
        new_tokens = sequences[:, batch["input_ids"].shape[1]:].tolist()
        for row, index in enumerate(rows):
            texts = [decode_output(tokenizer, tokens, row_limits[row], set(eos_ids))
                     for tokens in new_tokens[row * candidates:(row + 1) * candidates]]
            if not margin:
                outputs[index] = texts[0]
                continue
            assert sources is not None
            scores = generated.sequences_scores[row * candidates:(row + 1) * candidates]
            outputs[index] = prefer_edit(list(zip(texts, scores.tolist(), strict=True)),
                                         sources[index], margin)
        bar.update(len(rows))
    return outputs


@torch.inference_mode()
def torch_generate(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: list[int],
                   decoding: Decoding, batch_size: int, sources: list[str] | None = None,
                   progress: bool = True, continuous: bool = True) -> list[str]:
    """Cleaned continuations of `prompts` by a transformers model (same order), decoded
    as `decoding` says: the continuous and hf engines of stages.lib.inference.engines.

    `batch_size` is the number of rows decoded together; 1 is a one-at-a-time loop.
    `continuous`: continuous batching (this module's greedy loop, or
    stages.lib.inference.beam_search's beams; a cache it cannot reshape, or a model whose
    generation config changes the search, falls back to static batches); False:
    transformers' generate() on static length-sorted batches. With a copy margin, `sources` holds
    each prompt's input text (stages.lib.inference.decoding.prefer_edit).
    """
    from tqdm.auto import tqdm

    encoded, stop_ids = prepare(model, tokenizer, prompts, max_new_tokens, batch_size)
    check_sources(decoding, sources, len(prompts))
    with tqdm(total=len(prompts), unit="item", desc="generate", disable=not progress) as bar:
        if continuous and _plain_search(model):
            try:
                if decoding.num_beams == 1:
                    return _greedy_continuous(model, tokenizer, encoded, max_new_tokens,
                                              batch_size, stop_ids, bar)
                return beam_continuous(model, tokenizer, encoded, max_new_tokens, batch_size,
                                       decoding, stop_ids, bar, sources)
            except UnsupportedCache as reason:
                # said once, before any decoding: the static batches cost more time, and
                # with a copy margin more memory (_hf_generate)
                bar.write(f"generate: the continuous engine cannot batch this model's KV "
                          f"cache ({reason}); using transformers' generate() on static "
                          f"batches", file=sys.stderr)
                bar.reset()
        return _hf_generate(model, tokenizer, encoded, max_new_tokens, batch_size,
                            decoding, stop_ids, bar, sources)
