"""Edit-weighted MLE: which completion tokens an edit made, and their loss weights.

A writing model that copies its input is right on most target tokens: 80-97% of the
words of a GEC target are the source's. Edit-weighted MLE (Junczys-Dowmunt et al.
2018, "Approaching Neural GEC as a Low-Resource MT Task") weighs the target tokens that
differ from the source more (about 3), so the loss is no longer dominated by copying.

"Changed" is word-level: difflib's SequenceMatcher over the whitespace-split words of
source and target; the target words of replace and insert opcodes are changed (a
deletion leaves no target word to weigh). Words map onto tokens through the tokenizer's
character offsets: a token overlapping a changed word's characters is changed. Pure
Python, no torch: the trainer that applies the weights is stages/lib/training/weighted_trainer.py.
"""
from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Sequence

_WORD = re.compile(r"\S+")  # the words of str.split(), with their character spans


def changed_spans(source: str, target: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of the words of TARGET that a word diff from SOURCE
    marks as changed, in order. An empty source changes nothing: a row with no input
    (a generic instruction) has no copy to move away from."""
    if not source.strip():
        return []
    spans = [match.span() for match in _WORD.finditer(target)]
    words = [target[start:end] for start, end in spans]
    # autojunk off: on a paragraph of 200+ words it would treat frequent words ("the")
    # as junk and report them as edits
    matcher = difflib.SequenceMatcher(None, source.split(), words, autojunk=False)
    return [spans[j] for tag, _, _, j1, j2 in matcher.get_opcodes()
            if tag in ("replace", "insert") for j in range(j1, j2)]


def token_weights(offsets: Sequence[tuple[int, int]], in_loss: Sequence[bool],
                  spans: Sequence[tuple[int, int]], edit_weight: float) -> list[float]:
    """A loss weight per token: 0 outside the loss (the prompt), `edit_weight` for a token
    whose characters [start, end) overlap a changed span, 1 for every other token (the
    copied words, whitespace, the end-of-sequence token). Spans are sorted, disjoint, and
    in the same character coordinates as the offsets."""
    ends = [end for _, end in spans]
    weights = []
    for (start, end), loss in zip(offsets, in_loss, strict=True):
        if not loss:
            weights.append(0.0)
            continue
        first = bisect.bisect_right(ends, start)  # the first span ending after `start`
        hit = first < len(spans) and spans[first][0] < end and start < end
        weights.append(edit_weight if hit else 1.0)
    return weights

