"""Benchmark decontamination: drop training items whose text overlaps an evaluation item.

Two tests on normalized text (lowercase, punctuation stripped, whitespace collapsed):
an exact match of the whole text, and any shared n-gram of n normalized tokens (13 by
default, the GPT-3 paper's choice). Texts shorter than n tokens can only match exactly.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lowercase, strip punctuation (and PTB bracket escapes), collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"-[lr][rcs]b-", " ", text)  # -lrb- / -rrb- in tokenized corpora
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def ngrams(tokens: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


@dataclass
class BenchmarkIndex:
    """Normalized benchmark texts and their n-grams, for O(1) lookups per training n-gram."""

    n: int
    exact: set[str] = field(default_factory=set)
    grams: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, text: str) -> None:
        norm = normalize_text(text)
        if not norm:
            return
        self.exact.add(norm)
        self.grams.update(ngrams(norm.split(" "), self.n))

    def check(self, text: str) -> str | None:
        """'exact' or 'ngram' when `text` overlaps the benchmark, else None."""
        norm = normalize_text(text)
        if not norm:
            return None
        if norm in self.exact:
            return "exact"
        if self.n > 0 and any(g in self.grams for g in ngrams(norm.split(" "), self.n)):
            return "ngram"
        return None


def build_index(items: Iterable[dict], n: int) -> BenchmarkIndex:
    """Index the inputs and references of benchmark items (data/benchmark/*.jsonl)."""
    index = BenchmarkIndex(n=n)
    for item in items:
        index.add(item.get("input", ""))
        for ref in item.get("references", []):
            index.add(ref)
    return index
