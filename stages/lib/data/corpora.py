"""Corpus declarations (corpora.yaml `corpora:`) and ALL raw-format readers.

Every reader turns the verified raw files of one corpus into normalized records
`{id, src, refs: [...], meta: {...}}`, grouped by split. Readers are pure functions of
the files they are given; a malformed line is an InputError naming file and line.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_jsonl
from stages.lib.core.params import parse_section
from stages.lib.metrics.m2format import M2FormatError, parse_m2, split_blocks

Record = dict[str, Any]


@dataclass
class Columns:
    """Which columns of a tabular corpus (format jsonl, csv, tsv or parquet) hold what:
    `src` the text to edit; its reference in `ref` (one column) or `refs` (a column
    holding a list, or a list of columns, one reference each); optionally the row's own
    `instruction` (generic rows), its `id` (kept as meta.source_id, must be unique) and
    `meta` columns kept as they are."""

    src: str
    ref: str | None = None
    refs: str | list[str] | None = None
    instruction: str | None = None
    id: str | None = None
    meta: list[str] = field(default_factory=list)


@dataclass
class CorpusSpec:
    """One `corpora.<key>` entry of corpora.yaml (validated strictly)."""

    format: str  # which reader (READERS)
    split: str  # split name of the normalized output (see `splits` for per-file splits)
    role: str  # eval | train | ... (documentation; mixtures choose corpora by key)
    upstream: str  # the project page or canonical download (cards, README)
    # Download location of every file, a template: {path} = the file's path, {rel} = it
    # without its first folder, {name} = its base name. With `member`, `url` is an archive
    # (zip, tar, tar.gz, tar.bz2) and `member` (same placeholders) the path inside it.
    url: str = ""  # required unless `hub` names where the files come from
    files: dict[str, str | None] = field(default_factory=dict)  # path -> sha256 (null: not pinned)
    member: str | None = None
    source: str | None = None  # line-aligned formats: the source file; the others are refs
    extra: list[str] = field(default_factory=list)  # fetched and verified, not read
    splits: dict[str, str] = field(default_factory=dict)  # path -> split, where files differ
    strip: bool = False  # strip whitespace around lines (what EASSE does for its copies)
    columns: Columns | None = None  # tabular formats (TABLE_FORMATS): the column mapping
    # A Hub dataset, "<owner>/<name>@<full commit hash>": `files` are paths in that repo,
    # downloaded with huggingface_hub (its cache, HF_HUB_OFFLINE) instead of from `url`
    hub: str | None = None
    # A folder of your own (relative to the checkout, or absolute): `files` are paths in
    # it, copied from there whether or not a mirror is set (WRITING_ALPACA_MIRROR)
    local: str | None = None
    on_missing: str = "error"  # tabular: a row lacking a mapped value: error | skip


@dataclass
class FileSpec:
    """One file of a corpus, with its download location resolved."""

    path: str
    sha256: str | None
    url: str
    member: str | None
    # what the file is to its reader: "src" / "ref" (the source / a reference of a
    # line-aligned corpus), "data" (every other format), or "extra" (fetched and verified,
    # not read)
    use: str
    split: str


def _fill(template: str, path: str) -> str:
    rel = path.split("/", 1)[1] if "/" in path else path
    return template.format(path=path, rel=rel, name=path.rsplit("/", 1)[-1])


def corpus_spec(params: dict[str, Any], key: str) -> CorpusSpec:
    """The validated `corpora.<key>` entry; a pointer to optional_corpora if it is there."""
    corpora = params.get("corpora") or {}
    if key not in corpora:
        if key in (params.get("optional_corpora") or {}):
            raise InputError(
                f"corpora.yaml: {key!r} is declared under optional_corpora; move its entry "
                "into corpora: to fetch it (it needs internet access, see docs/corpora.md)")
        raise InputError(f"corpora.yaml: no corpora.{key} (known: "
                         f"{', '.join(sorted(corpora)) or 'none'})")
    where = f"corpora.{key}"
    spec = parse_section(CorpusSpec, corpora[key], where)
    if spec.format not in READERS:
        raise InputError(f"corpora.yaml: {where}.format {spec.format!r} is unknown "
                         f"(known: {', '.join(sorted(READERS))})")
    origins = [key for key in ("url", "hub", "local") if getattr(spec, key)]
    if len(origins) > 1:
        raise InputError(f"corpora.yaml: {where}: give one of url, hub and local, not "
                         f"{' and '.join(origins)}")
    if not origins:
        raise InputError(f"corpora.yaml: {where}: missing key url (or hub, for a Hub "
                         f"dataset, or local, for a folder of your own)")
    if spec.hub is not None:
        check_hub_source(spec.hub, f"corpora.yaml: {where}.hub")
    if spec.member and not spec.url:
        raise InputError(f"corpora.yaml: {where}.member needs url (the archive)")
    if not isinstance(spec.files, dict) or not spec.files:
        raise InputError(f"corpora.yaml: {where}.files must be a non-empty mapping path -> sha256")
    for path, sha in spec.files.items():
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha)):
            raise InputError(f"corpora.yaml: {where}.files.{path}: {sha!r} is not a sha256 "
                             "(64 hex digits) or null")
    if spec.format in TABLE_FORMATS:
        if spec.columns is None:
            raise InputError(f"corpora.yaml: {where}.columns is required for format "
                             f"{spec.format} (at least src, and ref or refs)")
        if (spec.columns.ref is None) == (spec.columns.refs is None):
            raise InputError(f"corpora.yaml: {where}.columns: give exactly one of ref "
                             f"(one column) and refs (a list column, or a list of columns)")
        if spec.on_missing not in ("error", "skip"):
            raise InputError(f"corpora.yaml: {where}.on_missing must be error or skip, got "
                             f"{spec.on_missing!r}")
    elif spec.columns is not None:
        raise InputError(f"corpora.yaml: {where}.columns is for the tabular formats "
                         f"({', '.join(TABLE_FORMATS)}), not {spec.format}")
    named = [spec.source] if spec.source else []
    for path in named + spec.extra + list(spec.splits):
        if path not in spec.files:
            raise InputError(f"corpora.yaml: {where}: {path!r} is not one of its files")
    return spec


HUB_SOURCE = re.compile(r"([A-Za-z0-9][\w.-]*/[\w.-]+)@(\S+)")
COMMIT = re.compile(r"[0-9a-f]{40}")


def check_hub_source(hub: str, where: str) -> tuple[str, str]:
    """(repo id, commit) of "<owner>/<name>@<commit>"; a branch or tag is refused."""
    match = HUB_SOURCE.fullmatch(hub) if isinstance(hub, str) else None
    if match is None:
        raise InputError(f"{where}: expected <owner>/<name>@<commit>, got {hub!r}")
    if not COMMIT.fullmatch(match[2]):
        raise InputError(f"{where}: revision {match[2]!r} is not a full commit hash (40 hex "
                         f"digits): a branch or tag moves, so the corpus would not be "
                         f"reproducible")
    return match[1], match[2]


def file_specs(spec: CorpusSpec) -> list[FileSpec]:
    """The corpus's files in declaration order, URLs resolved, each with its use and split."""
    result = []
    for path, sha in spec.files.items():
        if path in spec.extra:
            use = "extra"
        elif spec.source is None:
            use = "data"
        else:
            use = "src" if path == spec.source else "ref"
        member = _fill(spec.member, path) if spec.member else None
        if spec.hub:
            url = f"hf://datasets/{spec.hub}/{path}"
        elif spec.local:
            url = (Path(spec.local) / path).resolve().as_uri()
        else:
            url = _fill(spec.url, path)
        result.append(FileSpec(path, sha, url, member, use, spec.splits.get(path, spec.split)))
    return result


def read_corpus(spec: CorpusSpec, key: str, raw: Path) -> dict[str, list[Record]]:
    """Read corpus `key` from its fetched folder `raw`: split -> records (ids assigned)."""
    by_split = READERS[spec.format](spec, raw)
    for split, records in by_split.items():
        for number, record in enumerate(records):
            record["id"] = f"{key}-{split}-{number:05d}"
    return by_split


# --- helpers -------------------------------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: raw file missing (run the fetch stage)") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from exc


def split_lines(text: str) -> list[str]:
    """Lines of a text file, with or without a final newline (\\n only, \\r\\n tolerated).

    Some releases (TurkCorpus legacy, ASSET) have no newline after the last line, so
    counting newlines would lose an item; str.splitlines would also split on rare
    separators such as U+2028 inside a sentence, so split on \\n alone.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _record(src: str, refs: list[str], **meta: Any) -> Record:
    return {"id": "", "src": src, "refs": refs, "meta": meta}


def _files(spec: CorpusSpec, raw: Path, use: str) -> list[tuple[FileSpec, Path]]:
    return [(f, raw / f.path) for f in file_specs(spec) if f.use == use]


def _natural_key(path: str) -> list[Any]:
    """`part_10` after `part_9`: numbers compare as numbers."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path)]


# --- M2 (CoNLL-2014, BEA-2019 dev, W&I+LOCNESS train) --------------------------------
# Parsed by the project's one M2 parser (stages/lib/metrics/m2format.py).

# Edit types that carry no correction: the BEA-2019 corr_from_m2.py skips the same ones.
_SKIP_TYPES = frozenset({"noop", "UNK", "Um"})


def read_m2(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    """One reference per annotator (its edits applied right to left); meta.m2 = gold block."""
    records: list[Record] = []
    for _, path in _files(spec, raw, "data"):
        text = _read_text(path)
        try:
            blocks = parse_m2(text, str(path))
        except M2FormatError as exc:
            raise InputError(str(exc)) from None
        texts = split_blocks(text)
        if len(texts) != len(blocks):  # both split on blank lines; a mismatch is a bug
            raise InputError(f"{path}: {len(blocks)} M2 blocks parsed but {len(texts)} found")
        # Annotators are a property of the file: a CoNLL block without A lines still
        # gets one (unchanged) reference per annotator of the file.
        annotators = sorted({e.annotator for b in blocks for e in b.edits}) or [0]
        for block, block_text in zip(blocks, texts, strict=True):
            refs = [block.corrected(a, _SKIP_TYPES) if a in block.annotators
                    else " ".join(block.tokens) for a in annotators]
            records.append(_record(" ".join(block.tokens), refs, m2=block_text,
                                   annotators=annotators))
    return {spec.split: records}


# --- line-aligned source + references (JFLEG, TurkCorpus, ASSET, WikiLarge) ----------

def read_lines(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    sources = _files(spec, raw, "src")
    refs = _files(spec, raw, "ref")
    if len(sources) != 1 or not refs:
        raise InputError(f"corpora.yaml: a `lines` corpus needs exactly one `use: src` file and "
                         f"at least one `use: ref` file (got {len(sources)} and {len(refs)})")
    clean: Callable[[str], str] = str.strip if spec.strip else (lambda s: s)
    src_lines = [clean(s) for s in split_lines(_read_text(sources[0][1]))]
    columns = []
    for _, path in refs:
        lines = [clean(s) for s in split_lines(_read_text(path))]
        if len(lines) != len(src_lines):
            where = len(lines) + 1 if len(lines) < len(src_lines) else len(src_lines) + 1
            raise InputError(f"{path}:{where}: has {len(lines)} lines but the source "
                             f"{sources[0][1]} has {len(src_lines)} (files must be line-aligned)")
        columns.append(lines)
    records = [_record(src, [col[i] for col in columns]) for i, src in enumerate(src_lines)]
    return {spec.split: records}


# --- ITERATER (JSON Lines despite .json) ---------------------------------------------

def read_iterater(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    records = []
    for _, path in _files(spec, raw, "data"):
        for number, row in enumerate(_jsonl_rows(path), start=1):
            missing = {"before_sent", "after_sent", "labels"} - set(row)
            if missing:
                raise InputError(f"{path}:{number}: missing key(s) {', '.join(sorted(missing))}")
            records.append(_record(row["before_sent"], [row["after_sent"]], intent=row["labels"],
                                   doc_id=row.get("doc_id"),
                                   revision_depth=row.get("revision_depth")))
    return {spec.split: records}


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """JSON Lines rows; blank lines are rejected too, so row number == line number."""
    text = _read_text(path)
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            raise InputError(f"{path}:{number}: empty line in a JSON Lines file")
    return read_jsonl(path)


# --- STS benchmark CSV (headerless, excel dialect, CRLF) ----------------------------

def read_stsb(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    records = []
    for _, path in _files(spec, raw, "data"):
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, dialect="excel")
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if len(row) != 3:
                    raise InputError(f"{where}: expected 3 CSV columns "
                                     f"(sentence1, sentence2, score), got {len(row)}")
                try:
                    score = float(row[2])
                except ValueError:
                    raise InputError(f"{where}: score {row[2]!r} is not a number") from None
                records.append(_record(row[0], [row[1]], score=score))
    return {spec.split: records}


# --- Alpaca: Stanford JSON array(s), the bilingual re-release, the 5k JSON Lines -----

def _alpaca(item: Any, where: str) -> Record:
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected a JSON object")
    # The bilingual re-release keeps English under en_*; its plain keys are Chinese.
    prefix = "en_" if "en_instruction" in item else ""
    try:
        instruction, inp, out = (item[prefix + k] for k in ("instruction", "input", "output"))
    except KeyError as exc:
        raise InputError(f"{where}: missing key {exc.args[0]!r}") from None
    return _record(inp, [out], instruction=instruction)


def read_alpaca_json(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    records = []
    # Parts must be concatenated in numeric order (0, 1, ..., 10) to keep Alpaca's order.
    for _, path in sorted(_files(spec, raw, "data"), key=lambda fp: _natural_key(fp[0].path)):
        try:
            items = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(items, list):
            raise InputError(f"{path}:1: expected a JSON array of Alpaca items")
        records += [_alpaca(item, f"{path}: item {i}") for i, item in enumerate(items)]
    return {spec.split: records}


def read_alpaca_jsonl(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    records = []
    for _, path in _files(spec, raw, "data"):
        records += [_alpaca(row, f"{path}:{n}") for n, row in enumerate(_jsonl_rows(path), 1)]
    return {spec.split: records}


# --- WNC: the official biased.word.* TSV, and the chat-format stand-in --------------

WNC_COLUMNS = ("id", "src_tok", "tgt_tok", "src_raw", "tgt_raw", "src_POS_tags", "tgt_parse_tags")


def read_wnc_tsv(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    by_split: dict[str, list[Record]] = {}
    for f, path in _files(spec, raw, "data"):
        records = by_split.setdefault(f.split, [])
        for number, line in enumerate(split_lines(_read_text(path)), start=1):
            cols = line.split("\t")
            if len(cols) != len(WNC_COLUMNS):
                raise InputError(f"{path}:{number}: expected {len(WNC_COLUMNS)} tab-separated "
                                 f"columns ({', '.join(WNC_COLUMNS)}), got {len(cols)}")
            row = dict(zip(WNC_COLUMNS, cols, strict=True))
            records.append(_record(row["src_raw"], [row["tgt_raw"]], rev_id=row["id"]))
    return by_split


WNC_PAIR_PREFIX = "This is subjective bias text. The neutralized text is: "


def read_wnc_chat(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    by_split: dict[str, list[Record]] = {}
    for f, path in _files(spec, raw, "data"):
        records = by_split.setdefault(f.split, [])
        for number, row in enumerate(_jsonl_rows(path), start=1):
            messages = row.get("messages")
            turns = ({m.get("role"): m.get("content") for m in messages if isinstance(m, dict)}
                     if isinstance(messages, list) else {})
            user, answer = turns.get("user"), turns.get("assistant")
            if not isinstance(user, str) or not isinstance(answer, str):
                raise InputError(f"{path}:{number}: expected messages with a user and an "
                                 "assistant turn")
            # Rows judged unbiased carry no rewrite: they are not neutralization pairs.
            if answer.startswith(WNC_PAIR_PREFIX):
                records.append(_record(user, [answer[len(WNC_PAIR_PREFIX):]], line=number))
    return by_split


# --- any tabular file: JSON Lines, CSV, TSV, Parquet, with a column mapping ---------

TABLE_FORMATS = ("jsonl", "csv", "tsv", "parquet")


class TableRecords(list):  # type: ignore[type-arg]
    """A split's records, with the number of rows `on_missing: skip` left out."""

    skipped: int = 0


def _arrow_table(path: Path, fmt: str) -> Any:
    """The file as a pyarrow Table; CSV/TSV cells are read as the text they hold (a
    column of digits stays text, an empty cell stays "")."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv
    from pyarrow import json as pa_json
    from pyarrow import parquet as pa_parquet

    if not path.is_file():
        raise InputError(f"{path}: raw file missing (run the fetch stage)")
    try:
        if fmt == "parquet":
            return pa_parquet.read_table(path)
        if fmt == "jsonl":
            return pa_json.read_json(path)
        delimiter = "\t" if fmt == "tsv" else ","
        header = next(csv.reader(_read_text(path).splitlines()[:1], delimiter=delimiter), [])
        return pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter=delimiter),
                               convert_options=pa_csv.ConvertOptions(
                                   column_types={name: pa.string() for name in header},
                                   strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable {fmt} file ({first})") from None


def _cell_text(value: Any, where: str, column: str) -> str | None:
    """A mapped cell as text; None when missing or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: column {column!r} holds {type(value).__name__}, not text")
    return str(value)


def read_table(spec: CorpusSpec, raw: Path) -> dict[str, list[Record]]:
    """Rows of JSON Lines, CSV/TSV (with a header) or Parquet files through the corpus's
    `columns` mapping. A row lacking a mapped value is an error naming file and row, or
    with `on_missing: skip` left out and counted."""
    assert spec.columns is not None  # corpus_spec checked it
    cols = spec.columns
    ref_columns = [cols.ref] if cols.ref else ([cols.refs] if isinstance(cols.refs, str)
                                                else list(cols.refs or []))
    wanted = [cols.src, *ref_columns, *(c for c in (cols.instruction, cols.id) if c),
              *cols.meta]
    by_split: dict[str, list[Record]] = {}
    seen_ids: dict[str, str] = {}
    for f, path in _files(spec, raw, "data"):
        records = by_split.setdefault(f.split, TableRecords())
        table = _arrow_table(path, spec.format)
        missing = [c for c in dict.fromkeys(wanted) if c not in table.column_names]
        if missing:
            raise InputError(f"{path}: no column {missing[0]!r} (columns: "
                             f"{', '.join(table.column_names) or 'none'})")
        if table.num_rows == 0:
            raise InputError(f"{path}: no rows")
        for offset, row in enumerate(table.select(list(dict.fromkeys(wanted))).to_pylist()):
            where = f"{path}: row {offset + 1}"  # the file's n-th row of data
            src = _cell_text(row[cols.src], where, cols.src)
            if cols.ref or isinstance(cols.refs, list):
                refs = [_cell_text(row[c], where, c) for c in ref_columns]
            else:
                listed = row[ref_columns[0]]
                if listed is not None and not isinstance(listed, list):
                    raise InputError(f"{where}: column {ref_columns[0]!r} holds "
                                     f"{type(listed).__name__}, not a list of references")
                refs = [_cell_text(v, where, ref_columns[0]) for v in listed or []] or [None]
            instruction = (_cell_text(row[cols.instruction], where, cols.instruction)
                           if cols.instruction else "")
            empty = [name for name, value in ((cols.src, src), ("references", refs),
                                              (cols.instruction, instruction))
                     if value is None or (isinstance(value, list) and None in value)]
            if empty:
                if spec.on_missing == "skip":
                    assert isinstance(records, TableRecords)
                    records.skipped += 1
                    continue
                raise InputError(f"{where}: no value for {empty[0]!r} (set on_missing: skip "
                                 f"to leave such rows out)")
            meta = {c: row[c] for c in cols.meta}
            if cols.instruction:
                meta["instruction"] = instruction
            if cols.id:
                own = _cell_text(row[cols.id], where, cols.id)
                if own is None:
                    raise InputError(f"{where}: no value for {cols.id!r}")
                if own in seen_ids:
                    raise InputError(f"{where}: id {own!r} again (first at {seen_ids[own]})")
                seen_ids[own] = where
                meta["source_id"] = own
            records.append(_record(src, refs, **meta))
    return by_split


READERS: dict[str, Callable[[CorpusSpec, Path], dict[str, list[Record]]]] = {
    **{fmt: read_table for fmt in TABLE_FORMATS},
    "m2": read_m2,
    "lines": read_lines,
    "iterater-jsonl": read_iterater,
    "stsb-csv": read_stsb,
    "alpaca-json": read_alpaca_json,
    "alpaca-jsonl": read_alpaca_jsonl,
    "wnc-tsv": read_wnc_tsv,
    "wnc-chat-jsonl": read_wnc_chat,
}
