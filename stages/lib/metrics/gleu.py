"""GLEU for JFLEG, exactly as keisks/jfleg `eval/gleu.py` (the "updated" GLEU, 2016).

Per sentence and reference: hypothesis length, reference length and, for n = 1..4,
numerator max(0, |h & r| - |h & d|) with d = source n-grams minus every n-gram *type* the
reference contains, denominator = number of hypothesis n-grams. Corpus score per
iteration: one sampled reference per sentence, sums over sentences, BLEU brevity
penalty, no smoothing. Final score = mean over 500 iterations (std = population std).

Reference sampling: iteration j reseeds with j*101. sampling="py2" draws
int(random() * num_refs), which reproduces the published (Python 2) numbers bit-exactly;
sampling="py3" draws randint(0, num_refs-1) like the script under Python 3.
Tokenisation follows the same interpreter: "py2" splits on ASCII whitespace only (the
Python 2 script splits byte strings), "py3" on all Unicode whitespace (str.split()).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

ORDER = 4
_Z95 = NormalDist().inv_cdf(0.975)


def _tokens(text: str, sampling: str = "py2") -> list:
    if sampling == "py3":
        return text.split()
    # bytes.split() splits on ASCII whitespace only, like Python 2 str.split().
    return text.encode("utf-8").split()


def _ngrams(toks: list, n: int) -> Counter[tuple]:
    return Counter(zip(*[toks[i:] for i in range(n)]))


def _all_ngrams(toks: list) -> list[Counter[tuple]]:
    return [_ngrams(toks, n) for n in range(1, ORDER + 1)]


def _stats(hyp: list, src_ng: list[Counter], ref: list,
           hyp_ng: list[Counter] | None = None) -> list[int]:
    """The 10 numbers of one (hypothesis, reference) pair."""
    hyp_ng = hyp_ng or _all_ngrams(hyp)
    out = [len(hyp), len(ref)]
    for n in range(1, ORDER + 1):
        h, r = hyp_ng[n - 1], _ngrams(ref, n)
        # Source n-grams with every type that occurs in the reference removed entirely.
        d = {g: c for g, c in src_ng[n - 1].items() if g not in r}
        hit_ref = sum(min(c, r[g]) for g, c in h.items() if g in r)
        hit_src = sum(min(c, d[g]) for g, c in h.items() if g in d)
        out.append(max(hit_ref - hit_src, 0))
        out.append(max(len(hyp) + 1 - n, 0))
    return out


def _gleu(stats: Sequence[int], smooth: bool = False) -> float:
    if smooth:
        stats = [s if s != 0 else 1 for s in stats]
    if any(s == 0 for s in stats):
        return 0.0
    c, r = stats[0], stats[1]
    log_prec = sum(math.log(float(x) / y) for x, y in zip(stats[2::2], stats[3::2])) / 4
    return math.exp(min(0, 1 - float(r) / c) + log_prec)


def _indices(num_refs: Sequence[int], iterations: int, sampling: str) -> np.ndarray:
    """Reference index per (iteration, sentence); private RNG, same seeding as the script."""
    if sampling not in ("py2", "py3"):
        raise ValueError(f"sampling must be 'py2' or 'py3', not {sampling!r}")
    out = np.empty((iterations, len(num_refs)), dtype=np.int64)
    for j in range(iterations):
        rng = random.Random(j * 101)
        if sampling == "py2":
            rnd = rng.random
            out[j] = [int(rnd() * k) for k in num_refs]
        else:
            out[j] = [rng.randint(0, k - 1) for k in num_refs]
    return out


def _summary(scores: Sequence[float]) -> dict[str, float]:
    mean = float(np.mean(scores))
    std = float(np.std(scores))
    return {"gleu": 100.0 * mean, "std": 100.0 * std,
            "ci_low": 100.0 * (mean - _Z95 * std), "ci_high": 100.0 * (mean + _Z95 * std)}


def corpus_gleu(sources: Sequence[str], hypotheses: Sequence[str],
                references: Sequence[Sequence[str]], iterations: int = 500,
                sampling: str = "py2") -> dict[str, float]:
    """Corpus GLEU (0-100): mean over `iterations` reference samplings, with std and a
    normal 95% interval. references[i] = the references of item i (ragged allowed)."""
    if not len(sources) == len(hypotheses) == len(references):
        raise ValueError(f"length mismatch: {len(sources)} sources, {len(hypotheses)} "
                         f"hypotheses, {len(references)} reference lists")
    if any(len(r) == 0 for r in references):
        raise ValueError("every item needs at least one reference")
    # table[i][k] = the 10 numbers of sentence i against reference k
    num_refs = [len(r) for r in references]
    idx = _indices(num_refs, iterations, sampling)  # validates `sampling` first
    table: list[list[list[int]]] = []
    for src, hyp, refs in zip(sources, hypotheses, references):
        src_ng = _all_ngrams(_tokens(src, sampling))
        h = _tokens(hyp, sampling)
        h_ng = _all_ngrams(h)
        table.append([_stats(h, src_ng, _tokens(r, sampling), h_ng) for r in refs])
    width = max(num_refs, default=1)
    arr = np.zeros((len(table), width, 2 + 2 * ORDER), dtype=np.int64)
    for i, rows in enumerate(table):
        arr[i, : len(rows)] = rows
    rows_i = np.arange(len(table))
    sums = np.stack([arr[rows_i, idx[j]].sum(axis=0) for j in range(iterations)]) \
        if len(table) else np.zeros((iterations, 2 + 2 * ORDER), dtype=np.int64)
    scores = [_gleu([int(x) for x in s]) for s in sums]
    return _summary(scores)


def sentence_gleu(source: str, hypothesis: str, references: Sequence[str]) -> dict[str, float]:
    """Sentence GLEU (the script's --sent): score against each reference separately with
    every zero statistic replaced by 1, then mean / population std over the references."""
    if not references:
        raise ValueError("need at least one reference")
    src_ng = _all_ngrams(_tokens(source))
    h = _tokens(hypothesis)
    return _summary([_gleu(_stats(h, src_ng, _tokens(r)), smooth=True) for r in references])
