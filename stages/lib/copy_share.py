"""How often a system leaves its input unchanged: the share of outputs identical to the
input (whitespace-trimmed), per dataset of a predictions/<system>/ folder. Used by the
findings report and by recipe-table to see whether an adapter edits at all."""
from __future__ import annotations

from pathlib import Path

from stages.lib.io import read_jsonl


def copy_share(predictions: Path) -> dict[str, float]:
    """dataset -> share (0-1) of its outputs that equal their input."""
    shares = {}
    for path in sorted(predictions.glob("*.jsonl")):
        rows = read_jsonl(path)
        same = sum(row["output"].strip() == row["input"].strip() for row in rows)
        shares[path.stem] = round(same / len(rows), 4) if rows else 0.0
    return shares
