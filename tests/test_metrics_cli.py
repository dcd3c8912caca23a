"""`writing-alpaca score ...`: JSON output and exit code 2 on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stages.cli import main


def write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["score", *args])
    return res.exit_code, res.stdout, res.stderr


def test_sari_and_gleu_json(tmp_path: Path) -> None:
    src = write(tmp_path, "src", "a b c\nx y z w q\n")
    hyp = write(tmp_path, "hyp", "a b d\nx y z w q")  # no trailing newline
    r1 = write(tmp_path, "r1", "a b d\nx y z w v\n")
    r2 = write(tmp_path, "r2", "a b e\nx y z w q\n")
    code, out, _ = run("sari", "--source", src, "--reference", r1, "--reference", r2,
                       "--hypothesis", hyp)
    assert code == 0
    d = json.loads(out)
    assert set(d) == {"sari", "add", "keep", "delete"} and 0 < d["sari"] < 100
    code, out, _ = run("gleu", "--source", src, "--reference", r1, "--reference", r2,
                       "--hypothesis", hyp)
    assert code == 0 and set(json.loads(out)) == {"gleu"}


def test_m2_json(tmp_path: Path) -> None:
    gold = write(tmp_path, "g.m2", "S The cat sat .\nA 1 2|||Nn|||cats|||REQUIRED|||-NONE-|||0\n"
                                   "\nS Fine .\n")
    hyp = write(tmp_path, "h", "The cats sat .\nFine .\n")
    code, out, _ = run("m2", "--gold", gold, "--hypothesis", hyp)
    assert code == 0
    assert json.loads(out) == {"precision": 100.0, "recall": 100.0, "f0.5": 100.0,
                               "tp": 1, "fp": 0, "fn": 0}


def test_errant_json_on_unchanged_output(tmp_path: Path) -> None:
    # Unchanged lines need no spaCy parse at all.
    gold = write(tmp_path, "g.m2", "S He go .\nA 1 2|||R:VERB:SVA|||goes|||REQUIRED|||-NONE-|||0\n")
    hyp = write(tmp_path, "h", "He go .\n")
    code, out, _ = run("errant", "--gold", gold, "--hypothesis", hyp)
    assert code == 0
    assert json.loads(out) == {"precision": 100.0, "recall": 0.0, "f0.5": 0.0,
                               "tp": 0, "fp": 0, "fn": 1}


@pytest.mark.parametrize("case", ["mismatch", "empty", "missing", "bad_m2", "not_utf8"])
def test_bad_input_exits_2(tmp_path: Path, case: str) -> None:
    gold = write(tmp_path, "g.m2", "S a b\nA 0 1|||X|||c|||REQUIRED|||-NONE-|||0\n")
    hyp = write(tmp_path, "h", "a b\n")
    src = write(tmp_path, "src", "a b\n")
    if case == "mismatch":
        two = write(tmp_path, "two", "a b\nc d\n")
        code, _, err = run("sari", "--source", src, "--reference", two, "--hypothesis", hyp)
        assert "two has 2 lines" in err and "has 1 lines" in err
        code2, _, err2 = run("m2", "--gold", gold, "--hypothesis", two)
        assert code2 == 2 and "1 sentences" in err2
    elif case == "empty":
        empty = write(tmp_path, "empty", "")
        code, _, err = run("gleu", "--source", src, "--reference", src, "--hypothesis", empty)
        assert "empty" in err
    elif case == "missing":
        code, _, err = run("m2", "--gold", str(tmp_path / "nope.m2"), "--hypothesis", hyp)
        assert "cannot read" in err and "nope.m2" in err
    elif case == "bad_m2":
        bad = write(tmp_path, "bad.m2", "S a b\nA 0 9|||X|||c|||REQUIRED|||-NONE-|||0\n")
        code, _, err = run("errant", "--gold", bad, "--hypothesis", hyp)
        assert "bad.m2:2:" in err and "beyond the sentence" in err
    else:
        (tmp_path / "latin1").write_bytes("caf\xe9\n".encode("latin-1"))
        code, _, err = run("sari", "--source", src, "--reference", src,
                           "--hypothesis", str(tmp_path / "latin1"))
        assert "not UTF-8" in err
    assert code == 2


def test_help_is_the_docstring() -> None:
    code, out, _ = run("m2", "--help")
    assert code == 0 and "MaxMatch" in out and "--gold" in out
    code, out, _ = run("--help")
    assert all(c in out for c in ("sari", "gleu", "m2", "errant"))
