"""normalize@<corpus>: raw files of one corpus -> data/corpora/<corpus>/<split>.jsonl.

Records are {id, src, refs: [...], meta: {...}}; the reader for the corpus's `format`
lives in stages/lib/data/corpora.py (all raw formats in one module).
"""
from __future__ import annotations

from pathlib import Path

import click

from stages.lib.core.io import InputError, atomic_path, file_sha256, read_text, write_jsonl
from stages.lib.core.params import load_params
from stages.lib.data.corpora import corpus_spec, read_corpus


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
    check_sums(Path(raw_dir), corpus)
    by_split = read_corpus(spec, corpus, Path(raw_dir))
    with atomic_path(out, is_dir=True, owns=("*.jsonl",)) as tmp:
        for split, records in sorted(by_split.items()):
            count = write_jsonl(tmp / f"{split}.jsonl", records)
            skipped = getattr(records, "skipped", 0)  # tabular corpora, on_missing: skip
            click.echo(f"normalize {corpus}: {split} {count} records"
                       + (f" ({skipped} rows without a mapped value skipped)" if skipped else ""))


def check_sums(raw_dir: Path, corpus: str) -> None:
    """Every file listed in the SHA256SUMS `fetch` wrote beside the raw files still has
    its sha256: a raw file edited or truncated after fetch is refused, not normalized.
    A folder without SHA256SUMS (a user's own files) is read as it is."""
    sums = raw_dir / "SHA256SUMS"
    if not sums.is_file():
        return
    for number, line in enumerate(read_text(sums).splitlines(), start=1):
        expected, _, name = line.partition("  ")
        if not name:
            raise InputError(f"{sums}:{number}: expected '<sha256>  <path>'")
        path = raw_dir / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise InputError(f"{sums}:{number}: {name!r} is not a path inside {raw_dir}")
        if not path.is_file():
            raise InputError(f"{path}: listed in {sums} but missing; re-run "
                             f"`dvc repro fetch@{corpus}`")
        if file_sha256(path) != expected:
            raise InputError(f"{path}: sha256 differs from {sums} (changed after fetch); "
                             f"re-run `dvc repro fetch@{corpus}`")
