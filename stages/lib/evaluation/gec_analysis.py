"""Edit analysis of GEC outputs (paper sec. 4.2): edit actions and named-entity edits.

Figure 1 of the paper splits a system's correction edits by action: Missing (an
insertion), Replacement, Unnecessary (a deletion). The hallucination analysis counts
the share of a system's corrections that involve a named entity: here an edit touches
an entity when its source token span overlaps an entity span found by spaCy NER on
the source sentence; an insertion touches it when it sits inside or at either edge of
the entity (so "Ashby" -> "Kate Ashby", the paper's Table 8 case, counts).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from stages.lib.metrics.errant_scorer import HypEdit

ACTIONS = {"M": "missing", "R": "replacement", "U": "unnecessary"}


def operation_counts(hyp_edits: Sequence[list[HypEdit]]) -> dict[str, int]:
    """Number of system edits per action (ERRANT type prefix M/R/U; anything else: other)."""
    counts = Counter(ACTIONS.get(edit.etype[:1], "other") if edit.etype != "UNK" else "other"
                     for edits in hyp_edits for edit in edits)
    return {name: counts.get(name, 0) for name in [*ACTIONS.values(), "other"]} | {
        "total": sum(counts.values())}


@lru_cache(maxsize=2)
def _ner_pipeline(model: str) -> Any:
    import spacy

    # the full pipeline: NER needs tok2vec; the parser and lemmatizer are not used
    return spacy.load(model, disable=["parser", "lemmatizer"])


def touches(edit: HypEdit, spans: list[tuple[int, int]]) -> bool:
    """Whether an edit's source span [start, end) overlaps (or, if empty, abuts) an entity."""
    if edit.start == edit.end:
        return any(start <= edit.start <= end for start, end in spans)
    return any(edit.start < end and start < edit.end for start, end in spans)


def ne_touch_counts(sources: Sequence[str], edit_lists: Sequence[Sequence[Any]],
                    model: str) -> list[tuple[int, int]]:
    """Per item: (edits, edits touching a named entity of the tokenized source). An edit
    is anything with token offsets .start/.end: a system's HypEdit or a gold M2Edit."""
    from spacy.tokens import Doc

    counts = [(len(edits), 0) for edits in edit_lists]
    todo = [i for i, edits in enumerate(edit_lists) if edits]
    if todo:
        nlp = _ner_pipeline(model)
        docs = [Doc(nlp.vocab, words=sources[i].split()) for i in todo]
        for i, doc in zip(todo, nlp.pipe(docs, batch_size=256)):
            spans = [(ent.start, ent.end) for ent in doc.ents]
            counts[i] = (len(edit_lists[i]), sum(touches(edit, spans) for edit in edit_lists[i]))
    return counts


def ne_touch_share(sources: Sequence[str], hyp_edits: Sequence[list[HypEdit]],
                   model: str) -> dict[str, Any]:
    """Count of system edits and of those touching a named entity of the (tokenized) source."""
    counts = ne_touch_counts(sources, hyp_edits, model)
    total = sum(edits for edits, _ in counts)
    touched = sum(ne for _, ne in counts)
    return {"edits": total, "ne_edits": touched,
            "ne_share": round(100.0 * touched / total, 4) if total else 0.0}
