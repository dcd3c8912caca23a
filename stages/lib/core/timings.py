"""Wall-clock times of the long stages, kept out of everything DVC hashes.

train and predict append what they took to `.cache/timings/<command>-<out>.json` (the
folder git and DVC ignore), so the same run gives the same dvc.lock on any machine while
`writing-alpaca timings` can still write the run's time report (reports/performance.md)
from the machine that ran it, with its CPU model.
"""
from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

TIMINGS = Path(".cache") / "timings"
FOLDER_ENV = "WRITING_ALPACA_TIMINGS"  # another folder (the tests keep theirs apart)


def folder() -> Path:
    return Path(os.environ.get(FOLDER_ENV) or TIMINGS)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; else what platform knows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match[1].strip() if match else (platform.processor() or platform.machine())


def peak_rss_gib() -> float | None:
    """The largest resident memory this process has held so far, in GiB (None where the
    platform does not say: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 2)


def record(command: str, out: str | Path, seconds: float, **figures: Any) -> None:
    """Keep one timing of `command` writing `out` (the latest replaces an earlier one),
    with the process's peak memory so far (the stage's: each stage is one process).
    A log, not a result: a failure to write it never fails the stage."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{command}-{Path(out).as_posix()}")
    entry = {"command": command, "out": Path(out).as_posix(), "seconds": round(seconds, 1),
             **figures, "peak_rss_gib": peak_rss_gib(),
             "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
             "cpu": cpu_model(), "cores": os.cpu_count()}
    try:
        folder().mkdir(parents=True, exist_ok=True)
        (folder() / f"{name}.json").write_text(json.dumps(entry, indent=2) + "\n",
                                              encoding="utf-8")
    except OSError:
        pass


def read_all(where: Path | None = None) -> list[dict[str, Any]]:
    """Every kept timing (in `where`, default folder()), oldest first."""
    entries = []
    for path in sorted((where or folder()).glob("*.json")):
        try:
            entries.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(entries, key=lambda entry: entry.get("finished", ""))
