"""The `mixtures` params section: typed, validated, and the component filters.

The one home of a mixture's declaration, read by the mix stage and by `plan`
(which sizes a mixture before it is built), so neither imports the other - as
stages/lib/training/train_config.py is for `train`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from stages.lib.core.io import InputError
from stages.lib.core.params import deep_merge, parse_section
from stages.lib.core.same_words import same_words
from stages.lib.data.prompts import read_tasks

GENERIC = "generic"  # task of instruction-following data that carries its own instruction


@dataclass
class Filters:
    intent: list[str] | None = None   # keep only records whose meta.intent is listed (ITERATER)
    min_words: int = 0                # of the input; 0 = no bound
    max_words: int = 0
    drop_empty_output: bool = True
    drop_unchanged: bool = False      # output with the input's words (e.g. GEC no-op sentences)
    # Cap on unchanged pairs (output with the input's words, `unchanged`) among the component's sampled
    # rows, so an edit model does not learn to copy: null = no cap (the sample as drawn
    # today); 0.0 = none (the same rows as drop_unchanged: true); 0.1 = at most 10%, the
    # rest changed pairs. Under the cap the sample keeps the pool's own share (rounded):
    # the cap never adds unchanged pairs. Drawn with the component's seed; a fraction is
    # of the rows the cap allows. Not together with drop_unchanged.
    max_unchanged_share: float | None = None


@dataclass
class Component:
    corpus: str                       # a data/corpora/<corpus> folder (manifest id)
    task: str                         # generic or a key of params tasks
    split: str = "train"
    n: int | None = None              # exactly one of n / fraction
    fraction: float | None = None
    seed: int = 0
    replace: bool = False             # sample with replacement (allows n > available)
    standin_for: str = ""             # the paper's corpus this one replaces, if any
    missing_hint: str = ""            # where to get the corpus when it is absent
    filters: Filters = field(default_factory=Filters)


@dataclass
class Decontamination:
    enabled: bool = True
    ngram: int = 13                   # shared n-gram length; 0 = exact matches only


@dataclass
class Mixture:
    components: dict[str, Component]  # a mapping, so a profile can override one component
    description: str = ""
    seed: int = 0                     # final shuffle
    decontamination: Decontamination = field(default_factory=Decontamination)


def mixture_spec(mixtures: dict[str, Any], name: str) -> dict[str, Any]:
    """`mixtures.<name>` as a plain mapping, a derived mixture resolved.

    A derived mixture (`derived_from: <other>`, `drop: [component keys]`, optional
    `components` merged over the other's) is written without YAML anchors or merge
    keys, which DVC's `-S` cannot edit (an override inside an anchor is silently
    lost), and still follows every edit of the mixture it derives from."""
    if name not in mixtures:
        raise InputError(f"params.yaml: mixtures.{name} is not defined "
                         f"(defined: {', '.join(sorted(mixtures)) or 'none'})")
    spec = mixtures[name]
    if not isinstance(spec, dict) or "derived_from" not in spec:
        return spec
    spec = dict(spec)
    parent_name = spec.pop("derived_from")
    drop = spec.pop("drop", None) or []
    where = f"params.yaml: mixtures.{name}"
    if parent_name == name or parent_name not in mixtures:
        raise InputError(f"{where}.derived_from: {parent_name!r} is not another mixture")
    if "derived_from" in (mixtures[parent_name] or {}):
        raise InputError(f"{where}.derived_from: {parent_name!r} is itself derived; "
                         f"derive from the mixture it derives from")
    parent = mixtures[parent_name]
    unknown = [key for key in drop if key not in parent.get("components", {})]
    if unknown:
        raise InputError(f"{where}.drop: {unknown[0]!r} is not a component of "
                         f"mixtures.{parent_name}")
    components = {k: v for k, v in parent.get("components", {}).items() if k not in drop}
    components = deep_merge(components, spec.pop("components", None) or {})
    return {**{k: v for k, v in parent.items() if k != "components"}, **spec,
            "components": components}


def parse_mixture(params: dict[str, Any], name: str) -> Mixture:
    """The validated `mixtures.<name>` (a `components.<key>: null` removes that component)."""
    spec = mixture_spec(params.get("mixtures") or {}, name)
    if isinstance(spec, dict) and isinstance(spec.get("components"), dict):
        spec = {**spec, "components": {k: v for k, v in spec["components"].items()
                                       if v is not None}}
    mixture = parse_section(Mixture, spec, f"mixtures.{name}")
    if not mixture.components:
        raise InputError(f"params.yaml: mixtures.{name}.components is empty")
    tasks = read_tasks(params)
    for key, comp in mixture.components.items():
        where = f"params.yaml: mixtures.{name}.components.{key}"
        if comp.task != GENERIC and comp.task not in tasks:
            raise InputError(f"{where}.task: unknown task {comp.task!r} "
                             f"(known: {GENERIC}, {', '.join(tasks)}; params tasks)")
        if (comp.n is None) == (comp.fraction is None):
            raise InputError(f"{where}: give exactly one of n or fraction")
        if comp.fraction is not None and not 0 < comp.fraction <= 1:
            raise InputError(f"{where}.fraction must be in (0, 1], got {comp.fraction}")
        if comp.n is not None and comp.n < 1:
            raise InputError(f"{where}.n must be positive, got {comp.n}")
        share = comp.filters.max_unchanged_share
        if share is not None and not 0 <= share <= 1:
            raise InputError(f"{where}.filters.max_unchanged_share must be in [0, 1] or "
                             f"null, got {share}")
        if share is not None and comp.filters.drop_unchanged:
            raise InputError(f"{where}.filters.max_unchanged_share: set it or drop_unchanged, "
                             f"not both (max_unchanged_share 0.0 drops every unchanged pair)")
    return mixture


def unchanged(record: dict) -> bool:
    """Whether a record's (first) output has its input's words: spacing, even around
    punctuation, is no edit (stages/lib/core/same_words.py, the rule the copy margin and the
    copy share use)."""
    refs = record.get("refs") or [""]
    return same_words(refs[0], record.get("src", ""))


def keep(record: dict, f: Filters) -> bool:
    """Whether a normalized record passes a component's filters."""
    src, refs = record.get("src", ""), record.get("refs") or [""]
    if f.intent is not None and record.get("meta", {}).get("intent") not in f.intent:
        return False
    words = len(src.split())
    if words < f.min_words or (f.max_words and words > f.max_words):
        return False
    if f.drop_empty_output and not refs[0].strip():
        return False
    return not (f.drop_unchanged and unchanged(record))


def sample_size(comp: Component, available: int) -> int:
    """Rows a component draws from `available` items (after filters and decontamination)."""
    return comp.n if comp.n is not None else max(1, round((comp.fraction or 0) * available))


def unchanged_quota(n: int, changed: int, unchanged_items: int, share: float,
                    replace: bool = False) -> int:
    """Unchanged pairs among `n` rows drawn under max_unchanged_share `share`: the pool's
    own share of them (rounded), capped at floor(share x n) and, without replacement, at
    those there are. Exact arithmetic: a share of 0.29 allows 29 of 100 rows, not 28."""
    total = changed + unchanged_items
    if not total:
        return 0
    quota = min(round(Fraction(n * unchanged_items, total)),
                math.floor(Fraction(str(share)) * n))
    return quota if replace else min(quota, unchanged_items)


def capped_available(changed: int, unchanged_items: int, share: float | None) -> int:
    """The most rows a component can draw without replacement under the cap: every
    changed pair and the unchanged pairs the cap allows beside them."""
    if share is None:
        return changed + unchanged_items
    # rows - quota(rows) grows by 0 or 1 per row (the quota grows by at most 1), so the
    # largest size whose changed rows fit is found by bisection
    low, high = 0, changed + unchanged_items
    while low < high:
        mid = (low + high + 1) // 2
        if mid - unchanged_quota(mid, changed, unchanged_items, share) <= changed:
            low = mid
        else:
            high = mid - 1
    return low


def available_items(records: list[dict], comp: Component) -> int:
    """Rows `comp` can draw without replacement from `records`: those that pass its
    filters, with unchanged pairs beyond its max_unchanged_share left out."""
    kept = [r for r in records if keep(r, comp.filters)]
    if comp.filters.max_unchanged_share is None:
        return len(kept)
    same = sum(unchanged(r) for r in kept)
    return capped_available(len(kept) - same, same, comp.filters.max_unchanged_share)
