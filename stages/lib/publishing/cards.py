"""Mixture dataset cards: huggingface_hub DatasetCard rendered from datacards/templates.

Source facts (licence, citation, upstream) come from the per-corpus cards
datacards/corpora/<corpus>.yaml; the mixture's licence is the most restrictive of them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from stages.lib.data.prompts import Tasks, format_prompt, read_tasks
from stages.lib.publishing.adapter_card import most_restrictive

TEMPLATE = Path("templates") / "mixture_card.md"

# Free-text licence -> Hub licence id, checked in order (most specific first).
_LICENSE_PATTERNS = [
    (r"by-nc-sa", "cc-by-nc-sa-4.0"), (r"by-nc-nd", "cc-by-nc-nd-4.0"),
    (r"by-nc\b", "cc-by-nc-4.0"), (r"non-?commercial|research", "other"),
    (r"gpl", "gpl-3.0"), (r"by-sa", "cc-by-sa-4.0"), (r"cc[ -]by\b", "cc-by-4.0"),
    (r"apache", "apache-2.0"), (r"\bmit\b", "mit"),
]


def hub_license(text: str) -> str:
    """A Hub licence id for a corpus card's licence text (`other` when unrecognised)."""
    low = text.lower()
    for pattern, license_id in _LICENSE_PATTERNS:
        if re.search(pattern, low):
            return license_id
    return "other"


def corpus_source(datacards: Path, corpus: str) -> dict[str, str]:
    """Licence/citation/upstream of a corpus from datacards/corpora/<corpus>.yaml."""
    path = datacards / "corpora" / f"{corpus}.yaml"
    if not path.is_file():
        return {"key": corpus, "licence": f"unknown (no {path})", "license_id": "other",
                "citation": "", "upstream": "", "description": ""}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    licence = str(data.get("licence") or data.get("license") or "unknown")
    license_id = str(data.get("license_id") or data.get("hub_license") or hub_license(licence))
    upstream = data.get("upstream") or data.get("url") or data.get("homepage") or ""
    return {"key": corpus, "licence": licence, "license_id": license_id,
            "citation": str(data.get("citation") or "").strip(), "upstream": str(upstream),
            "description": str(data.get("description") or "").strip()}


def render_mixture_card(name: str, mixture: Any, stats: dict[str, Any],
                        decontam: dict[str, Any], datacards: Path,
                        tasks: Tasks | None = None) -> str:
    """The README.md of data/mixtures/<name> (YAML metadata + markdown body); `tasks`:
    params tasks (default the paper's seven)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    tasks = tasks if tasks is not None else read_tasks({})

    corpora = sorted({c.corpus for c in mixture.components.values()})
    sources = [corpus_source(datacards, c) for c in corpora]
    license_id = most_restrictive([s["license_id"] for s in sources])
    license_from = ", ".join(s["key"] for s in sources if s["license_id"] == license_id)
    extra: dict[str, Any] = {}
    if license_id == "other":
        extra["license_name"] = "research-only"
    rows = stats["rows"]
    size = ("n<1K" if rows < 1000 else "1K<n<10K" if rows < 10_000
            else "10K<n<100K" if rows < 100_000 else "100K<n<1M")
    data = DatasetCardData(
        language=["en"], license=license_id, pretty_name=f"writing-alpaca mixture: {name}",
        task_categories=["text-generation"], size_categories=[size],
        tags=["writing-assistance", "instruction-tuning", "grammatical-error-correction",
              "text-simplification", "writing-alpaca"],
        source_datasets=corpora, **extra,
    )
    card = DatasetCard.from_template(
        data, template_path=str(datacards / TEMPLATE), name=name,
        pretty_name=data.pretty_name, description=mixture.description.strip(), stats=stats,
        components=list(decontam["components"].items()),
        standins=[(k, f"{r['corpus']}/{r['split']} instead of {r['standin_for']}")
                  for k, r in decontam["components"].items() if r["standin_for"]],
        template=format_prompt("{instruction}", "{input}") + "{output}",
        task_prompts=[(task, " / ".join(options)) for task, options in tasks.items()],
        decontam=decontam, sources=sources,
        license_id=license_id, license_name=extra.get("license_name", ""),
        license_from=license_from,
    )
    return str(card).rstrip("\n") + "\n"
