"""How often a system leaves its input unchanged: the share of outputs with the same words
as the input (stages.lib.core.same_words: spacing around punctuation is no edit), per dataset
of a predictions/<system>/ folder. Used by the findings report and by recipe-table to
see whether an adapter edits at all."""
from __future__ import annotations

from pathlib import Path

from stages.lib.core.io import read_jsonl
from stages.lib.core.same_words import same_words


def copy_share(predictions: Path) -> dict[str, float]:
    """dataset -> share (0-1) of its outputs that copy their input."""
    shares = {}
    for path in sorted(predictions.glob("*.jsonl")):
        rows = read_jsonl(path)
        same = sum(same_words(row["output"], row["input"]) for row in rows)
        shares[path.stem] = round(same / len(rows), 4) if rows else 0.0
    return shares
