"""SARI exactly as EASSE `corpus_sari` computes it with its defaults.

Defaults reproduced: lowercase=True, sacrebleu's own `13a` tokenizer (imported, not
re-implemented, so tokenization can never drift from EASSE's), F1 for deletion, the
"macro" version (per-order F1 averaged over the 4 orders). Counts are summed over the
corpus per n-gram order before any ratio is taken. See docs/metrics.md section 1.

References are given PER ITEM (`references[i]` = list of references of item i) and may be
ragged; EASSE's reference streams are the transpose of that.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain

from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

NGRAM_ORDER = 4
_TOKENIZER = Tokenizer13a()


@lru_cache(maxsize=65536)  # references and sources repeat across calls (e.g. bench, tests)
def normalize(text: str) -> str:
    """EASSE normalisation: str.lower() first, then sacrebleu 13a."""
    return _TOKENIZER(text.lower())


def _ngram_lists(text: str) -> list[list[tuple[str, ...]]]:
    # Tuples instead of EASSE's space-joined strings: same identity (tokens never contain
    # spaces), built by zip in C.
    toks = text.split()
    return [list(zip(*[toks[i:] for i in range(n)])) for n in range(1, NGRAM_ORDER + 1)]


def _add_stats(stats: list[list[int]], src: str, hyp: str, refs: Sequence[str]) -> None:
    """Accumulate the 9 counters x 4 orders of one item into `stats` (in place)."""
    s_ng = [Counter(x) for x in _ngram_lists(src)]
    h_ng = [Counter(x) for x in _ngram_lists(hyp)]
    r_lists = [_ngram_lists(r) for r in refs]
    k = len(refs)
    for n in range(NGRAM_ORDER):
        # References are pooled by adding their count tables.
        so, sh = s_ng[n], h_ng[n]
        sr = Counter(chain.from_iterable(rl[n] for rl in r_lists))
        # ADD works on sets (presence only).
        added = sh.keys() - so.keys()
        st = stats[n]
        st[0] += len(added & sr.keys())
        st[1] += len(added)
        st[2] += len(sr.keys() - so.keys())
        # KEEP and DELETE work on counts scaled by the number of references.
        for g, o in so.items():
            o_k, h_k, r = o * k, sh.get(g, 0) * k, sr.get(g, 0)
            kept_sys, kept_ref = min(o_k, h_k), min(o_k, r)
            st[3] += min(kept_sys, kept_ref)
            st[4] += kept_sys
            st[5] += kept_ref
            del_sys, del_ref = max(0, o_k - h_k), max(0, o_k - r)
            st[6] += min(del_sys, del_ref)
            st[7] += del_sys
            st[8] += del_ref


def _f1(correct: int, sys_total: int, ref_total: int) -> float:
    p = correct / sys_total if sys_total > 0 else 0.0
    r = correct / ref_total if ref_total > 0 else 0.0
    return 2 * p * r / (p + r) if p > 0 and r > 0 else 0.0  # 0 unless both P>0 and R>0


def _precision(correct: int, sys_total: int, ref_total: int) -> float:
    return correct / sys_total if sys_total > 0 else 0.0


def _scores(stats: list[list[int]], f1_for_deletion: bool = True) -> dict[str, float]:
    add = keep = dele = 0.0
    del_fn = _f1 if f1_for_deletion else _precision
    for st in stats:  # same accumulation order as EASSE, so floats are bit-identical
        add += _f1(st[0], st[1], st[2]) / NGRAM_ORDER
        keep += _f1(st[3], st[4], st[5]) / NGRAM_ORDER
        dele += del_fn(st[6], st[7], st[8]) / NGRAM_ORDER
    add, keep, dele = 100.0 * add, 100.0 * keep, 100.0 * dele
    return {"sari": (add + keep + dele) / 3, "add": add, "keep": keep, "delete": dele}


def item_stats(source: str, hypothesis: str, references: Sequence[str]) -> list[list[int]]:
    """One item's 9 counters x 4 n-gram orders: the sufficient statistics of corpus SARI
    (the corpus score is `score_stats` of their element-wise sum over items)."""
    if not references:
        raise ValueError("every item needs at least one reference")
    stats = [[0] * 9 for _ in range(NGRAM_ORDER)]
    _add_stats(stats, normalize(source), normalize(hypothesis), [normalize(r) for r in references])
    return stats


def score_stats(stats: Sequence[Sequence[int]], use_f1_for_deletion: bool = True
                ) -> dict[str, float]:
    """SARI and its components from summed counters (shape 4 x 9)."""
    return _scores([list(row) for row in stats], use_f1_for_deletion)


def score_items(items: Sequence[Sequence[Sequence[int]]], use_f1_for_deletion: bool = True
                ) -> dict[str, float]:
    """Corpus SARI from per-item `item_stats`: their counters summed, then scored."""
    total = [[0] * 9 for _ in range(NGRAM_ORDER)]
    for stats in items:
        for row, item_row in zip(total, stats):
            for k, value in enumerate(item_row):
                row[k] += value
    return _scores(total, use_f1_for_deletion)


def corpus_sari(sources: Sequence[str], hypotheses: Sequence[str],
                references: Sequence[Sequence[str]],
                use_f1_for_deletion: bool = True) -> dict[str, float]:
    """Corpus SARI (0-100) with its add / keep / delete components.

    references[i] is the list of references of item i (any number >= 1 per item).
    """
    if not len(sources) == len(hypotheses) == len(references):
        raise ValueError(f"length mismatch: {len(sources)} sources, {len(hypotheses)} "
                         f"hypotheses, {len(references)} reference lists")
    return score_items([item_stats(src, hyp, refs)
                        for src, hyp, refs in zip(sources, hypotheses, references)],
                       use_f1_for_deletion)


def sentence_sari(source: str, hypothesis: str, references: Sequence[str],
                  use_f1_for_deletion: bool = True) -> dict[str, float]:
    """One item scored as a one-item corpus (what EASSE's report code does; F1 deletion)."""
    return corpus_sari([source], [hypothesis], [references], use_f1_for_deletion)
