"""Wall-clock times: kept outside DVC's hashes by train and predict, reported by
`writing-alpaca timings` with the machine that ran them."""
from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from stages.lib.core import timings
from stages.lib.core.tables import markdown_table
from stages.timings import timings as timings_command


def test_kept_timings_make_the_report(tmp_path: Path) -> None:
    timings.record("predict", "predictions/base", 120.04, items=60, decoding="greedy",
                   engine="continuous")
    timings.record("train", "adapters/alpaca", 500.0, steps=30)
    timings.record("predict", "predictions/base", 100.0, items=60, decoding="greedy",
                   engine="continuous")  # the latest run of a stage replaces the earlier
    out = tmp_path / "performance.md"
    result = CliRunner().invoke(timings_command, ["--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "| predict -> predictions/base | 100.0 | 0.60 items/s | greedy, continuous |" in text
    assert "| train -> adapters/alpaca | 500.0 | | 30 steps |" in text
    assert timings.cpu_model() in text and "Total of these stages: 10.0 min." in text


def test_no_timings_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(timings_command, ["--timings", str(tmp_path / "none"),
                                                  "--out", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "no timings kept" in result.output
    assert not (tmp_path / "x.md").exists()


def test_tests_keep_their_timings_apart() -> None:
    assert timings.folder() != timings.TIMINGS and os.environ[timings.FOLDER_ENV]


def test_markdown_table_in_the_house_style() -> None:
    assert markdown_table(["a", "b"], [["1", "2"]], "lr") == "| a | b |\n|---|---:|\n| 1 | 2 |"
