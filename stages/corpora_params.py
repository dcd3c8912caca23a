"""`writing-alpaca corpora-params`: corpora.yaml's `corpora:` section from MANIFEST.json.

The mirror's manifest says what each corpus is: its files with their sha256, split, role,
upstream and the repository commit the files come from. READERS below says how the
pipeline gets and reads them: reader format, download URL and archive member templates,
which file is the source and which are only fetched. The section is printed (or written
into corpora.yaml with --update) in the file's own layout; tests/test_corpora_params.py
checks that the committed section is exactly what this gives for the shared mirror.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path, read_json


@dataclass(frozen=True)
class Reader:
    """How one corpus is fetched and read. In url / member, {raw} and {blob} are the raw
    file URLs of the manifest's repository at its commit and {upstream} the manifest's
    upstream URL; {path}, {rel} and {name} stay for fetch to fill per file."""

    format: str
    url: str
    member: str | None = None
    source: bool = False  # line-aligned: the first file is the source, the others refs
    extra: tuple[str, ...] = ()  # patterns of files fetched and verified, not read
    splits: dict[str, str] = field(default_factory=dict)  # pattern -> split, per file
    strip: bool = False  # lines are stripped (EASSE reads its files so)
    upstream: str | None = None  # instead of the manifest's


_TURK = Reader("lines", "{raw}/data/{path}", source=True)
_EASSE = Reader("lines", "{raw}/easse/resources/data/test_sets/turkcorpus/{name}", source=True,
                strip=True)
_ITERATER = Reader("iterater-jsonl", "{blob}/dataset/human_sent_level.zip",
                   member="human_sent_level/{rel}")
_WI = Reader("m2", "{upstream}", member="wi+locness/m2/{rel}")
_WIKILARGE = Reader("lines", "{blob}/data-simplification.tar.bz2",
                    member="data-simplification/wikilarge/{rel}", source=True)
_STSB = Reader("stsb-csv", "{raw}/data/{rel}")

READERS: dict[str, Reader] = {
    "conll2014-test": Reader("m2", "{upstream}", member="conll14st-test-data/{rel}",
                             extra=("*.[01].m2", "*withalt.m2", "*.sgml")),
    "bea2019-dev": _WI,
    "wi-locness-train": _WI,
    "jfleg-test": Reader("lines", "{raw}/{rel}", source=True),
    "jfleg-dev": Reader("lines", "{raw}/{rel}", source=True),
    "iterater-human-sent-test": _ITERATER,
    "iterater-human-sent-dev": _ITERATER,
    "iterater-human-sent-train": _ITERATER,
    "turkcorpus-test": Reader("lines", _TURK.url, source=True, extra=("*.simp", "*.tsv")),
    "turkcorpus-gem-test": _TURK,
    "turkcorpus-easse-test": _EASSE,
    "turkcorpus-tune": Reader("lines", _TURK.url, source=True, extra=("*.simp", "*.tsv")),
    "turkcorpus-gem-tune": _TURK,
    "turkcorpus-easse-tune": _EASSE,
    "asset-test": Reader("lines", "{raw}/dataset/{rel}", source=True),
    "asset-valid": Reader("lines", "{raw}/dataset/{rel}", source=True),
    "stsb-en-test": _STSB,
    "stsb-en-dev": _STSB,
    "stsb-en-train": _STSB,
    "wikilarge-valid": _WIKILARGE,
    "wikilarge-test": _WIKILARGE,
    "alpaca-52k-bilingual": Reader("alpaca-json", "{raw}/data/{rel}"),
    "alpaca-5k-sample": Reader("alpaca-jsonl", "{raw}/data/{rel}"),
    # the manifest's upstream is the full WNC this sample was drawn from
    "wnc-derived-sample": Reader("wnc-chat-jsonl", "{raw}/data/{rel}",
                                 splits={"*_test_*": "test", "*_train_*": "train"},
                                 upstream="https://github.com/Xiangyu-Lou/"
                                          "Bias-Detection-Neutralization"),
}

HEADER = """\
corpora:
  # Generated from the mirror's MANIFEST.json. `files` maps each file's path (the same
  # relative path as in the mirror and under data/raw/<corpus>/) to its sha256; `url`
  # (and `member`, for archives) is a template filled per file with {path}, {rel} (path
  # without its first folder) or {name} (base name). `source` names the source file of
  # line-aligned corpora (the other files are references, in order); `extra` files are
  # fetched and verified but not read; `splits` gives per-file splits where they differ.
"""


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _fill(template: str, entry: dict[str, Any]) -> str:
    repo, commit = entry["source"]["repo"], entry["source"]["commit"]
    return (template.replace("{raw}", f"https://raw.githubusercontent.com/{repo}/{commit}")
            .replace("{blob}", f"https://github.com/{repo}/raw/{commit}")
            .replace("{upstream}", _upstream(entry)))


def _upstream(entry: dict[str, Any]) -> str:
    return entry["upstream_url"].split()[0]  # the URL, without the manifest's remarks


def corpus_lines(entry: dict[str, Any], reader: Reader) -> list[str]:
    """One corpus's lines of the section."""
    paths = [f["path"] for f in entry["files"]]
    # a manifest split or role with a remark ("mixed (...)", "train+eval (fallback)"):
    # the first word; per-file splits then come from the reader
    split, role = entry["split"].split()[0], entry["role"].split()[0]
    if reader.splits:
        split = _split_of(paths[0], reader)
    lines = [f"  {entry['id']}:", f"    format: {reader.format}", f"    split: {_q(split)}",
             f"    role: {_q(role)}", f"    upstream: {_q(reader.upstream or _upstream(entry))}",
             f"    url: {_q(_fill(reader.url, entry))}"]
    if reader.member:
        lines.append(f"    member: {_q(reader.member)}")
    if reader.strip:
        lines.append("    strip: true  # EASSE reads these files with line.strip()")
    if reader.source:
        lines.append(f"    source: {_q(paths[0])}")
    extra = [p for p in paths if any(fnmatch(p, pattern) for pattern in reader.extra)]
    if extra:
        lines.append(f"    extra: [{', '.join(_q(p) for p in extra)}]")
    if reader.splits:
        pairs = ", ".join(f"{_q(p)}: {_split_of(p, reader)}" for p in paths)
        lines.append(f"    splits: {{{pairs}}}")
    lines.append("    files:")
    lines += [f"      {_q(f['path'])}: {f['sha256']}" for f in entry["files"]]
    return lines


def _split_of(path: str, reader: Reader) -> str:
    for pattern, split in reader.splits.items():
        if fnmatch(path, pattern):
            return split
    raise InputError(f"{path}: no split pattern of its reader matches")


def corpora_section(manifest: list[dict[str, Any]]) -> str:
    """The whole `corpora:` section, manifest order."""
    lines: list[str] = []
    for entry in manifest:
        reader = READERS.get(entry["id"])
        if reader is None:
            raise InputError(f"MANIFEST.json: corpus {entry['id']!r} has no reader in "
                             f"stages/corpora_params.py READERS; add one")
        lines += corpus_lines(entry, reader)
    return HEADER + "\n".join(lines) + "\n"


def corpus_ids(text: str) -> set[str]:
    """The corpus keys of a `corpora:` section (or of a whole corpora.yaml)."""
    import yaml

    return set((yaml.safe_load(text) or {}).get("corpora") or {})


def replace_section(params_text: str, section: str) -> str:
    """corpora.yaml with its `corpora:` section (up to the next blank line) replaced."""
    start = params_text.find("\ncorpora:\n")
    if start < 0:
        raise InputError("corpora.yaml: no top-level `corpora:` section")
    end = params_text.find("\n\n", start + 1)
    return params_text[:start + 1] + section + params_text[end + 1:]


@click.command("corpora-params")
@click.option("--manifest", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Default: $WRITING_ALPACA_MIRROR/MANIFEST.json, else "
                   "../shared/corpora/MANIFEST.json.")
@click.option("--update", "params_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the section into this corpora.yaml instead of printing.")
def corpora_params(manifest: Path | None, params_path: Path | None) -> None:
    """Print corpora.yaml's `corpora:` section generated from a mirror's MANIFEST.json."""
    if manifest is None:
        mirror = os.environ.get("WRITING_ALPACA_MIRROR") or "../shared/corpora"
        manifest = Path(mirror) / "MANIFEST.json"
    if not manifest.is_file():
        raise InputError(f"{manifest}: no such manifest (pass --manifest)")
    entries = read_json(manifest)
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{manifest}: no corpora in it (expected a non-empty JSON list)"
                         + (f"; {params_path} left as it was" if params_path else ""))
    section = corpora_section(entries)
    if params_path is None:
        click.echo(section, nl=False)
        return
    old_text = params_path.read_text(encoding="utf-8")
    dropped = sorted(corpus_ids(old_text) - corpus_ids(section))
    if dropped:  # the user's own declarations are theirs; the manifest only adds/updates
        raise InputError(f"{params_path}: {manifest} lacks corpora {', '.join(dropped)} "
                         f"declared here; left as it was (remove them by hand first)")
    text = replace_section(old_text, section)
    with atomic_path(params_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"{params_path}: corpora section written from {manifest}", err=True)
