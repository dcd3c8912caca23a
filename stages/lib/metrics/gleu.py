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
from functools import lru_cache
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


@lru_cache(maxsize=8)
def _uniform_draws(n: int, iterations: int) -> np.ndarray:
    """draws[j, k] = the k-th random() after seed(j*101): the script's RNG stream. A
    draw depends only on the position k, so a resampled corpus reuses the same table."""
    out = np.empty((iterations, n), dtype=np.float64)
    for j in range(iterations):
        rnd = random.Random(j * 101).random
        out[j] = [rnd() for _ in range(n)]
    out.flags.writeable = False
    return out


def _indices(num_refs: Sequence[int], iterations: int, sampling: str) -> np.ndarray:
    """Reference index per (iteration, sentence); private RNG, same seeding as the script."""
    if sampling not in ("py2", "py3"):
        raise ValueError(f"sampling must be 'py2' or 'py3', not {sampling!r}")
    if sampling == "py2":
        # int(random() * k): the float product and truncation numpy does are the same
        return (_uniform_draws(len(num_refs), iterations)
                * np.asarray(num_refs, dtype=np.int64)).astype(np.int64)
    out = np.empty((iterations, len(num_refs)), dtype=np.int64)
    for j in range(iterations):
        rng = random.Random(j * 101)
        out[j] = [rng.randint(0, k - 1) for k in num_refs]
    return out


def _summary(scores: Sequence[float]) -> dict[str, float]:
    mean = float(np.mean(scores))
    std = float(np.std(scores))
    return {"gleu": 100.0 * mean, "std": 100.0 * std,
            "ci_low": 100.0 * (mean - _Z95 * std), "ci_high": 100.0 * (mean + _Z95 * std)}


def item_stats(source: str, hypothesis: str, references: Sequence[str],
               sampling: str = "py2") -> list[list[int]]:
    """One item's sufficient statistics: the 10 numbers against each of its references."""
    if not references:
        raise ValueError("every item needs at least one reference")
    src_ng = _all_ngrams(_tokens(source, sampling))
    h = _tokens(hypothesis, sampling)
    h_ng = _all_ngrams(h)
    return [_stats(h, src_ng, _tokens(r, sampling), h_ng) for r in references]


def stats_table(items: Sequence[Sequence[Sequence[int]]]) -> tuple[np.ndarray, np.ndarray]:
    """(table[i, k] = the 10 numbers of item i against reference k, references per item)."""
    num_refs = np.array([len(rows) for rows in items], dtype=np.int64)
    width = int(num_refs.max()) if len(items) else 1
    table = np.zeros((len(items), width, 2 + 2 * ORDER), dtype=np.int64)
    for i, rows in enumerate(items):
        table[i, : len(rows)] = rows
    return table, num_refs


def score_table(table: np.ndarray, num_refs: np.ndarray, iterations: int = 500,
                sampling: str = "py2") -> dict[str, float]:
    """Corpus GLEU of the items in `table` (in its row order, which fixes the sampled
    reference of each position)."""
    idx = _indices([int(k) for k in num_refs], iterations, sampling)
    if len(table):
        rows = np.arange(len(table))
        sums = table[rows[None, :], idx].sum(axis=1)  # (iterations, 10)
    else:
        sums = np.zeros((iterations, 2 + 2 * ORDER), dtype=np.int64)
    return _summary([_gleu(s) for s in sums.tolist()])


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
    if sampling not in ("py2", "py3"):
        raise ValueError(f"sampling must be 'py2' or 'py3', not {sampling!r}")
    table, num_refs = stats_table([item_stats(src, hyp, refs, sampling)
                                   for src, hyp, refs in zip(sources, hypotheses, references)])
    return score_table(table, num_refs, iterations, sampling)


def sentence_gleu(source: str, hypothesis: str, references: Sequence[str]) -> dict[str, float]:
    """Sentence GLEU (the script's --sent): score against each reference separately with
    every zero statistic replaced by 1, then mean / population std over the references."""
    if not references:
        raise ValueError("need at least one reference")
    src_ng = _all_ngrams(_tokens(source))
    h = _tokens(hypothesis)
    return _summary([_gleu(_stats(h, src_ng, _tokens(r)), smooth=True) for r in references])
