"""How outputs are decoded: one frozen `Decoding` value, built and checked once.

A Decoding says everything a generation engine needs beyond the prompts: the beam
width, the copy margin (which beam candidate wins when the best one copies its input)
and the answer budget (how many new tokens an item may take). predict builds it from
params (stages.lib.inference.predict_config), edit from its options or from the decoding an
adapter was evaluated with; it goes whole to every engine and is written beside the
outputs it made (`decoding.json`), so every score can say how it was produced.

This module is a leaf: it imports no engine, no torch and no params reader, so the
margin rule and the decoding checks each live here once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.same_words import same_words

DECODING_RECORD = "decoding.json"
# the settings a Decoding is made of, as params.yaml's predict section and decoding.json
# name them
RECORD_KEYS = ("num_beams", "copy_margin", "max_new_tokens_factor", "max_new_tokens_min",
               "max_new_tokens_max")


class DecodingError(ValueError):
    """A decoding setting that cannot be used; `key` names it (e.g. `copy_margin`), so
    each caller can point at its own source (a params key, a CLI option, a file).
    The message may name other settings as `{num_beams}`: `named` fills in the caller's
    names for them."""

    def __init__(self, key: str, message: str):
        super().__init__(_fill(message, {}))
        self.key = key
        self.template = message

    def named(self, names: dict[str, str]) -> str:
        """`<the key's name> <message>`, every setting called as in `names`."""
        return f"{names.get(self.key, self.key)} {_fill(self.template, names)}"


def _fill(template: str, names: dict[str, str]) -> str:
    # str.replace, not str.format: the message also quotes the user's value, braces and all
    for name in RECORD_KEYS:
        template = template.replace("{" + name + "}", names.get(name, name))
    return template


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AnswerBudget:
    """New tokens an answer may take: `factor` x its input's tokens, clamped to
    [minimum, maximum]. Editing tasks rewrite their input, so the answer is about as
    long as the input; the factor leaves room for insertions, the clamp bounds run time."""

    factor: float = 1.5
    minimum: int = 16
    maximum: int = 128

    def __post_init__(self) -> None:
        if not _is_number(self.factor) or not self.factor > 0:
            raise DecodingError("max_new_tokens_factor", f"must be a number > 0, got {self.factor!r}")
        if not _is_count(self.minimum) or self.minimum < 1:
            raise DecodingError("max_new_tokens_min", f"must be an integer >= 1, got {self.minimum!r}")
        if not _is_count(self.maximum) or self.maximum < self.minimum:
            raise DecodingError("max_new_tokens_max", "must be an integer >= {max_new_tokens_min} "
                                f"({self.minimum}), got {self.maximum!r}")

    def tokens_for(self, input_text: str, tokenizer: Any) -> int:
        """The budget of an item whose input is `input_text`."""
        n_tokens = len(tokenizer(input_text, add_special_tokens=False)["input_ids"])
        return max(self.minimum, min(self.maximum, math.ceil(n_tokens * self.factor)))


@dataclass(frozen=True)
class Decoding:
    """Greedy (num_beams 1) or beam search, with an optional copy margin: prefer a beam
    candidate that edits the input over a best one that copies it when its length-
    normalised log-probability is within `copy_margin` nats per token (None = off; 0 is
    read as off). Construction checks every value and the combination."""

    num_beams: int = 1
    copy_margin: float | None = None
    budget: AnswerBudget = field(default_factory=AnswerBudget)

    def __post_init__(self) -> None:
        if not _is_count(self.num_beams) or self.num_beams < 1:
            raise DecodingError("num_beams", f"must be an integer >= 1, got {self.num_beams!r}")
        margin = self.copy_margin
        if margin is not None and not _is_number(margin):
            raise DecodingError("copy_margin", f"must be a number or null, got {margin!r}")
        if margin is not None and margin < 0:
            raise DecodingError("copy_margin", f"must be >= 0 (null or 0 = off), got {margin}")
        if margin and self.num_beams < 2:
            raise DecodingError("copy_margin", f"{margin} chooses among beam search "
                                "candidates, but {num_beams}" f" is {self.num_beams}: set "
                                "{num_beams} to 2 or more, or turn copy_margin off")

    @property
    def margin(self) -> float | None:
        """The copy margin in effect (None when off, 0 included)."""
        return self.copy_margin or None

    @property
    def label(self) -> str:
        """How the outputs were decoded, for tables and logs: `greedy`, `beam 4`,
        `beam 4, copy margin 0.5`."""
        shown = "greedy" if self.num_beams == 1 else f"beam {self.num_beams}"
        return shown + (f", copy margin {self.copy_margin}" if self.margin else "")

    def record(self) -> dict[str, Any]:
        """The JSON object decoding.json holds."""
        return {"num_beams": self.num_beams, "copy_margin": self.copy_margin,
                "max_new_tokens_factor": self.budget.factor,
                "max_new_tokens_min": self.budget.minimum,
                "max_new_tokens_max": self.budget.maximum}

    def search(self) -> tuple[int, float | None]:
        """(num_beams, copy margin in effect): what decides which tokens are chosen,
        whatever the budget (two decodings with equal searches compare as equal
        decoders in tables and `compare`)."""
        return self.num_beams, self.margin


def decoding_from_settings(settings: dict[str, Any], budget: AnswerBudget | None = None
                           ) -> Decoding:
    """A Decoding from a mapping of RECORD_KEYS (missing keys take the defaults, or
    `budget`'s); DecodingError naming the first bad key."""
    unknown = sorted(set(settings) - set(RECORD_KEYS))
    if unknown:
        raise DecodingError(unknown[0], f"unknown decoding setting (known: {', '.join(RECORD_KEYS)})")
    base = budget or AnswerBudget()
    new_budget = AnswerBudget(settings.get("max_new_tokens_factor", base.factor),
                              settings.get("max_new_tokens_min", base.minimum),
                              settings.get("max_new_tokens_max", base.maximum))
    return Decoding(settings.get("num_beams", 1), settings.get("copy_margin"), new_budget)


def prefer_edit(candidates: list[tuple[str, float]], source: str, margin: float) -> str:
    """The copy margin's choice among one prompt's finished beam candidates (text, score):
    the best-scoring text, unless it copies `source` (the same words: a text that only
    moves spaces, as "yesterday." for "yesterday .", is a copy, stages.lib.core.same_words)
    and a text that edits it scores within `margin` of it - then the best such edit. Adapters
    under-correct (most outputs copy the input), so a near-tie goes to the edit; an empty
    text is no edit (it would delete the input). The first of equal scores wins."""
    best_text, best_score = max(candidates, key=lambda candidate: candidate[1])
    if not same_words(best_text, source):
        return best_text
    edits = [(text, score) for text, score in candidates
             if text.strip() and not same_words(text, source)
             and score >= best_score - margin]
    return max(edits, key=lambda candidate: candidate[1])[0] if edits else best_text


def check_sources(decoding: Decoding, sources: list[str] | None, prompts: int) -> None:
    """ValueError unless the copy margin (when on) has one source text per prompt."""
    if decoding.margin and (sources is None or len(sources) != prompts):
        raise ValueError("copy_margin needs one source text per prompt")


def read_record(path: Path) -> Decoding:
    """A decoding.json, checked: an InputError naming the file for anything else."""
    from stages.lib.core.io import InputError, read_json

    data = read_json(path)
    if not isinstance(data, dict) or set(data) - set(RECORD_KEYS):
        raise InputError(f"{path}: expected an object with only {', '.join(RECORD_KEYS)}")
    try:
        return decoding_from_settings(data)
    except DecodingError as exc:
        raise InputError(f"{path}: {exc.named({})}") from None
