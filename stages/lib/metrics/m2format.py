"""The one M2 parser of the project (CoNLL-2014 / BEA-2019 / W&I+LOCNESS gold files).

Both scorers (MaxMatch and ERRANT) and the corpus normalizer read gold edits through
`parse_m2`, so the file format is interpreted in exactly one place. Each parsed edit keeps
both views the official tools use: the MaxMatch view (`corrections`, split on `||`,
stripped, `-NONE-` -> "") and the ERRANT view (`raw_correction`, the literal field).

Malformed input raises `M2FormatError` (a ValueError) naming the file and line: the
official tools either crash with a bare assertion or silently drop such edits, and a
silently different gold standard is worse than a clear error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

NOOP = "noop"


class M2FormatError(ValueError):
    """Malformed M2 input; the message names the file and the 1-based line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class M2Edit:
    """One `A` line."""

    start: int
    end: int
    etype: str
    corrections: tuple[str, ...]  # MaxMatch view: alternatives, stripped, -NONE- -> ""
    raw_correction: str  # ERRANT view: field 3 verbatim (compared as a literal string)
    annotator: int
    line: int  # 1-based line number in the file

    @property
    def is_noop(self) -> bool:
        return self.etype == NOOP


@dataclass
class M2Block:
    """One sentence: the `S` line and its `A` lines (in file order)."""

    source: str  # the S line without "S ", stripped
    edits: list[M2Edit] = field(default_factory=list)
    line: int = 0  # line of the S line

    @property
    def tokens(self) -> list[str]:
        return self.source.split()

    @property
    def annotators(self) -> list[int]:
        """Annotator ids in ascending order; a block without A lines has annotator 0.

        Ascending order is the iteration order of the Python 2 dict the M2 scorer uses
        (small int keys), which decides exact ties in its annotator choice.
        """
        ids = sorted({e.annotator for e in self.edits})
        return ids or [0]

    def edits_by_annotator(self, include_noop: bool = False) -> dict[int, list[M2Edit]]:
        """Annotator id -> its edits in file order (an annotator with only a noop maps to [])."""
        out: dict[int, list[M2Edit]] = {a: [] for a in self.annotators}
        for e in self.edits:
            if include_noop or not e.is_noop:
                out[e.annotator].append(e)
        return out

    def corrected(self, annotator: int, skip_types: frozenset[str] = frozenset()) -> str:
        """The source with `annotator`'s edits applied right to left (first alternative).

        Edits whose type is in `skip_types` are left out (the corpus reader skips UNK/Um,
        as BEA-2019's corr_from_m2.py does).
        """
        toks = list(self.tokens)
        edits = [(i, e) for i, e in enumerate(self.edits_by_annotator()[annotator])
                 if e.etype not in skip_types]
        # Right to left; among edits at the same span the later line first, so two
        # insertions at one position keep their file order in the result.
        for _, e in sorted(edits, key=lambda x: (x[1].start, x[1].end, x[0]), reverse=True):
            toks[e.start:e.end] = e.corrections[0].split() if e.corrections else []
        return " ".join(toks)


def _parse_a_line(text: str, n_tokens: int, path: str, lineno: int) -> M2Edit:
    fields = text[2:].split("|||")
    if len(fields) != 6:
        raise M2FormatError(path, lineno, f"A line needs 6 '|||' fields, found {len(fields)}")
    span = fields[0].split()
    if len(span) != 2:
        raise M2FormatError(path, lineno, f"bad offsets {fields[0]!r}")
    try:
        start, end = int(span[0]), int(span[1])
    except ValueError:
        raise M2FormatError(path, lineno, f"non-integer offsets {fields[0]!r}") from None
    etype = fields[1]
    if etype == NOOP and (start, end) == (-1, -1):
        pass
    elif start < 0 or end < 0:
        raise M2FormatError(path, lineno, f"negative offsets {start} {end} on a {etype!r} edit")
    elif end < start:
        raise M2FormatError(path, lineno, f"end offset {end} < start offset {start}")
    elif end > n_tokens:
        raise M2FormatError(path, lineno,
                            f"offset {end} beyond the sentence ({n_tokens} tokens)")
    try:
        annotator = int(fields[5])
    except ValueError:
        raise M2FormatError(path, lineno, f"non-integer annotator id {fields[5]!r}") from None
    raw = fields[2]
    # Same rule as the M2 scorer: the -NONE- test is on the unstripped alternative.
    corrections = tuple("" if c == "-NONE-" else c.strip() for c in raw.split("||"))
    return M2Edit(start, end, etype, corrections, raw, annotator, lineno)


def parse_m2(text: str, path: str = "<m2>") -> list[M2Block]:
    """Parse M2 text into blocks. Blank (whitespace-only) lines separate blocks.

    Raises M2FormatError for: an A line before any S line, two S lines in one block, an
    unknown line type, bad / non-integer / negative / reversed / out-of-sentence offsets,
    a wrong field count, a non-integer annotator id, or a file without any block.
    """
    blocks: list[M2Block] = []
    current: M2Block | None = None
    # splitlines() like the M2 scorer (it also splits on the rare Unicode separators).
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            current = None
            continue
        if line.startswith("S ") or line == "S":
            if current is not None:
                raise M2FormatError(path, lineno, "second S line in one block (blank line missing?)")
            current = M2Block(source=line[2:].strip(), line=lineno)
            blocks.append(current)
        elif line.startswith("A "):
            if current is None:
                raise M2FormatError(path, lineno, "A line before any S line")
            current.edits.append(_parse_a_line(line, len(current.tokens), path, lineno))
        elif line.startswith("I "):
            continue  # ignored by the M2 scorer too
        else:
            raise M2FormatError(path, lineno, f"line is neither S nor A: {line[:40]!r}")
    if not blocks:
        raise M2FormatError(path, 1, "no S line found (empty M2 file?)")
    return blocks


def split_blocks(text: str) -> list[str]:
    """The text of each block (S line + its A lines), e.g. for `corpus_m2(gold_blocks, ...)`."""
    out: list[str] = []
    cur: list[str] = []
    for line in text.splitlines():
        if line.strip():
            cur.append(line)
        elif cur:
            out.append("\n".join(cur))
            cur = []
    if cur:
        out.append("\n".join(cur))
    return out


def parse_block(block: str | M2Block, path: str = "<m2 block>") -> M2Block:
    """Accept either a block's text or an already parsed block."""
    if isinstance(block, M2Block):
        return block
    parsed = parse_m2(block, path)
    if len(parsed) != 1:
        raise M2FormatError(path, parsed[1].line, "expected exactly one M2 block")
    return parsed[0]
