"""The bootstrap scores a resample exactly as the official scorer scores that item list.

Every benchmark metric is a corpus metric: SARI and GLEU pool n-gram counts over the
corpus (GLEU also draws one reference per position), M2 and ERRANT choose an annotator
per sentence from the running totals of the sentences before it. So a resampled score is
not a mean of sentence scores; these tests check, on real test-set items with a mix of
corrected, copied and damaged outputs, that (a) the identity resample reproduces the
corpus metric and (b) any resample equals the metric computed directly on the resampled
item list - bit for bit.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from stages.lib.evaluation.bootstrap import (
    BootstrapParams,
    interval,
    p_value,
    paired,
    resample_indices,
    scores_for,
)

N_ITEMS = 24


def damage(text: str, rng: random.Random) -> str:
    """Drop, duplicate or swap a few tokens (a system that edits, not always well)."""
    tokens = text.split()
    for _ in range(max(1, len(tokens) // 6)):
        if len(tokens) < 2:
            break
        i = rng.randrange(len(tokens) - 1)
        action = rng.choice(("drop", "dup", "swap"))
        if action == "drop":
            del tokens[i]
        elif action == "dup":
            tokens.insert(i, tokens[i])
        else:
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    return " ".join(tokens)


def outputs_for(sources: list[str], references: list[str], seed: int = 1) -> list[str]:
    """A third each: the reference, the source unchanged, a damaged source."""
    rng = random.Random(seed)
    return [(ref, src, damage(src, rng))[i % 3]
            for i, (src, ref) in enumerate(zip(sources, references))]


def some_resamples(n: int) -> list[list[int]]:
    rng = random.Random(7)
    return [[rng.randrange(n) for _ in range(n)] for _ in range(3)] + [[0] * n]


def lines(path: Path, n: int = N_ITEMS) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[:n]


def check_equalities(metric: str, stats: list, corpus_score) -> None:
    """identity resample == corpus score; each resample == the score of the resampled list."""
    n = len(stats)
    assert scores_for(metric, stats, np.arange(n))[0] == corpus_score(list(range(n)))
    for rows in some_resamples(n):
        assert scores_for(metric, stats, np.array(rows))[0] == corpus_score(rows)


def test_sari_resamples_equal_easse_corpus_sari(mirror: Path) -> None:
    from stages.lib.metrics.sari import corpus_sari, item_stats, sentence_sari

    sources = lines(mirror / "asset" / "asset.test.orig")
    refs = list(zip(*[lines(mirror / "asset" / f"asset.test.simp.{k}") for k in range(10)]))
    outputs = outputs_for(sources, [r[0] for r in refs])
    stats = [item_stats(s, o, list(r)) for s, o, r in zip(sources, outputs, refs)]

    def corpus(rows: list[int]) -> float:
        return corpus_sari([sources[i] for i in rows], [outputs[i] for i in rows],
                           [list(refs[i]) for i in rows])["sari"]

    check_equalities("sari", stats, corpus)
    # the corpus score pools counts: it is not the mean of sentence scores
    mean_of_sentences = np.mean([sentence_sari(s, o, list(r))["sari"]
                                 for s, o, r in zip(sources, outputs, refs)])
    assert abs(corpus(list(range(len(stats)))) - mean_of_sentences) > 0.1


def test_gleu_resamples_equal_jfleg_gleu(mirror: Path) -> None:
    from stages.lib.metrics.gleu import corpus_gleu, item_stats

    base = mirror / "jfleg" / "test"
    sources = lines(base / "test.src")
    refs = list(zip(*[lines(base / f"test.ref{k}") for k in range(4)]))
    outputs = outputs_for(sources, [r[1] for r in refs])
    # one item with fewer references: draws depend on each position's reference count
    refs[3] = refs[3][:2]
    stats = [item_stats(s, o, list(r)) for s, o, r in zip(sources, outputs, refs)]

    def corpus(rows: list[int]) -> float:
        return corpus_gleu([sources[i] for i in rows], [outputs[i] for i in rows],
                           [list(refs[i]) for i in rows])["gleu"]

    check_equalities("gleu", stats, corpus)


def gold_blocks(path: Path, n: int) -> list:
    from stages.lib.metrics.m2format import parse_m2

    return parse_m2(path.read_text(encoding="utf-8"), str(path))[:n]


def gec_outputs(blocks: list) -> list[str]:
    """Per sentence one annotator's correction (annotators in turn), a damaged correction
    or a damaged source: so annotators disagree and the running totals decide."""
    rng = random.Random(3)
    outputs = []
    for i, block in enumerate(blocks):
        corrected = block.corrected(block.annotators[i % len(block.annotators)])
        outputs.append((corrected, damage(corrected, rng), damage(block.source, rng))[i % 3])
    return outputs


CONLL = Path("conll2014-test") / "noalt" / "official-2014.combined.m2"


def test_m2_resamples_replay_the_annotator_choice(mirror: Path) -> None:
    from stages.lib.metrics.m2 import _f_choice, _prf, corpus_m2, item_options

    blocks = gold_blocks(mirror / CONLL, 60)
    outputs = gec_outputs(blocks)
    stats = [item_options(b, o) for b, o in zip(blocks, outputs)]

    def corpus(rows: list[int]) -> float:
        return corpus_m2([blocks[i] for i in rows], [outputs[i] for i in rows])["f0.5"]

    check_equalities("m2", stats, corpus)

    # Choosing each sentence's annotator on its own (no running totals) gives other
    # scores on these resamples: the replay is what makes the equalities hold.
    def independent(rows: list[int]) -> float:
        total = [0, 0, 0]
        for i in rows:
            c, p, g = max(stats[i], key=lambda o: (_f_choice(*o, 0.5), o[0]))
            total = [total[0] + c, total[1] + p, total[2] + g]
        return _prf(*total, 0.5)["f0.5"]

    assert any(independent(rows) != corpus(rows) for rows in some_resamples(len(stats)))


@pytest.mark.parametrize("gold", [CONLL, Path("bea2019-dev") / "ABCN.dev.gold.bea19.m2"])
def test_errant_resamples_replay_the_coder_choice(mirror: Path, gold: Path) -> None:
    from stages.lib.metrics.errant_scorer import corpus_errant, extract_edits, item_counts

    # CoNLL-14's two annotators make the coder choice matter; BEA dev is the real use
    blocks = gold_blocks(mirror / gold, 45)
    outputs = gec_outputs(blocks)
    sources = [b.source for b in blocks]
    edits = extract_edits(sources, outputs)
    stats = item_counts(blocks, edits)

    def corpus(rows: list[int]) -> float:
        return corpus_errant([blocks[i] for i in rows], [outputs[i] for i in rows],
                             hyp_edits=[edits[i] for i in rows])["f0.5"]

    check_equalities("errant", stats, corpus)


def test_resample_indices_are_seeded_per_dataset() -> None:
    params = BootstrapParams(resamples=200, seed=0)
    first = resample_indices(30, "jfl", params)
    assert first.shape == (200, 30) and first.min() >= 0 and first.max() < 30
    assert np.array_equal(first, resample_indices(30, "jfl", params))
    assert not np.array_equal(first, resample_indices(30, "bea", params))
    assert not np.array_equal(first, resample_indices(30, "jfl", BootstrapParams(200, 1)))


def test_paired_difference_of_a_system_with_itself_is_inconclusive() -> None:
    scores = np.random.default_rng(0).normal(30, 2, size=1000)
    result = paired(scores, scores.copy(), 0.0)
    assert result == {"delta": 0.0, "ci95": [0.0, 0.0], "p": 1.0, "verdict": "inconclusive"}


def test_paired_verdicts_follow_the_sign_and_the_p_value() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(30, 1, size=1000)
    assert paired(a, a + 3 + rng.normal(0, 1, 1000), 3.0)["verdict"] == "better"
    assert paired(a, a - 3 + rng.normal(0, 1, 1000), -3.0)["verdict"] == "worse"
    noisy = paired(a, a + rng.normal(0.1, 2, 1000), 0.1)
    assert noisy["verdict"] == "inconclusive" and noisy["p"] > 0.05
    assert noisy["ci95"][0] < 0 < noisy["ci95"][1]
    assert p_value(np.full(999, 1.0)) == pytest.approx(2 / 1000)
    assert interval(np.arange(1001, dtype=float)) == [25.0, 975.0]


def test_holm_adjusts_a_family_step_down() -> None:
    from stages.lib.evaluation.bootstrap import holm

    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1, never below a smaller p's
    assert holm([0.2, 0.01]) == pytest.approx([0.2, 0.02])  # input order kept
    assert holm([0.04]) == [0.04] and holm([]) == []
