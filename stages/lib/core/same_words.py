"""Whether an output leaves its input unchanged, judged on words rather than characters.

Benchmark inputs are often tokenized ("yesterday ."), while a language model writes
detokenized text ("yesterday."). An output that only moves spaces around punctuation edits
nothing, so both sides are split with spaCy's English tokenizer (the rules ERRANT's
tokenization uses, without loading a pipeline) and the word sequences compared. A space
inserted inside a word ("alot" -> "a lot") still counts as an edit.
"""
from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _tokenizer() -> Any:
    import spacy  # imported on first use: most callers of this package never need it

    return spacy.blank("en").tokenizer


def words(text: str) -> list[str]:
    """The text's spaCy tokens, whitespace dropped."""
    return [token.text for token in _tokenizer()(" ".join(text.split()))]


def same_words(a: str, b: str) -> bool:
    """True when the two texts differ at most in whitespace, including the spaces a
    tokenizer puts around punctuation and clitics ("do n't" = "don't")."""
    return a.split() == b.split() or words(a) == words(b)
