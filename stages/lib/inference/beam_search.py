"""Beam search with continuous batching: transformers' beam search, prompt by prompt,
in the KV-cache batch of stages.lib.inference.kv_batch.

Each prompt is prefilled once (after the prefix all prompts share), its cache copied to
its `num_beams` rows, and its beams then advance one token a step beside the other
prompts' beams; a prompt leaves the batch as soon as its finished hypotheses can no
longer change, and the next prompts take its place. The search itself is transformers'
(generate() with num_beams, GenerationMixin._beam_search), step for step, so the two
engines give the same outputs up to float rounding:

- each step keeps the top K = max(2, 1 + number of EOS ids) x num_beams continuations
  of all the prompt's beams by summed log-probability; a continuation that hits a stop
  (EOS, the prompt's token budget, template echo: stages.lib.inference.answers.cut_point) leaves
  the running beams, which are the best num_beams that did not;
- a stopping continuation among the top num_beams of the K is a finished hypothesis,
  scored by its summed log-probability / generated length ** length_penalty (1.0); the
  best num_beams of them are kept;
- a prompt is done once its best running beam cannot beat its worst finished hypothesis
  (transformers' early-stopping heuristic with early_stopping False), or when every
  continuation stopped (nothing can change after that).

transformers stops a static batch only when all its prompts are done, but a done
prompt's hypotheses no longer change, so leaving early changes no output. The copy
margin (stages.lib.inference.decoding.prefer_edit) then picks among the finished hypotheses, best
first, as the hf engine does with its num_return_sequences.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from stages.lib.inference.answers import cut_point, decode_output
from stages.lib.inference.decoding import Decoding, prefer_edit
from stages.lib.inference.kv_batch import (
    Batch,
    Row,
    decode_step,
    keep_rows,
    merge_batches,
    prefill,
    shared_prefix,
)

# transformers' GenerationConfig defaults, passed to the hf engine's generate() too
LENGTH_PENALTY = 1.0
EARLY_STOPPING = False
# the score transformers gives a beam or a hypothesis that must not be chosen
_NEVER = -1.0e9


@dataclass
class _Search:
    """One prompt's beam search: running beams (tokens so far, summed log-probs),
    finished hypotheses (best first, as transformers keeps them) and whether the
    finished ones can still improve."""

    index: int
    limit: int
    beams: int
    running: list[list[int]] = field(default_factory=list)
    scores: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    finished: list[list[int]] = field(default_factory=list)
    finished_scores: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    finished_real: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    can_improve: bool = True
    steps: int = 0  # tokens generated so far by every running beam

    def __post_init__(self) -> None:
        # beam 0 alone seeds the first step, so the beams do not all pick the same token
        self.running = [[] for _ in range(self.beams)]
        self.scores = torch.full((self.beams,), _NEVER)
        self.scores[0] = 0.0
        self.finished = [[] for _ in range(self.beams)]
        self.finished_scores = torch.full((self.beams,), _NEVER)
        self.finished_real = torch.zeros(self.beams, dtype=torch.bool)


def _stops(tokens: list[int], limit: int, eos: set[int], tokenizer: Any) -> bool:
    """The hf engine's stopping rules for one continuation: EOS last, the budget used
    up, or template echo in its text (stages.lib.inference.generation._StopRows)."""
    if tokens[-1] in eos or len(tokens) >= limit:
        return True
    return cut_point(tokenizer.decode(tokens, skip_special_tokens=True)) is not None


def _advance(search: _Search, log_probs: torch.Tensor, tokenizer: Any, eos: set[int],
             keep: int) -> tuple[list[int], list[int]]:
    """One step of one prompt's search from its beams' next-token log-probs
    (beams, vocab): updates `search`, returns (source beam, token) of each new running
    beam. Every tensor operation is the one transformers makes on this prompt's row."""
    beams, vocab = log_probs.shape
    summed = (log_probs + search.scores[:, None]).reshape(1, beams * vocab)
    top_scores, top_ids = torch.topk(summed, k=keep)
    top_scores, top_ids = top_scores[0], top_ids[0]
    sources, tokens = (top_ids // vocab).tolist(), (top_ids % vocab).tolist()
    continuations = [search.running[s] + [t] for s, t in zip(sources, tokens, strict=True)]
    hits = torch.tensor([_stops(c, search.limit, eos, tokenizer) for c in continuations])
    # the running beams: the best continuations that did not stop
    running_scores = top_scores + hits.to(torch.float32) * _NEVER
    chosen = torch.topk(running_scores, k=beams)[1].tolist()
    # the finished hypotheses: stopped ones among the top `beams`, length-normalised
    newly = hits & (torch.arange(keep) < beams)
    normalised = top_scores / ((search.steps + 1) ** LENGTH_PENALTY)
    normalised = normalised + float(not search.can_improve) * _NEVER
    normalised = normalised + (~newly).to(torch.float32) * _NEVER
    merged_scores = torch.cat((search.finished_scores, normalised))
    best = torch.topk(merged_scores, k=beams)[1].tolist()
    pool = search.finished + continuations
    search.finished = [pool[i] for i in best]
    search.finished_scores = merged_scores[best]
    search.finished_real = torch.cat((search.finished_real, newly))[best]
    search.running = [continuations[i] for i in chosen]
    search.scores = running_scores[chosen]
    search.steps += 1
    # can the best running beam still beat the worst finished hypothesis?
    best_possible = search.scores[0] / (search.steps ** LENGTH_PENALTY)
    worst = torch.where(search.finished_real, search.finished_scores.min(), _NEVER)
    search.can_improve = search.can_improve and bool((best_possible > worst).any())
    if bool(hits.all()):
        search.can_improve = False  # no running beam is left: nothing can change
    return [sources[i] for i in chosen], [tokens[i] for i in chosen]


def _answer(search: _Search, tokenizer: Any, eos: set[int], margin: float | None,
            source: str | None) -> str:
    texts = [decode_output(tokenizer, tokens, search.limit, eos) for tokens in search.finished]
    if not margin:
        return texts[0]
    assert source is not None
    candidates = list(zip(texts, search.finished_scores.tolist(), strict=True))
    return prefer_edit(candidates, source, margin)


def _choose(batch: Batch, searches: list[_Search], logits: torch.Tensor, tokenizer: Any,
            eos: set[int], keep: int, decoding: Decoding, sources: list[str] | None,
            outputs: list[str], bar: Any) -> tuple[Batch | None, list[_Search]]:
    """Advance every prompt of the batch by a step (its rows are its beams, in order):
    done prompts are written out and leave, the others' rows are reordered to their new
    beams' sources."""
    beams = decoding.num_beams
    log_probs = torch.log_softmax(logits.to(torch.float32), dim=-1)
    rows: list[int] = []
    last: list[int] = []
    alive: list[_Search] = []
    for position, search in enumerate(searches):
        first = position * beams
        origins, tokens = _advance(search, log_probs[first:first + beams], tokenizer, eos, keep)
        if not search.can_improve:
            outputs[search.index] = _answer(search, tokenizer, eos, decoding.margin,
                                            sources[search.index] if sources else None)
            bar.update(1)
            continue
        alive.append(search)
        rows += [first + origin for origin in origins]
        last += tokens
    if not alive:
        return None, []
    batch = keep_rows(batch, rows)
    batch.last = torch.tensor(last, dtype=torch.long, device=batch.mask.device)
    return batch, alive


def beam_continuous(model: Any, tokenizer: Any, encoded: list[list[int]], limits: list[int],
                    batch_size: int, decoding: Decoding, eos_ids: list[int], bar: Any,
                    sources: list[str] | None = None) -> list[str]:
    """Beam search outputs of every prompt (caller's order), `batch_size` prompts (each
    `num_beams` rows) decoded together; prompts enter longest first and a quarter of the
    slots free brings the next ones in. Raises kv_batch.UnsupportedCache for a cache it
    cannot reorder, before anything is decoded."""
    device = next(model.parameters()).device
    beams = decoding.num_beams
    keep = max(2, 1 + len(eos_ids)) * beams
    eos = set(eos_ids)
    pending = deque(sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i)))
    outputs = [""] * len(encoded)
    prefix = shared_prefix(model, encoded, limits, device)
    batch: Batch | None = None
    searches: list[_Search] = []
    refill_at = max(1, batch_size // 4)
    while pending or batch is not None:
        room = batch_size - len(searches)
        if pending and (batch is None or room >= min(refill_at, len(pending))):
            entering = [_Search(index, limits[index], beams)
                        for index in (pending.popleft() for _ in range(min(room, len(pending))))]
            new, logits = prefill(model, tokenizer, [Row(s.index, s.limit) for s in entering],
                                  encoded, prefix, device)
            # every beam of a prompt starts from its one prefilled row
            expand = [position for position in range(len(entering)) for _ in range(beams)]
            new = keep_rows(new, expand)
            logits = logits[torch.tensor(expand, device=logits.device)]
            new, entered = _choose(new, entering, logits, tokenizer, eos, keep, decoding,
                                   sources, outputs, bar)
            if new is not None:
                batch = new if batch is None else merge_batches(batch, new)
                searches += entered
            continue
        assert batch is not None
        batch, searches = _choose(batch, searches, decode_step(model, batch), tokenizer, eos,
                                  keep, decoding, sources, outputs, bar)
    return outputs
