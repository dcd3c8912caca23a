"""normalize@<corpus>: raw files of one corpus -> data/corpora/<corpus>/<split>.jsonl.

Records are {id, src, refs: [...], meta: {...}}; the reader for the corpus's `format`
lives in stages/lib/corpora.py (all raw formats in one module).
"""
from __future__ import annotations

from pathlib import Path

import click

from stages.lib.corpora import corpus_spec, read_corpus
from stages.lib.io import InputError, atomic_path, write_jsonl
from stages.lib.params import load_params


@click.command()
@click.option("--corpus", required=True, help="Key of corpora.yaml corpora.<corpus>.")
@click.option("--raw", "raw_dir", required=True, type=click.Path(file_okay=False),
              help="The fetched raw folder (data/raw/<corpus>).")
@click.option("--params", "params_path", default="corpora.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder (data/corpora/<corpus>), one <split>.jsonl per split.")
def normalize(corpus: str, raw_dir: str, params_path: str, out: str) -> None:
    """Read one corpus's raw format into normalized {id, src, refs, meta} JSON Lines."""
    spec = corpus_spec(load_params(params_path), corpus)
    if not Path(raw_dir).is_dir():
        raise InputError(f"{raw_dir}: raw folder not found (run `dvc repro fetch@{corpus}`)")
    by_split = read_corpus(spec, corpus, Path(raw_dir))
    with atomic_path(out, is_dir=True, owns=("*.jsonl",)) as tmp:
        for split, records in sorted(by_split.items()):
            count = write_jsonl(tmp / f"{split}.jsonl", records)
            click.echo(f"normalize {corpus}: {split} {count} records")
