"""The benchmark's datasets as the paper presents them: ids in the paper's order and
their column labels (Table 4). One home for report, compare and the cards."""
from __future__ import annotations

PAPER_ORDER = ["conll", "bea", "jfl", "itr-f", "itr-l", "itr-o", "trk", "ast", "wnc", "sts"]
LABELS = {"conll": "CoNLL", "bea": "BEA", "jfl": "JFL", "itr-f": "ITR-F", "itr-l": "ITR-L",
          "itr-o": "ITR-O", "trk": "TRK", "ast": "AST", "wnc": "WNC", "sts": "STS",
          "avg": "Avg."}


def label(dataset: str) -> str:
    """The paper's column label of a dataset id (the id itself for other datasets)."""
    return LABELS.get(dataset, dataset)


def in_paper_order(datasets: set[str] | list[str]) -> list[str]:
    """The paper's datasets first, in its order, then any others sorted."""
    found = set(datasets)
    return [d for d in PAPER_ORDER if d in found] + sorted(found - set(PAPER_ORDER))
