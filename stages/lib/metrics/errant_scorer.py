"""ERRANT scoring identical to `errant_parallel` (no -tok, no -lev, rules merging) followed
by `errant_compare` (errant 3.0.2), using errant's own Annotator for edit extraction.

Public API:
    extract_edits(sources, hypotheses) -> list[list[HypEdit]]   (reusable by evaluation)
    corpus_errant(gold_blocks, hypotheses, mode="cs", beta=0.5) -> dict
    errant_breakdown(gold_blocks, hypotheses, mode="cs", beta=0.5) -> dict
        per error type (R:PREP, ...), per operation (M/R/U, UNK) and per main type (PREP...)

Modes as errant_compare: "cs" (default; span + correction, UNK dropped), "cse" (+ type),
"ds" (span detection, UNK kept), "dt" (token detection). Scale 0-100.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stages.lib.metrics.m2format import M2Block, parse_block
from stages.lib.metrics.spacy_cache import load_annotator, parse, parse_cached

MODES = ("cs", "cse", "ds", "dt")
# (start, end, type, correction field, coder) -- what errant_compare reads from an A line
SimpleEdit = tuple[int, int, str, str, int]


@dataclass(frozen=True)
class HypEdit:
    """One edit as errant_parallel writes it (correction tokens joined by spaces)."""

    start: int
    end: int
    etype: str
    correction: str

    def to_m2(self, coder: int = 0) -> str:
        return f"A {self.start} {self.end}|||{self.etype}|||{self.correction}|||REQUIRED|||" \
               f"-NONE-|||{coder}"


class _Tok:
    """The token attributes errant's aligner reads (lower, orth, lemma, pos ids and text),
    copied once: the aligner reads them O(n*m) times and every spaCy Token access builds
    new objects."""

    __slots__ = ("lemma", "lower", "orth", "pos", "text")

    def __init__(self, tok: Any) -> None:
        self.lower, self.orth, self.lemma, self.pos, self.text = (
            tok.lower, tok.orth, tok.lemma, tok.pos, tok.text)


def _annotate(annotator: Any, orig: Any, cor: Any) -> list[Any]:
    """`Annotator.annotate(orig, cor, lev=False, merging="rules")`, step by step.

    errant's own Alignment runs on attribute snapshots of the tokens (same values, so the
    same cost matrix and alignment); it then gets the Docs back before merging, so the
    merger and classifier see exactly the objects (Spans of the Doc) they normally get.
    """
    from errant.alignment import Alignment

    alignment = Alignment([_Tok(t) for t in orig], [_Tok(t) for t in cor], False)
    alignment.orig, alignment.cor = orig, cor
    edits = annotator.merge(alignment, "rules")
    for edit in edits:
        annotator.classify(edit)
    return edits


def extract_edits(sources: Sequence[str], hypotheses: Sequence[str],
                  use_cache: bool = True) -> list[list[HypEdit]]:
    """errant_parallel's edits per line ([] for an unchanged line, written there as noop).

    Sources are the tokenized S lines; their parses come from the on-disk cache. Only
    lines whose hypothesis differs from the source are parsed and aligned at all.
    """
    if len(sources) != len(hypotheses):
        raise ValueError(f"{len(sources)} sources but {len(hypotheses)} hypotheses")
    srcs = [s.strip() for s in sources]
    for i, s in enumerate(srcs):
        if not s:  # errant_parallel skips such a line, which misaligns everything after it
            raise ValueError(f"item {i + 1}: empty source sentence")
    hyps = [h.strip() for h in hypotheses]
    # errant_parallel writes a noop when orig.text.strip() == cor, i.e. the hypothesis
    # equals the space-joined source tokens.
    todo = [i for i, (s, h) in enumerate(zip(srcs, hyps)) if " ".join(s.split()) != h]
    out: list[list[HypEdit]] = [[] for _ in srcs]
    if not todo:
        return out
    annotator = load_annotator()
    src_docs = parse_cached(srcs, use_cache)
    hyp_docs = parse([hyps[i] for i in todo])
    for i, cor in zip(todo, hyp_docs):
        edits = _annotate(annotator, src_docs[i], cor)
        out[i] = [HypEdit(e.o_start, e.o_end, e.type, " ".join(t.text for t in e.c_toks))
                  for e in edits]
    return out


def _read_a_line(line: str) -> SimpleEdit:
    """errant_compare's reading of an A line (correction field kept literally)."""
    f = line[2:].split("|||")
    span = f[0].split()
    return int(span[0]), int(span[1]), f[1], f[2], int(f[-1])


def _coder_dict(edits: list[SimpleEdit], mode: str) -> dict[int, dict[tuple, list[str]]]:
    """errant_compare.process_edits: coder -> {edit key: [types]} (keys in file order)."""
    out: dict[int, dict[tuple, list[str]]] = {}
    for start, end, cat, cor, coder in edits or [(-1, -1, "noop", "-NONE-", 0)]:
        d = out.setdefault(coder, {})
        keys: list[tuple]
        if mode not in ("dt", "ds") and cat == "UNK":
            continue  # UNK edits only count for detection
        if mode == "dt":
            if start == -1:
                keys = [(start, start)]
            elif start == end:  # an insertion affects the token on its right
                keys = [(start, start + 1)]
            else:
                keys = [(t, t + 1) for t in range(start, end)]
        elif mode == "ds":
            keys = [(start, end)]
        elif mode == "cse":
            keys = [(start, end, cat, cor)]
        else:
            keys = [(start, end, cor)]
        for k in keys:
            d.setdefault(k, []).append(cat)
    return out


def _compare(hyp: dict[tuple, list[str]], ref: dict[tuple, list[str]]
             ) -> tuple[int, int, int, dict[str, list[int]]]:
    tp = fp = fn = 0
    cats: dict[str, list[int]] = {}
    for key, h_cats in hyp.items():
        if h_cats[0] == "noop":
            continue
        if key in ref:
            for c in ref[key]:  # TP counted with the reference's types
                tp += 1
                cats.setdefault(c, [0, 0, 0])[0] += 1
        else:
            for c in h_cats:
                fp += 1
                cats.setdefault(c, [0, 0, 0])[1] += 1
    for key, r_cats in ref.items():
        if r_cats[0] == "noop" or key in hyp:
            continue
        for c in r_cats:
            fn += 1
            cats.setdefault(c, [0, 0, 0])[2] += 1
    return tp, fp, fn, cats


def _prf(tp: int, fp: int, fn: int, beta: float) -> tuple[float, float, float]:
    """errant_compare.computeFScore before rounding: P = 1 when FP = 0, R = 1 when FN = 0."""
    p = float(tp) / (tp + fp) if fp else 1.0
    r = float(tp) / (tp + fn) if fn else 1.0
    f = float((1 + beta ** 2) * p * r) / ((beta ** 2) * p + r) if p + r else 0.0
    return p, r, f


def _scores(tp: int, fp: int, fn: int, beta: float) -> dict[str, float]:
    p, r, f = _prf(tp, fp, fn, beta)
    return {"precision": 100.0 * p, "recall": 100.0 * r, f"f{beta:g}": 100.0 * f,
            "tp": tp, "fp": fp, "fn": fn}


def _candidates(block: M2Block, h_edits: list[HypEdit], mode: str
                ) -> list[tuple[int, int, int, dict[str, list[int]]]]:
    """(tp, fp, fn, per-type counts) for every (hypothesis coder, reference coder) pair."""
    ref_simple = [(e.start, e.end, e.etype, e.raw_correction, e.annotator) for e in block.edits]
    # Through the M2 text and back, so odd corrections split exactly as in the file.
    hyp_simple = [_read_a_line(e.to_m2(0)) for e in h_edits]
    hyp_d, ref_d = _coder_dict(hyp_simple, mode), _coder_dict(ref_simple, mode)
    return [_compare(h, r) for h in hyp_d.values() for r in ref_d.values()]


def _choose(candidates: Sequence[Sequence[Any]], total: Sequence[int], beta: float) -> int:
    """Index of the coder pair errant_compare keeps given the running totals: highest F of
    totals + this sentence rounded to 4 decimals; then more TP, fewer FP, fewer FN, first."""
    best, best_key = 0, (0, 0, 0, -1.0)
    for k, (tp, fp, fn, *_) in enumerate(candidates):
        f = round(_prf(tp + total[0], fp + total[1], fn + total[2], beta)[2], 4)
        btp, bfp, bfn, bf = best_key
        if f > bf or (f == bf and tp > btp) or (f == bf and tp == btp and fp < bfp) \
                or (f == bf and tp == btp and fp == bfp and fn < bfn):
            best, best_key = k, (tp, fp, fn, f)
    return best


def totals(counts: Sequence[Sequence[Sequence[int]]], beta: float = 0.5
           ) -> tuple[int, int, int]:
    """Corpus (tp, fp, fn) from per-sentence `item_counts`, replaying the coder choice (it
    depends on the running totals, so the corpus score is not a sum of sentence scores)."""
    total = [0, 0, 0]
    for candidates in counts:
        tp, fp, fn = candidates[_choose(candidates, total, beta)][:3]
        total[0] += tp
        total[1] += fp
        total[2] += fn
    return total[0], total[1], total[2]


def score_counts(counts: Sequence[Sequence[Sequence[int]]], beta: float = 0.5
                 ) -> dict[str, float]:
    """P/R/F_beta (0-100) and tp/fp/fn of a corpus given per-sentence `item_counts`."""
    return _scores(*totals(counts, beta), beta)


def item_counts(gold_blocks: Sequence[str | M2Block], hyp_edits: Sequence[list[HypEdit]],
                mode: str = "cs") -> list[list[tuple[int, int, int]]]:
    """Per sentence, (tp, fp, fn) of each coder pair: the sufficient statistics of the score."""
    if len(gold_blocks) != len(hyp_edits):
        raise ValueError(f"{len(gold_blocks)} gold blocks but {len(hyp_edits)} hypotheses")
    return [[c[:3] for c in _candidates(parse_block(raw), h, mode)]
            for raw, h in zip(gold_blocks, hyp_edits)]


def _evaluate(gold_blocks: Sequence[str | M2Block], hyp_edits: Sequence[list[HypEdit]],
              mode: str, beta: float) -> tuple[list[int], dict[str, list[int]]]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if len(gold_blocks) != len(hyp_edits):
        raise ValueError(f"{len(gold_blocks)} gold blocks but {len(hyp_edits)} hypotheses")
    total = [0, 0, 0]
    cats_total: dict[str, list[int]] = {}
    for raw, h_edits in zip(gold_blocks, hyp_edits):
        candidates = _candidates(parse_block(raw), h_edits, mode)
        tp, fp, fn, cats = candidates[_choose(candidates, total, beta)] if candidates \
            else (0, 0, 0, {})
        total[0] += tp
        total[1] += fp
        total[2] += fn
        for c, v in cats.items():
            acc = cats_total.setdefault(c, [0, 0, 0])
            for k in range(3):
                acc[k] += v[k]
    return total, cats_total


def corpus_errant(gold_blocks: Sequence[str | M2Block], hypotheses: Sequence[str],
                  mode: str = "cs", beta: float = 0.5,
                  hyp_edits: Sequence[list[HypEdit]] | None = None) -> dict[str, float]:
    """Corpus ERRANT P/R/F_beta (0-100) and tp/fp/fn against M2 gold blocks.

    Pass `hyp_edits` (from `extract_edits`) to skip the extraction."""
    if hyp_edits is None:
        blocks = [parse_block(b) for b in gold_blocks]
        hyp_edits = extract_edits([b.source for b in blocks], hypotheses)
        gold_blocks = blocks
    (tp, fp, fn), _ = _evaluate(gold_blocks, hyp_edits, mode, beta)
    return _scores(tp, fp, fn, beta)


def errant_breakdown(gold_blocks: Sequence[str | M2Block], hypotheses: Sequence[str],
                     mode: str = "cs", beta: float = 0.5,
                     hyp_edits: Sequence[list[HypEdit]] | None = None) -> dict[str, dict]:
    """Overall scores plus TP/FP/FN/P/R/F per error type ("types", errant -cat 3),
    per operation ("operations": M/R/U and UNK, -cat 1) and per main type ("main", -cat 2)."""
    if hyp_edits is None:
        blocks = [parse_block(b) for b in gold_blocks]
        hyp_edits = extract_edits([b.source for b in blocks], hypotheses)
        gold_blocks = blocks
    (tp, fp, fn), cats = _evaluate(gold_blocks, hyp_edits, mode, beta)

    def grouped(level: int) -> dict[str, dict[str, float]]:
        acc: dict[str, list[int]] = {}
        for cat, cnt in cats.items():
            name = cat if cat == "UNK" or level == 3 else (cat[0] if level == 1 else cat[2:])
            a = acc.setdefault(name, [0, 0, 0])
            for k in range(3):
                a[k] += cnt[k]
        return {name: _scores(acc[name][0], acc[name][1], acc[name][2], beta)
                for name in sorted(acc)}

    return {"overall": _scores(tp, fp, fn, beta), "types": grouped(3),
            "operations": grouped(1), "main": grouped(2)}
