"""mix@<mixture>: normalized corpora + params.mixtures.<name> -> an instruction mixture.

A mixture is a named set of components, each drawing n (or a fraction) items of one
corpus split for one task. Items that overlap the benchmark are dropped before sampling
(stages/lib/data/decontam.py), every item is formatted with the one prompt formatter
(stages/lib/data/prompts.py), and the result is written as `train.parquet` + stats.json +
decontamination.json + a dataset card. Same params and inputs -> byte-identical output.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path, file_sha256, read_jsonl, write_json
from stages.lib.core.params import load_params
from stages.lib.data.decontam import BenchmarkIndex, build_index
from stages.lib.data.mixture_config import (
    GENERIC,
    Component,
    capped_available,
    keep,
    parse_mixture,
    sample_size,
    unchanged,
    unchanged_quota,
)
from stages.lib.data.prompts import Tasks, format_example, read_tasks, task_instruction

# what a mixture folder holds: a re-run may replace a folder of these and nothing else
MIXTURE_FILES = ("train.parquet", "stats.json", "decontamination.json", "README.md")


def load_split(corpora: Path, name: str, key: str, comp: Component) -> tuple[Path, list[dict]]:
    path = corpora / comp.corpus / f"{comp.split}.jsonl"
    if not path.is_file():
        where = f"mixtures.{name}.components.{key}"
        if not (corpora / comp.corpus).is_dir():
            known = sorted(p.name for p in corpora.iterdir() if p.is_dir()) if corpora.is_dir() else []
            hint = f" {comp.missing_hint}" if comp.missing_hint else ""
            raise InputError(f"params.yaml: {where}.corpus: unknown corpus {comp.corpus!r}: "
                             f"{corpora / comp.corpus} does not exist.{hint} "
                             f"(available: {', '.join(known) or 'none'})")
        splits = sorted(p.stem for p in (corpora / comp.corpus).glob("*.jsonl"))
        raise InputError(f"params.yaml: {where}.split: {path} does not exist "
                         f"(splits of {comp.corpus}: {', '.join(splits)})")
    return path, read_jsonl(path)


def to_row(key: str, comp: Component, record: dict, copy: int, tasks: Tasks,
           draw: str) -> dict[str, str]:
    if comp.task == GENERIC:
        instruction = record.get("meta", {}).get("instruction", "")
    else:  # a task with paraphrases: the row's own, drawn from `draw`
        instruction = task_instruction(comp.task, tasks, f"{draw}:{record['id']}:{copy}")
    example = format_example(instruction, record.get("src", ""), record["refs"][0])
    suffix = f"#{copy}" if copy else ""
    # source: the text the completion edits, for train.edit_weight's word diff; a generic
    # row answers its own instruction and edits nothing
    source = "" if comp.task == GENERIC else record.get("src", "")
    # instruction and input: what train renders another prompt_template from (the prompt
    # column is the paper's Alpaca template, the dataset's published form)
    return {"id": f"{key}/{record['id']}{suffix}", "corpus": comp.corpus, "task": comp.task,
            **example, "source": source, "instruction": instruction,
            "input": record.get("src", "")}


def draw(rng: random.Random, pool_size: int, same: list[int], comp: Component,
         n: int) -> list[int]:
    """Indices into a pool of `pool_size` rows for a sample of n rows; `same` lists the
    pool's unchanged pairs (ascending). Under filters.max_unchanged_share, the changed
    and the unchanged pairs are drawn apart, changed first (so a share of 0.0 draws the
    rows that drop_unchanged: true draws), then shuffled together."""
    def pick(size: int, k: int) -> list[int]:
        return rng.choices(range(size), k=k) if comp.replace else rng.sample(range(size), k)

    share = comp.filters.max_unchanged_share
    if share is None:
        return pick(pool_size, n)
    unchanged_rows = set(same)
    changed = [i for i in range(pool_size) if i not in unchanged_rows]
    quota = unchanged_quota(n, len(changed), len(same), share, comp.replace)
    picks = [changed[i] for i in pick(len(changed), n - quota)]
    if quota:
        picks += [same[i] for i in pick(len(same), quota)]
        rng.shuffle(picks)
    return picks


def build_component(name: str, key: str, comp: Component, records: list[dict],
                    index: BenchmarkIndex | None, tasks: Tasks
                    ) -> tuple[list[dict], dict[str, Any]]:
    """Filter, decontaminate and sample one component -> (rows, its report)."""
    pool = [r for r in records if keep(r, comp.filters)]
    dropped = {"exact": 0, "ngram": 0}
    if index is not None:
        clean = []
        for record in pool:
            hit = index.check(record.get("src", ""))
            if hit:
                dropped[hit] += 1
            else:
                clean.append(record)
        pool = clean
    share = comp.filters.max_unchanged_share
    # the pool's unchanged pairs, judged once (each test tokenizes two texts); needed
    # only under a cap
    same = [i for i, record in enumerate(pool) if unchanged(record)] if share is not None else []
    available = capped_available(len(pool) - len(same), len(same), share)
    n = sample_size(comp, available)
    where = f"params.yaml: mixtures.{name}.components.{key}"
    if n > available and not comp.replace:
        capped = "" if share is None else f" and max_unchanged_share {share}"
        raise InputError(
            f"{where}.n = {n} but only {available} items of {comp.corpus}/{comp.split} remain "
            f"after filters and decontamination{capped} (of {len(records)}); lower n or set "
            f"replace: true")
    if not pool:
        raise InputError(f"{where}: no items left")
    if comp.replace and share is not None and share < 1 and len(same) == len(pool):
        raise InputError(f"{where}.filters.max_unchanged_share: every item is an unchanged "
                         f"pair, no changed pair to draw")
    # A string seed is hashed with SHA-512 by random.Random: stable across runs/machines.
    rng = random.Random(f"{comp.seed}:{name}:{key}")
    picks = draw(rng, len(pool), same, comp, n)
    seen: dict[int, int] = {}
    rows = []
    for i in picks:
        rows.append(to_row(key, comp, pool[i], seen.get(i, 0), tasks,
                           f"{comp.seed}:{name}:{key}"))
        seen[i] = seen.get(i, 0) + 1
    report = {"corpus": comp.corpus, "split": comp.split, "task": comp.task,
              "available": len(records), "after_filters": len(pool) + sum(dropped.values()),
              "dropped_exact": dropped["exact"], "dropped_ngram": dropped["ngram"],
              "after_decontamination": len(pool), "sampled": n, "replace": comp.replace,
              "distinct": len(seen), "standin_for": comp.standin_for}
    if share is not None:  # absent without a cap: the report stays as it was
        unchanged_rows = set(same)
        report.update(after_unchanged_cap=available,
                      unchanged_sampled=sum(i in unchanged_rows for i in picks))
    return rows, report


def load_benchmark(benchmark: Path) -> tuple[list[dict], list[str]]:
    files = sorted(benchmark.glob("*.jsonl"))
    if not files:
        raise InputError(f"{benchmark}: no benchmark *.jsonl files to decontaminate against")
    return [item for f in files for item in read_jsonl(f)], [f.stem for f in files]


def percentiles(values: list[int]) -> dict[str, int]:
    """Nearest-rank percentiles (integers: deterministic, no float formatting drift)."""
    ordered = sorted(values)
    if not ordered:
        return {}
    pick = {q: ordered[min(len(ordered) - 1, max(0, -(-q * len(ordered) // 100) - 1))]
            for q in (50, 90, 95, 99)}
    return {"min": ordered[0], **{f"p{q}": v for q, v in pick.items()}, "max": ordered[-1]}


def mixture_stats(name: str, rows: list[dict], reports: dict[str, dict],
                  tokenizer: Path | None) -> dict[str, Any]:
    """Rows per task/corpus and token-length percentiles of prompt, completion and both."""
    if tokenizer is not None and (tokenizer / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        from stages.lib.model.model_dirs import check_no_custom_code

        check_no_custom_code(tokenizer)
        tok = AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=False)

        def count(texts: list[str]) -> list[int]:
            return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
        unit = f"tokens of {tokenizer}"
    else:
        def count(texts: list[str]) -> list[int]:
            return [len(t.split()) for t in texts]
        unit = "whitespace tokens"
    prompt = count([r["prompt"] for r in rows])
    completion = count([r["completion"] for r in rows])
    by_task: dict[str, int] = {}
    by_corpus: dict[str, int] = {}
    for row in rows:
        by_task[row["task"]] = by_task.get(row["task"], 0) + 1
        by_corpus[row["corpus"]] = by_corpus.get(row["corpus"], 0) + 1
    return {"mixture": name, "rows": len(rows), "rows_per_task": by_task,
            "rows_per_corpus": by_corpus, "length_unit": unit,
            "length_prompt": percentiles(prompt), "length_completion": percentiles(completion),
            "length_total": percentiles([a + b for a, b in zip(prompt, completion)]),
            "tokens_total": sum(prompt) + sum(completion),
            "standins": {k: r["standin_for"] for k, r in reports.items() if r["standin_for"]}}



def write_parquet(rows: list[dict], path: Path) -> None:
    """HF `datasets` parquet; the writer is deterministic for the same rows."""
    from datasets import Dataset

    columns = ["id", "corpus", "task", "prompt", "completion", "source", "instruction", "input"]
    Dataset.from_dict({c: [r[c] for r in rows] for c in columns}).to_parquet(str(path))


@click.command("mix")
@click.option("--mixture", "name", required=True, help="A key of params.yaml `mixtures`.")
@click.option("--corpora", type=click.Path(path_type=Path), default=Path("data/corpora"))
@click.option("--benchmark", type=click.Path(path_type=Path), default=Path("data/benchmark"))
@click.option("--datacards", type=click.Path(path_type=Path), default=Path("datacards"))
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None,
              help="Tokenizer folder for length statistics (default: whitespace tokens).")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path))
def mix(name: str, corpora: Path, benchmark: Path, datacards: Path, tokenizer: Path | None,
        params_path: str, out: Path) -> None:
    """Build instruction mixture NAME from normalized corpora into OUT (parquet + card)."""
    from stages.lib.publishing.cards import render_mixture_card

    params = load_params(params_path)
    mixture = parse_mixture(params, name)
    tasks = read_tasks(params)
    index, datasets = None, []
    if mixture.decontamination.enabled:
        items, datasets = load_benchmark(benchmark)
        index = build_index(items, mixture.decontamination.ngram)
    rows: list[dict] = []
    reports: dict[str, dict] = {}
    sources: dict[str, str] = {}
    for key, comp in mixture.components.items():
        path, records = load_split(corpora, name, key, comp)
        sources[f"{comp.corpus}/{comp.split}"] = file_sha256(path)
        part, reports[key] = build_component(name, key, comp, records, index, tasks)
        rows.extend(part)
        click.echo(f"mix {name}: {key}: {len(part)} rows from {comp.corpus}/{comp.split} "
                   f"(dropped {reports[key]['dropped_exact']} exact + "
                   f"{reports[key]['dropped_ngram']} n-gram overlaps)", err=True)
    random.Random(f"{mixture.seed}:{name}").shuffle(rows)
    decontam = {"enabled": mixture.decontamination.enabled, "ngram": mixture.decontamination.ngram,
                "benchmark_datasets": datasets, "components": reports,
                "dropped_total": sum(r["dropped_exact"] + r["dropped_ngram"]
                                     for r in reports.values())}
    stats = mixture_stats(name, rows, reports, tokenizer)
    stats["sources_sha256"] = sources
    with atomic_path(out, is_dir=True, owns=MIXTURE_FILES) as tmp:
        write_parquet(rows, tmp / "train.parquet")
        write_json(tmp / "stats.json", stats)
        write_json(tmp / "decontamination.json", decontam)
        card = render_mixture_card(name, mixture, stats, decontam, datacards, tasks)
        (tmp / "README.md").write_text(card, encoding="utf-8")
    click.echo(f"mix {name}: {len(rows)} rows -> {out}", err=True)
