"""SARI and GLEU: hand-computed cases, the quirks, and the published anchors."""
from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import pytest

from stages.lib.metrics.gleu import _stats, _tokens, corpus_gleu, sentence_gleu
from stages.lib.metrics.sari import corpus_sari, normalize, sentence_sari

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("WRITING_ALPACA_MIRROR", REPO.parent / "shared" / "corpora"))
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(),
                                  reason=f"corpus mirror not found at {MIRROR} "
                                         "(set WRITING_ALPACA_MIRROR)")


def lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- SARI

def test_sari_hand_computed() -> None:
    # Orders 1-2: add/keep/delete all perfect. Order 3: add and delete perfect, keep has
    # no n-gram at all (P = R = 0 -> F1 0). Order 4: nothing anywhere -> all 0.
    r = corpus_sari(["a b c"], ["a b d"], [["a b d"]])
    assert r["add"] == pytest.approx(75.0)
    assert r["keep"] == pytest.approx(50.0)
    assert r["delete"] == pytest.approx(75.0)
    assert r["sari"] == pytest.approx(200 / 3)


def test_sari_identity_has_no_add_or_delete() -> None:
    src, refs = ["The cat sat on the mat ."], [["The cat sat .", "A cat sat on a mat ."]]
    r = corpus_sari(src, src, refs)
    assert r["add"] == 0.0 and r["delete"] == 0.0
    assert r["sari"] == pytest.approx(r["keep"] / 3)


def test_sari_lowercase_and_13a() -> None:
    assert normalize("Islam's able-bodied, U.S. 3-4 (x)") == "islam's able-bodied , u . s . 3 - 4 ( x )"
    src, refs = ["He went home."], [["He went home ."]]
    assert corpus_sari(src, ["HE WENT HOME."], refs) == corpus_sari(src, src, refs)


def test_sari_ragged_references_and_sentence_level() -> None:
    refs = [["a b d"], ["x y", "x z"]]
    r = corpus_sari(["a b c", "x w"], ["a b d", "x y"], refs)
    assert 0 < r["sari"] <= 100
    assert sentence_sari("a b c", "a b d", ["a b d"]) == corpus_sari(["a b c"], ["a b d"],
                                                                     [["a b d"]])
    with pytest.raises(ValueError):
        corpus_sari(["a"], ["a", "b"], [["a"]])


@needs_mirror
@pytest.mark.parametrize("stem,n_refs,anchor", [
    ("asset/asset.test.orig", 10, 20.73),
    ("turkcorpus/easse_detok/test.truecase.detok.orig", 8, 26.29),
])
def test_sari_published_anchor(stem: str, n_refs: int, anchor: float) -> None:
    src_path = MIRROR / stem
    base = str(src_path)[: -len("orig")]
    src = lines(src_path)
    streams = [lines(Path(f"{base}simp.{k}")) for k in range(n_refs)]
    r = corpus_sari(src, src, [list(x) for x in zip(*streams)])
    assert round(r["sari"], 2) == anchor


# ---------------------------------------------------------------- GLEU

def test_gleu_source_ngram_penalty() -> None:
    # hypothesis = source; one reference differing in the last token. Without the
    # source-ngram penalty precisions would be 5/6, 4/5, 3/4, 2/3.
    r = corpus_gleu(["a b c d e f"], ["a b c d e f"], [["a b c d e g"]], iterations=5)
    assert r["gleu"] == pytest.approx(100 * (4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    assert r["std"] == 0.0


def test_gleu_source_types_removed_entirely() -> None:
    # d = source unigrams minus every type in the reference: {b: 2} (not {a: 1, b: 2}),
    # so numerator = |h & r| - |h & d| = 2 - 1.
    src = _tokens("a a b b")
    src_ng = [Counter(tuple(src[i:i + n]) for i in range(len(src) + 1 - n)) for n in range(1, 5)]
    st = _stats(_tokens("a a x b"), src_ng, _tokens("a x y z"))
    assert st[:4] == [4, 4, 1, 4]


def test_gleu_zero_statistic_gives_zero_and_sentence_smoothing() -> None:
    assert corpus_gleu(["a b c"], ["a b c"], [["a b c"]], iterations=3)["gleu"] == 0.0
    s = sentence_gleu("a b c", "a b c", ["a b c"])  # zeros smoothed to 1
    assert s["gleu"] == pytest.approx(100 * math.exp(0.0))


def test_gleu_ascii_whitespace_only() -> None:
    assert _tokens("a\u00a0b c") == ["a\u00a0b".encode(), b"c"]


@needs_mirror
def test_gleu_jfleg_anchor_py2_and_py3() -> None:
    d = MIRROR / "jfleg" / "test"
    src = (d / "test.src").read_text(encoding="utf-8").splitlines()
    refs = [(d / f"test.ref{k}").read_text(encoding="utf-8").splitlines() for k in range(4)]
    items = [list(x) for x in zip(*refs)]
    py2 = corpus_gleu(src, src, items)
    assert round(py2["gleu"], 2) == 40.54
    assert py2["gleu"] == pytest.approx(40.5430, abs=5e-5)  # gleu.py prints 0.405430
    py3 = corpus_gleu(src, src, items, sampling="py3")
    assert py3["gleu"] != py2["gleu"] and abs(py3["gleu"] - py2["gleu"]) < 0.5
