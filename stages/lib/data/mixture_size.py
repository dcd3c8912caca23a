"""How many rows a mixture has, or will have once `mix` builds it (for `plan`).

A built mixture (data/mixtures/<name>/stats.json) gives exact rows and tokens, but only
when it was built from the declaration being planned: its decontamination report's
per-component sizes are checked against that declaration, so a default-profile build
is never taken for the paper profile's mixture. Otherwise each component is estimated
from the best count there is, in this order:

    data/corpora   the normalized split, with the component's filters applied
    mirror         the raw files of the corpus mirror read by corpora.yaml's reader (the
                   records `normalize` would write), with the filters applied
    MANIFEST       the mirror's MANIFEST.json n_items: before filters, and for the whole
                   corpus when the manifest does not list the split (an upper bound)

Estimates are taken before decontamination, which drops a few benchmark overlaps.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, read_json, read_jsonl
from stages.lib.data.mixture_config import Component, Mixture, available_items, sample_size

Records = list[dict[str, Any]]


@dataclass
class ComponentSize:
    key: str
    corpus: str
    split: str
    rows: int | None          # None: unknown (a fraction of a corpus that was not found)
    available: int | None     # items after filters (and unchanged cap), before decontamination
    source: str               # where `available` came from


@dataclass
class MixtureSize:
    name: str
    rows: int | None
    status: str               # built | estimated | unknown
    source: str
    tokens: int | None = None
    token_unit: str = ""      # stats.json length_unit: base-model tokens or whitespace tokens
    components: list[ComponentSize] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (ERROR | WARNING, text)


class CorpusCounts:
    """Items of a corpus split that pass a component's filters, from the best source."""

    def __init__(self, corpora_dir: Path, mirror: Path | None,
                 corpora_params: dict[str, Any] | None):
        self.corpora_dir = corpora_dir
        self.mirror = mirror
        self.declared = (corpora_params or {}).get("corpora") or {}
        self.corpora_params = corpora_params or {}
        # each split is read once, however many components and mixtures draw on it
        self._normalized: dict[tuple[str, str], Records | None] = {}
        self._splits: dict[str, dict[str, Records] | None] = {}  # mirror reads, per corpus
        self._manifest: list[dict[str, Any]] | None = None

    def available(self, comp: Component) -> tuple[int | None, str]:
        records = self._normalized_split(comp.corpus, comp.split)
        if records is not None:
            return available_items(records, comp), str(self.corpora_dir)
        splits = self._mirror_splits(comp.corpus)
        if splits is not None and comp.split in splits:
            return available_items(splits[comp.split], comp), "mirror"
        return self._manifest_count(comp.corpus, comp.split)

    def _normalized_split(self, corpus: str, split: str) -> Records | None:
        if (corpus, split) not in self._normalized:
            path = self.corpora_dir / corpus / f"{split}.jsonl"
            self._normalized[(corpus, split)] = read_jsonl(path) if path.is_file() else None
        return self._normalized[(corpus, split)]

    def _mirror_splits(self, corpus: str) -> dict[str, Records] | None:
        if corpus not in self._splits:
            self._splits[corpus] = self._read_mirror(corpus)
        return self._splits[corpus]

    def _read_mirror(self, corpus: str) -> dict[str, Records] | None:
        if self.mirror is None or corpus not in self.declared:
            return None
        from stages.lib.data.corpora import corpus_spec, file_specs, read_corpus

        spec = corpus_spec(self.corpora_params, corpus)
        if not all((self.mirror / f.path).is_file() for f in file_specs(spec)
                   if f.use != "extra"):
            return None  # not mirrored (e.g. an optional corpus moved into `corpora`)
        return read_corpus(spec, corpus, self.mirror)

    def _manifest_count(self, corpus: str, split: str) -> tuple[int | None, str]:
        entries = [e for e in self._manifest_entries() if e.get("id") == corpus]
        exact = [e for e in entries if e.get("split") == split]
        if exact and isinstance(exact[0].get("n_items"), int):
            return exact[0]["n_items"], "MANIFEST (before filters)"
        if entries and isinstance(entries[0].get("n_items"), int):
            return entries[0]["n_items"], "MANIFEST (all splits, before filters)"
        return None, "not found"

    def _manifest_entries(self) -> list[dict[str, Any]]:
        if self._manifest is None:
            path = self.mirror / "MANIFEST.json" if self.mirror else None
            try:
                data = json.loads(path.read_text(encoding="utf-8")) if path else []
            except FileNotFoundError:
                data = []
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
            self._manifest = data if isinstance(data, list) else []
        return self._manifest


def built_size(folder: Path, name: str, mixture: Mixture) -> tuple[MixtureSize | None, str]:
    """The built mixture's size when it matches the declaration; else (None, why not)."""
    stats_path = folder / "stats.json"
    if not stats_path.is_file():
        parquet = folder / "train.parquet"
        if not parquet.is_file():
            return None, f"{folder} not built"
        import pyarrow.parquet as pq

        rows = pq.read_metadata(parquet).num_rows
        return MixtureSize(name, rows, "built", f"{parquet} (not checked against the "
                           f"declaration: no stats.json)"), ""
    stats = read_json(stats_path)
    report_path = folder / "decontamination.json"
    if report_path.is_file():
        stale = _stale_component(read_json(report_path).get("components") or {}, mixture)
        if stale:
            return None, f"{folder} was built from another declaration ({stale})"
    unit = str(stats.get("length_unit", ""))
    tokens = stats.get("tokens_total")
    return MixtureSize(name, int(stats["rows"]), "built", str(stats_path),
                       tokens=tokens if isinstance(tokens, int) else None,
                       token_unit=unit), ""


def _stale_component(reports: dict[str, dict[str, Any]], mixture: Mixture) -> str:
    """The first difference between a built mixture's components and the declaration."""
    if set(reports) != set(mixture.components):
        return f"components {sorted(reports)} vs {sorted(mixture.components)}"
    for key, comp in mixture.components.items():
        report = reports[key]
        if (report.get("corpus"), report.get("split")) != (comp.corpus, comp.split):
            return f"{key}: {report.get('corpus')}/{report.get('split')}"
        pool = report.get("after_unchanged_cap", report.get("after_decontamination", 0))
        wanted = sample_size(comp, int(pool))
        if report.get("sampled") != wanted:
            return f"{key}: {report.get('sampled')} rows, the declaration gives {wanted}"
    return ""


def estimate_size(name: str, mixture: Mixture, counts: CorpusCounts) -> MixtureSize:
    """Rows per component from the declaration and the best count of each corpus split."""
    sizes: list[ComponentSize] = []
    problems: list[tuple[str, str]] = []
    for key, comp in mixture.components.items():
        where = f"mixtures.{name}.components.{key}"
        available, source = counts.available(comp)
        if available is None:
            rows = comp.n
            hint = f" {comp.missing_hint}" if comp.missing_hint else ""
            what = "its n is taken as is" if rows else "rows unknown"
            problems.append(("WARNING", (f"{where}: {comp.corpus}/{comp.split} is in neither "
                                         f"data/corpora, the mirror nor its MANIFEST.json: "
                                         f"{what}.{hint}")))
        else:
            rows = sample_size(comp, available)
            if comp.n is not None and comp.n > available and not comp.replace:
                problems.append(("ERROR", (f"{where}.n = {comp.n} but {comp.corpus}/"
                                           f"{comp.split} has only {available} items "
                                           f"({source}): mix will stop; lower n or set "
                                           f"replace: true")))
        sizes.append(ComponentSize(key, comp.corpus, comp.split, rows, available, source))
    known = [s.rows for s in sizes if s.rows is not None]
    total = sum(known) if len(known) == len(sizes) else None
    sources = sorted({s.source for s in sizes if s.available is not None})
    detail = (f"{', '.join(sources)}; before decontamination" if sources
              else "declared n only")
    return MixtureSize(name, total, "estimated" if total is not None else "unknown", detail,
                       components=sizes, problems=problems)
