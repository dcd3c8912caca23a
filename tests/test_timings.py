"""Wall-clock times: kept outside DVC's hashes by train and predict, reported by
`writing-alpaca timings` with the machine that ran them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
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
    # a benchmark's or probe's run, outside the checkout: not one of the pipeline's stages
    timings.record("predict", tmp_path / "probe", 7.0, items=5, decoding="greedy")
    out = tmp_path / "performance.md"
    result = CliRunner().invoke(timings_command, ["--out", str(out), "--no-disk"])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    peak = timings.peak_rss_gib()  # this process's: it only grows
    assert peak and peak > 0.01
    assert "| predict -> predictions/base | 100.0 | 0.60 items/s | " in text
    assert "GiB | greedy, continuous |" in text
    assert "| train -> adapters/alpaca | 500.0 | | " in text and "GiB | 30 steps |" in text
    assert timings.cpu_model() in text and "Total of these stages: 10.0 min." in text
    assert "## Disk" not in text and "probe" not in text
    result = CliRunner().invoke(timings_command, ["--out", str(out), "--no-disk", "--all"])
    assert result.exit_code == 0 and f"predict -> {(tmp_path / 'probe').as_posix()} | 7.0" \
        in out.read_text(encoding="utf-8")


def test_a_timing_kept_before_memory_was_kept_has_a_blank_cell() -> None:
    from stages.timings import render

    text = render([{"command": "train", "out": "trained/x", "seconds": 10.0, "steps": 3,
                    "finished": "2026-12-07 12:00:00", "cpu": "cpu", "cores": 2}])
    assert "| train -> trained/x | 10.0 | | | 3 steps |" in text


def test_the_report_measures_the_checkouts_disk_use(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    timings.record("train", "trained/x", 1.0, steps=1)
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "models" / "base" / "w.bin").write_bytes(b"x" * 3 * 2**20)
    (tmp_path / "models" / "base" / "same.bin").hardlink_to(tmp_path / "models" / "base" / "w.bin")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_bytes(b"y" * 2**20)
    (tmp_path / "data" / "link").symlink_to(tmp_path / "models" / "base" / "w.bin")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(timings_command, ["--out", "r.md"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    # a hard link and a symlink count nothing; the largest folder first
    assert "| `models/` | 3.0 MiB |\n| `data/` | 1.0 MiB |" in text
    assert "(4.0 MiB in all)" in text


def test_no_timings_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(timings_command, ["--timings", str(tmp_path / "none"),
                                                  "--out", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "no timings kept" in result.output
    assert not (tmp_path / "x.md").exists()


def test_tests_keep_their_timings_apart() -> None:
    assert timings.folder() != timings.TIMINGS and os.environ[timings.FOLDER_ENV]


def test_markdown_table_in_the_house_style() -> None:
    assert markdown_table(["a", "b"], [["1", "2"]], "lr") == "| a | b |\n|---|---:|\n| 1 | 2 |"
