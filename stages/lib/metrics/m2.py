"""MaxMatch (M2) scorer, numerically identical to nusnlp/m2scorer (Python 2.7) defaults.

Public API:
    parse_m2(text, path) -> list[M2Block]      (the project's one M2 parser, re-exported)
    M2FormatError                               (ValueError naming file and line)
    corpus_m2(gold_blocks, hypotheses, beta=0.5, max_unchanged_words=2) -> dict
    sentence_m2(gold_block, hypothesis, ...) -> dict   (one sentence, no running totals)

Scores are on a 0-100 scale; tp/fp/fn are the official correct / proposed - correct /
gold - correct counts. See docs/metrics.md section 3 for the quirks kept here.
"""
from __future__ import annotations

from collections.abc import Sequence

from stages.lib.metrics.m2_lattice import Lattice, count_correct
from stages.lib.metrics.m2_weights import Gold
from stages.lib.metrics.m2format import M2Block, M2FormatError, parse_block, parse_m2

__all__ = [
    "M2Block",
    "M2FormatError",
    "corpus_m2",
    "gold_edits",
    "item_options",
    "parse_m2",
    "score_options",
    "sentence_m2",
    "system_edits",
]


def gold_edits(block: M2Block) -> dict[int, list[Gold]]:
    """Annotator -> gold edits as the M2 scorer sees them (noops dropped, file order)."""
    toks = block.tokens
    return {ann: [(e.start, e.end, " ".join(toks[e.start:e.end]), e.corrections) for e in edits]
            for ann, edits in block.edits_by_annotator().items()}


def _f_choice(c: float, e: float, g: float, beta: float) -> float:
    """The F used to choose annotators (official comp_f1, including its 0/0 -> 1.0)."""
    try:
        return (1 + beta * beta) * c / (beta * beta * g + e)
    except ZeroDivisionError:
        return 1.0 if c == 0.0 else 0.0


def _sentence_options(block: M2Block, hypothesis: str, max_unchanged_words: int
                      ) -> list[tuple[int, int, int]]:
    """(correct, proposed, gold) for each annotator, in annotator order."""
    src = block.tokens
    hyp = hypothesis.split()
    golds = gold_edits(block)
    if src == hyp:  # the lattice has only no-op arcs: nothing is ever proposed
        return [(0, 0, len(g)) for g in golds.values()]
    lat = Lattice(src, hyp, max_unchanged_words)
    out = []
    for gold in golds.values():
        seq = lat.best_edits(lat.weights(gold))
        out.append((count_correct(seq, gold), len(seq), len(gold)))
    return out


def system_edits(block: str | M2Block, hypothesis: str, annotator: int | None = None,
                 max_unchanged_words: int = 2) -> list[tuple[int, int, str, str]]:
    """The MaxMatch edit sequence (start, end, original, correction) for one annotator
    (default: the first). Useful for inspection; scoring uses `corpus_m2`."""
    b = parse_block(block)
    golds = gold_edits(b)
    gold = golds[annotator if annotator is not None else next(iter(golds))]
    src, hyp = b.tokens, hypothesis.split()
    if src == hyp:
        return []
    lat = Lattice(src, hyp, max_unchanged_words)
    return lat.best_edits(lat.weights(gold))


def _prf(correct: float, proposed: float, gold: float, beta: float) -> dict[str, float]:
    p = correct / proposed if proposed else 1.0
    r = correct / gold if gold else 1.0
    denom = beta * beta * p + r
    f = (1.0 + beta * beta) * p * r / denom if denom else 0.0
    return {"precision": 100.0 * p, "recall": 100.0 * r, f"f{beta:g}": 100.0 * f}


def item_options(gold_block: str | M2Block, hypothesis: str, max_unchanged_words: int = 2
                 ) -> list[tuple[int, int, int]]:
    """One sentence's sufficient statistics: (correct, proposed, gold) per annotator.

    The corpus score is not a sum of these: which annotator a sentence takes depends on
    the running totals of the sentences before it, so `totals` replays that choice."""
    return _sentence_options(parse_block(gold_block), hypothesis.strip(), max_unchanged_words)


def totals(options: Sequence[Sequence[Sequence[int]]], beta: float = 0.5
           ) -> tuple[float, float, float]:
    """Corpus (correct, proposed, gold): per sentence in order, the annotator whose counts
    maximise F_beta of the running totals plus this sentence (official tie-breaks)."""
    sq = beta * beta
    tot_c = tot_p = tot_g = 0.0  # floats, as in the official running totals
    for sentence in options:
        best = (0, 0, 0)
        f_max, c_max, p_min, g_min = -1.0, -1.0, float("inf"), float("inf")
        for c, p, g in sentence:
            lc, lp, lg = tot_c + c, tot_p + p, tot_g + g
            f = _f_choice(lc, lp, lg, beta)
            # Higher F; then more correct; then smaller proposed + beta^2 * gold; else first.
            if f_max < f or (f_max == f and c_max < lc) or \
                    (f_max == f and c_max == lc and p_min + sq * g_min > lp + sq * lg):
                f_max, c_max, p_min, g_min = f, lc, lp, lg
                best = (c, p, g)
        tot_c += best[0]
        tot_p += best[1]
        tot_g += best[2]
    return tot_c, tot_p, tot_g


def score_options(options: Sequence[Sequence[Sequence[int]]], beta: float = 0.5
                  ) -> dict[str, float]:
    """P/R/F_beta (0-100) and tp/fp/fn of a corpus given per-sentence `item_options`."""
    tot_c, tot_p, tot_g = totals(options, beta)
    out: dict[str, float] = _prf(tot_c, tot_p, tot_g, beta)
    out.update(tp=int(tot_c), fp=int(tot_p - tot_c), fn=int(tot_g - tot_c))
    return out


def corpus_m2(gold_blocks: Sequence[str | M2Block], hypotheses: Sequence[str],
              beta: float = 0.5, max_unchanged_words: int = 2) -> dict[str, float]:
    """Corpus MaxMatch P/R/F_beta (0-100) and tp/fp/fn.

    gold_blocks: one M2 block per sentence (its text, or a parsed M2Block).
    hypotheses: one system sentence per block (stripped and whitespace-split here).
    """
    if len(gold_blocks) != len(hypotheses):
        raise ValueError(f"{len(gold_blocks)} gold blocks but {len(hypotheses)} hypotheses")
    return score_options([item_options(raw, hyp, max_unchanged_words)
                          for raw, hyp in zip(gold_blocks, hypotheses)], beta)


def sentence_m2(gold_block: str | M2Block, hypothesis: str, beta: float = 0.5,
                max_unchanged_words: int = 2) -> dict[str, float]:
    """One sentence scored on its own (annotator chosen as for a one-sentence corpus)."""
    return corpus_m2([gold_block], [hypothesis], beta, max_unchanged_words)
