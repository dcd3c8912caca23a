"""Atomic, deterministic file output and line-numbered JSONL input.

Every stage writes through these helpers so that a killed stage never leaves a
half-written output behind (house rule 3) and bad input names file and line.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click


class InputError(click.ClickException):
    """Bad user input (file, line, value): printed without a traceback, exit code 2."""

    exit_code = 2


def dumps_line(record: Any) -> str:
    """One JSON line, key order preserved, non-ASCII kept readable (deterministic)."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file; a malformed line is an InputError naming file and line."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: expected a JSON object")
            records.append(record)
    return records


@contextlib.contextmanager
def atomic_path(target: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `target`; rename it onto `target` only on success.

    The temporary lives in the same folder so the final rename is atomic; on any
    exception it is removed and `target` keeps its previous content (or stays absent).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Atomically write records as JSON Lines; returns the number written."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for record in records:
            out.write(dumps_line(record) + "\n")
            count += 1
    return count


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Atomically write key-sorted JSON (pretty by default: stable diffs for dvc metrics;
    `indent=None` for compact bulk data)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False)
                       + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """Parsed JSON of `path`; invalid JSON is an InputError naming the file and line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (model weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
