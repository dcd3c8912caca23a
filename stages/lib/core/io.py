"""Atomic, deterministic file output and line-numbered JSONL input.

Every stage writes through these helpers so that a killed stage never leaves a
half-written output behind (house rule 3) and bad input names file and line.
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click


class InputError(click.ClickException):
    """Bad user input (file, line, value): printed without a traceback, exit code 2."""

    exit_code = 2


# A system's name becomes a file name (metrics/<name>.json): no path separators, no
# leading dot, so it cannot leave its folder (benchmark sets have their own, stricter rule)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, what: str) -> str:
    """`name` when it is a plain file-name part, else an InputError naming `what`."""
    if not NAME.fullmatch(name):
        raise InputError(f"{what} {name!r}: a name is letters, digits, '.', '-' and '_', "
                         f"starting with a letter or digit (no path separators)")
    return name


def dumps_line(record: Any) -> str:
    """One JSON line, key order preserved, non-ASCII kept readable (deterministic)."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def _utf8_lines(path: str | Path) -> Iterator[str]:
    """The lines of a UTF-8 text file, decoded one by one so that bytes that are not
    UTF-8 are an InputError naming the file and the line, not a traceback."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{number}: not UTF-8 ({exc.reason})") from None


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content; other bytes are an InputError naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start}: {exc.reason})") from None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file; a malformed line is an InputError naming file and line."""
    records = []
    for number, line in enumerate(_utf8_lines(path), start=1):
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _clean_stale_temporaries(target: Path) -> None:
    """Remove `target`'s temporaries whose writer is gone (a killed run); a live
    writer's temporary is left alone (its pid is in the name)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        pid = stale.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _foreign_entry(target: Path, owns: tuple[str, ...]) -> str | None:
    """The first file under folder `target` that matches none of `owns` (relative posix
    paths; fnmatch patterns), i.e. that this command would not have written."""
    for path in sorted(target.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(target).as_posix()
        if not any(fnmatch.fnmatchcase(relative, pattern) for pattern in owns):
            return relative
    return None


def check_replaceable(target: Path, is_dir: bool, owns: tuple[str, ...] = (),
                      force: bool = False) -> None:
    """Raise InputError unless writing `target` loses nothing the command did not make:
    a folder output may replace a folder holding only files matching `owns` (its own
    earlier output), a file output a file; `force` replaces any folder or file."""
    if not (target.exists() or target.is_symlink()):
        return
    if is_dir:
        if not target.is_dir() or target.is_symlink():
            raise InputError(f"{target}: not a folder; nothing written (remove it or "
                             f"choose another path)")
        foreign = None if force else _foreign_entry(target, owns)
        if foreign is not None:
            raise InputError(f"{target}: holds {foreign}, which this command did not "
                             f"write; nothing written (choose a new or empty folder"
                             f", or --force where the command offers it)")
    elif target.is_dir() and not target.is_symlink():
        raise InputError(f"{target}: a folder, where a file is written; nothing written")


@contextlib.contextmanager
def atomic_path(target: str | Path, is_dir: bool = False, owns: tuple[str, ...] = (),
                force: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `target`; rename it onto `target` only on success.

    The temporary lives in the same folder so the final rename is atomic; on any
    exception it is removed and `target` keeps its previous content (or stays absent).
    A folder `target` that holds anything but files matching `owns` (what the command
    itself writes) is refused before the work starts, unless `force`
    (check_replaceable). Outputs get the user's umask, as files made by hand would.
    """
    target = Path(target)
    check_replaceable(target, is_dir, owns, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(target)
    prefix = f".{target.name}.tmp-{os.getpid()}-"
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600
    try:
        yield tmp
        # checked again: another process may have written there meanwhile
        check_replaceable(target, is_dir, owns, force)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
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
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (model weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
