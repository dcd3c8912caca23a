"""MaxMatch scorer and the shared M2 parser: hand cases and the official quirks."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from stages.lib.metrics.m2 import M2FormatError, corpus_m2, parse_m2, system_edits
from stages.lib.metrics.m2format import split_blocks


def block(src: str, *edits: str) -> str:
    return "\n".join([f"S {src}"] + [f"A {e}" for e in edits])


def test_parse_m2_views_and_annotators() -> None:
    text = ("S The cat sat .\nA 1 2|||Nn|||cats||kitties|||REQUIRED|||-NONE-|||0\n"
            "A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||1\n\nS Fine .\n")
    b1, b2 = parse_m2(text, "x.m2")
    assert b1.tokens == ["The", "cat", "sat", "."]
    assert b1.annotators == [0, 1]
    assert b1.edits_by_annotator() == {0: [b1.edits[0]], 1: []}
    assert b1.edits[0].corrections == ("cats", "kitties")
    assert b1.edits[0].raw_correction == "cats||kitties"
    assert b1.corrected(0) == "The cats sat ."
    assert b2.annotators == [0] and b2.edits == []
    assert split_blocks(text) == [text.split("\n\n")[0], "S Fine ."]
    ins = parse_m2(block("a b c", "1 1|||X|||x|||R|||-NONE-|||0", "1 1|||X|||y|||R|||-NONE-|||0",
                         "1 2|||X|||-NONE-|||R|||-NONE-|||0", "3 3|||X|||z w|||R|||-NONE-|||0"))
    assert ins[0].corrected(0) == "a x y c z w"


@pytest.mark.parametrize("bad,line,msg", [
    ("S a b\nA 0 x|||X|||y|||REQUIRED|||-NONE-|||0", 2, "non-integer offsets"),
    ("S a b\nA 2 1|||X|||y|||REQUIRED|||-NONE-|||0", 2, "end offset"),
    ("S a b\nA 1 3|||X|||y|||REQUIRED|||-NONE-|||0", 2, "beyond the sentence"),
    ("S a b\nA 1|||X|||y|||REQUIRED|||-NONE-|||0", 2, "bad offsets"),
    ("S a b\nA -1 1|||X|||y|||REQUIRED|||-NONE-|||0", 2, "negative offsets"),
    ("A 0 1|||X|||y|||REQUIRED|||-NONE-|||0\nS a b", 1, "before any S line"),
    ("S a b\nA 0 1|||X|||y|||REQUIRED|||-NONE-", 2, "6 '|||' fields"),
    ("S a b\nS c d", 2, "second S line"),
    ("", 1, "no S line"),
])
def test_parse_m2_errors_name_file_and_line(bad: str, line: int, msg: str) -> None:
    with pytest.raises(M2FormatError) as err:
        parse_m2(bad, "gold.m2")
    assert isinstance(err.value, ValueError)
    assert err.value.line == line and str(err.value).startswith(f"gold.m2:{line}:")
    assert msg in str(err.value)


def test_simple_correction_and_counts() -> None:
    gold = [block("The cat sat .", "1 2|||Nn|||cats|||REQUIRED|||-NONE-|||0")]
    r = corpus_m2(gold, ["The cats sat ."])
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0)
    assert r["precision"] == r["recall"] == r["f0.5"] == 100.0
    wrong = corpus_m2(gold, ["The dogs sat ."])
    assert (wrong["tp"], wrong["fp"], wrong["fn"]) == (0, 1, 1) and wrong["f0.5"] == 0.0


def test_nothing_proposed_gives_precision_one() -> None:
    gold = [block("a b", "0 1|||X|||c|||REQUIRED|||-NONE-|||0")]
    r = corpus_m2(gold, ["a b"])
    assert (r["precision"], r["recall"], r["f0.5"]) == (100.0, 0.0, 0.0)
    empty_gold = corpus_m2([block("a b")], ["a b"])
    assert (empty_gold["precision"], empty_gold["recall"]) == (100.0, 100.0)


def test_merged_edit_over_an_unchanged_word() -> None:
    # The gold edit spans an unchanged token; the lattice offers the merged arc
    # (1 unchanged word <= max_unchanged_words) and the gold weight makes it the path.
    gold = [block("a b c", "0 3|||X|||x b z|||REQUIRED|||-NONE-|||0")]
    assert corpus_m2(gold, ["x b z"])["tp"] == 1
    assert system_edits(gold[0], "x b z") == [(0, 3, "a b c", "x b z")]
    # With max_unchanged_words=0 the merge is not allowed: two separate edits, no match.
    r = corpus_m2(gold, ["x b z"], max_unchanged_words=0)
    assert (r["tp"], r["fp"], r["fn"]) == (0, 2, 1)


def test_insertion_at_sentence_start_uses_offset_zero() -> None:
    gold = [block("cat sat .", "0 0|||ArtOrDet|||The|||REQUIRED|||-NONE-|||0")]
    assert corpus_m2(gold, ["The cat sat ."])["tp"] == 1


def test_annotator_choice_source_copy_picks_fewer_gold_edits() -> None:
    gold = [block("a b c d",
                  "0 1|||X|||x|||REQUIRED|||-NONE-|||0",
                  "1 2|||X|||y|||REQUIRED|||-NONE-|||0",
                  "2 3|||X|||z|||REQUIRED|||-NONE-|||1")]
    r = corpus_m2(gold, ["a b c d"])
    assert (r["tp"], r["fp"], r["fn"]) == (0, 0, 1)


def test_annotator_choice_uses_running_totals() -> None:
    # Sentence 2 alone is scored best with annotator 1 (tp 1), not 0.
    gold = [block("a b", "0 1|||X|||x|||REQUIRED|||-NONE-|||0"),
            block("c d", "0 1|||X|||y|||REQUIRED|||-NONE-|||0",
                  "1 2|||X|||w|||REQUIRED|||-NONE-|||1")]
    r = corpus_m2(gold, ["x b", "c w"])
    assert (r["tp"], r["fp"], r["fn"]) == (2, 0, 0)


def test_duplicate_gold_edits_count_twice() -> None:
    # The official matcher does not stop at the first matching gold edit.
    gold = [block("a b", "0 1|||X|||x|||REQUIRED|||-NONE-|||0",
                  "0 1|||Y|||x|||REQUIRED|||-NONE-|||0")]
    r = corpus_m2(gold, ["x b"])
    assert (r["tp"], r["fp"], r["fn"]) == (2, -1, 0)


# Expected counts below were produced by the official m2scorer (Python 2.7) on these exact
# sentences (repeated tokens -> many co-optimal alignments, runs of gold insertions at one
# position -> the two-ended insertion scan, alternatives, several annotators, float ties).
def _a(span: str, corr: str, ann: int) -> str:
    return f"{span}|||X|||{corr}|||REQUIRED|||-NONE-|||{ann}"


OFFICIAL_CASES = [
    # (gold block, hypothesis, (tp, fp, fn))
    (block("a a b a a", _a("1 2", "-NONE-", 0)), "a b a a c", (1, 1, 0)),
    (block("x y z x y z", _a("3 6", "-NONE-", 0)), "x y z z y x", (0, 1, 1)),
    (block("a a a", _a("3 3", "b c||c", 0), _a("3 3", "-NONE-", 0), _a("3 3", "c", 0),
           _a("2 3", "the a", 1)), "the a b b b", (1, 2, 0)),
    (block("a the c a b a a c", _a("2 4", "the a", 0), _a("3 5", "a", 1)), "a c a a a c c",
     (1, 2, 0)),
    (block("the c b c b the", _a("6 6", "the c", 0), _a("6 6", "x c", 0),
           _a("6 6", "-NONE-", 0), _a("1 2", "-NONE-", 1), _a("4 5", "a", 1),
           _a("6 6", "a", 1)), "the c b a c", (1, 2, 2)),
    (block("c c c c c the", _a("3 4", "c", 0), _a("6 6", "the c", 0), _a("6 6", "a", 0),
           _a("1 2", "-NONE-", 1), _a("4 5", "-NONE-", 1), _a("6 6", "the c", 1)),
     "c c c c the the the c", (2, 1, 1)),
    # Two paths whose weights are equal in exact arithmetic but differ by float rounding:
    # only a literal replay of the Bellman-Ford passes keeps the official predecessor.
    (block("d . , , a d the c the b c c b c the .", _a("14 15", "b", 0), _a("15 16", "a", 0),
           _a("3 5", "c", 0)), "d c . , , , a d the c . the . b c the b c b b .", (1, 3, 2)),
]


@pytest.mark.parametrize("gold,hyp,counts", OFFICIAL_CASES)
def test_matches_official_on_tie_cases(gold: str, hyp: str, counts: tuple) -> None:
    r = corpus_m2([gold], [hyp])
    assert (r["tp"], r["fp"], r["fn"]) == counts


MIRROR = Path(os.environ.get("WRITING_ALPACA_MIRROR",
                             Path(__file__).resolve().parents[2] / "shared" / "corpora"))


@pytest.mark.slow
@pytest.mark.parametrize("rel,annotator,counts", [
    # Official m2scorer (Python 2.7) on the source copy and on annotator k's corrections.
    ("conll2014-test/noalt/official-2014.combined.m2", None, (0, 0, 1994)),
    ("conll2014-test/noalt/official-2014.combined.m2", 0, (2380, 25, 20)),
    ("conll2014-test/noalt/official-2014.combined.m2", 1, (3190, 39, 126)),
    ("bea2019-dev/ABCN.dev.gold.bea19.m2", 0, (7415, 75, 217)),
])
def test_full_set_matches_official(rel: str, annotator: int | None, counts: tuple) -> None:
    path = MIRROR / rel
    if not path.is_file():
        pytest.skip(f"corpus mirror not found at {MIRROR}")
    blocks = parse_m2(path.read_text(encoding="utf-8"), str(path))
    hyps = [b.source if annotator is None or annotator not in b.annotators
            else b.corrected(annotator) for b in blocks]
    r = corpus_m2(blocks, hyps)
    assert (r["tp"], r["fp"], r["fn"]) == counts
