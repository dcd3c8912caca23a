"""mix stage: determinism, sampling, decontamination, card and spec errors (fixture corpora)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stages.lib.data.decontam import build_index, normalize_text
from stages.mix import mix


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    corpora = tmp_path / "corpora"
    write_jsonl(corpora / "gen" / "train.jsonl", [
        {"id": f"gen-{i}", "src": "" if i % 3 else f"input number {i}", "refs": [f"answer {i}"],
         "meta": {"instruction": f"Do task {i}."}} for i in range(40)])
    write_jsonl(corpora / "gec" / "train.jsonl", [
        {"id": f"gec-{i}", "src": f"she go to school number {i} .",
         "refs": [f"She goes to school number {i} ."], "meta": {}} for i in range(30)])
    write_jsonl(corpora / "itr" / "train.jsonl", [
        {"id": f"itr-{i}", "src": f"sentence {i} to edit", "refs": [f"edited sentence {i}"],
         "meta": {"intent": ["fluency", "clarity"][i % 2]}} for i in range(20)])
    # Benchmark: one exact duplicate (modulo case/punctuation) and one long shared n-gram.
    long_text = "the quick brown fox jumps over the lazy dog near the old river bank today"
    write_jsonl(tmp_path / "benchmark" / "bea.jsonl", [
        {"id": "b1", "dataset": "bea", "task": "grammar", "instruction": "x",
         "input": "She go to school NUMBER 3", "references": ["unrelated"]},
        {"id": "b2", "dataset": "bea", "task": "grammar", "instruction": "x",
         "input": f"prefix {long_text} suffix", "references": []}])
    write_jsonl(corpora / "gec" / "train.jsonl", [
        *[json.loads(line) for line in (corpora / "gec" / "train.jsonl").read_text().splitlines()],
        {"id": "gec-long", "src": f"{long_text} and more", "refs": ["x"], "meta": {}}])
    cards = tmp_path / "datacards"
    (cards / "corpora").mkdir(parents=True)
    (cards / "corpora" / "gen.yaml").write_text(
        "licence: CC BY-NC 4.0\ncitation: '@misc{gen}'\nupstream: https://example.org/gen\n")
    (cards / "corpora" / "gec.yaml").write_text("licence: Apache-2.0\n")
    (cards / "corpora" / "itr.yaml").write_text("licence: GPL-3.0\n")
    (cards / "templates").mkdir()
    repo_template = Path(__file__).resolve().parents[1] / "datacards/templates/mixture_card.md"
    (cards / "templates" / "mixture_card.md").write_text(repo_template.read_text())
    params = {"mixtures": {"mini": {"components": {
        "generic": {"corpus": "gen", "task": "generic", "n": 10, "seed": 1},
        "grammar": {"corpus": "gec", "task": "grammar", "n": 20},
        "fluency": {"corpus": "itr", "task": "fluency", "fraction": 0.5,
                    "standin_for": "ITERATER-V2", "filters": {"intent": ["fluency"]}},
    }}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def run_mix(ws: Path, out: str, name: str = "mini", params: str = "params.yaml"):
    return CliRunner().invoke(mix, [
        "--mixture", name, "--corpora", str(ws / "corpora"), "--benchmark", str(ws / "benchmark"),
        "--datacards", str(ws / "datacards"), "--params", str(ws / params),
        "--out", str(ws / out)])


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def test_mix_is_deterministic_and_complete(workspace: Path) -> None:
    first, second = run_mix(workspace, "a"), run_mix(workspace, "b")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert tree_hash(workspace / "a") == tree_hash(workspace / "b")
    from datasets import Dataset

    data = Dataset.from_parquet(str(workspace / "a" / "train.parquet"))
    assert data.column_names == ["id", "corpus", "task", "prompt", "completion", "source",
                                 "instruction", "input"]
    from stages.lib.data.prompts import format_prompt

    # the raw instruction and input re-render the paper's prompt (train renders others)
    assert all(r["prompt"] == format_prompt(r["instruction"], r["input"]) for r in data)
    assert len(data) == 10 + 20 + 5
    stats = json.loads((workspace / "a" / "stats.json").read_text())
    assert stats["rows_per_task"] == {"generic": 10, "grammar": 20, "fluency": 5}
    assert stats["standins"] == {"fluency": "ITERATER-V2"}
    # generic items keep their instruction; empty input -> the no-input template
    generic = [r for r in data if r["task"] == "generic"]
    assert all("### Instruction:\nDo task" in r["prompt"] for r in generic)
    assert any("### Input:" not in r["prompt"] for r in generic)
    assert all("Fix grammatical errors" in r["prompt"] for r in data if r["task"] == "grammar")


def test_decontamination_drops_overlaps(workspace: Path) -> None:
    assert run_mix(workspace, "a").exit_code == 0
    report = json.loads((workspace / "a" / "decontamination.json").read_text())
    grammar = report["components"]["grammar"]
    assert (grammar["dropped_exact"], grammar["dropped_ngram"]) == (1, 1)
    ids = {r["id"] for r in __import__("datasets").Dataset.from_parquet(
        str(workspace / "a" / "train.parquet"))}
    assert "grammar/gec-3" not in ids and "grammar/gec-long" not in ids
    card = (workspace / "a" / "README.md").read_text()
    assert "license: cc-by-nc-4.0" in card  # most restrictive of CC BY-NC, GPL, Apache
    assert "@misc{gen}" in card and "ITERATER-V2" in card


def test_normalization_and_short_texts() -> None:
    assert normalize_text("  She, go!  To\tSCHOOL. ") == "she go to school"
    index = build_index([{"input": "a b c", "references": []}], n=13)
    assert index.check("A b, c!") == "exact" and index.check("a b c d") is None


def edit_params(ws: Path, change) -> None:
    params = yaml.safe_load((ws / "params.yaml").read_text())
    change(params["mixtures"]["mini"]["components"])
    (ws / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("change, needle", [
    (lambda c: c["grammar"].update(corpus="nope"), "mixtures.mini.components.grammar.corpus"),
    (lambda c: c["grammar"].update(n=500), "mixtures.mini.components.grammar.n = 500"),
    (lambda c: c["grammar"].update(nn=5), "unknown key mixtures.mini.components.grammar.nn"),
    (lambda c: c["grammar"].update(task="poetry"), "mixtures.mini.components.grammar.task"),
    (lambda c: c["grammar"].update(fraction=0.5), "exactly one of n or fraction"),
    (lambda c: c["fluency"]["filters"].update(intnet=["x"]),
     "unknown key mixtures.mini.components.fluency.filters.intnet"),
])
def test_bad_spec_names_the_key(workspace: Path, change, needle: str) -> None:
    edit_params(workspace, change)
    result = run_mix(workspace, "bad")
    assert result.exit_code == 2
    assert needle in result.output
    assert not (workspace / "bad").exists()


def test_replace_allows_oversampling(workspace: Path) -> None:
    edit_params(workspace, lambda c: c["grammar"].update(n=100, replace=True))
    result = run_mix(workspace, "r")
    assert result.exit_code == 0, result.output
    stats = json.loads((workspace / "r" / "stats.json").read_text())
    assert stats["rows_per_task"]["grammar"] == 100


def test_null_component_is_removed(workspace: Path) -> None:
    edit_params(workspace, lambda c: c.update(generic=None))
    assert run_mix(workspace, "n").exit_code == 0
    stats = json.loads((workspace / "n" / "stats.json").read_text())
    assert "generic" not in stats["rows_per_task"]


def test_repo_mixtures_parse_in_both_profiles() -> None:
    from stages.lib.core.params import deep_merge
    from stages.mix import parse_mixture

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    paper = deep_merge({k: v for k, v in raw.items() if k != "profiles"},
                       raw["profiles"]["paper"])
    for params in (raw, paper):
        for name in [*raw["build"]["mixtures"], "writing-only", "alpaca-gpt4"]:
            parse_mixture(params, name)
    sizes = parse_mixture(paper, "writing-alpaca").components
    assert sizes["generic"].fraction == 1.0 and sizes["grammar"].n == 10000
    assert parse_mixture(raw, "writing-alpaca").components["grammar"].n < 10000


def rows_of(folder: Path) -> list[dict]:
    from datasets import Dataset

    return Dataset.from_parquet(str(folder / "train.parquet")).to_list()


def test_source_column_holds_the_input_of_writing_rows(workspace: Path) -> None:
    assert run_mix(workspace, "a").exit_code == 0
    rows = rows_of(workspace / "a")
    grammar = [r for r in rows if r["task"] == "grammar"]
    assert grammar and all(r["source"] == f"she go to school number "
                           f"{r['id'].split('-')[-1]} ." for r in grammar)
    assert all(r["source"] and r["source"] in r["prompt"] for r in rows if r["task"] != "generic")
    assert all(r["source"] == "" for r in rows if r["task"] == "generic")
    # the rows as the mixture had them before the source column (digest of the fixture
    # mixture as the code before it wrote it): same ids, order, prompts and completions
    digest = hashlib.sha256(json.dumps(
        [[r["id"], r["corpus"], r["task"], r["prompt"], r["completion"]] for r in rows]
    ).encode()).hexdigest()
    assert digest == "d03ca955b6224c7b9cc3e38985b8cff2107427b4454dfedc7bef021871d94340"


def add_pairs_corpus(ws: Path, changed: int = 30, same: int = 30) -> None:
    """Corpus `pairs`: `changed` edited pairs and `same` unchanged ones, interleaved."""
    records = [{"id": f"c{i}", "src": f"he walk home {i} .", "refs": [f"He walks home {i} ."],
                "meta": {}} for i in range(changed)]
    records += [{"id": f"u{i}", "src": f"It is fine {i} .", "refs": [f" It is fine {i} . "],
                 "meta": {}} for i in range(same)]
    write_jsonl(ws / "corpora" / "pairs" / "train.jsonl", records[::2] + records[1::2])
    (ws / "datacards" / "corpora" / "pairs.yaml").write_text("licence: Apache-2.0\n")


def pairs_component(ws: Path, **spec) -> None:
    edit_params(ws, lambda c: c.update(pairs={"corpus": "pairs", "task": "grammar", **spec}))


def unchanged_rows(folder: Path) -> list[dict]:
    return [r for r in rows_of(folder) if r["id"].startswith("pairs/u")]


@pytest.mark.parametrize("spec, rows, same", [
    ({"n": 20, "filters": {"max_unchanged_share": 0.1}}, 20, 2),    # the cap binds
    ({"n": 20, "filters": {"max_unchanged_share": 0.35}}, 20, 7),
    ({"n": 20, "filters": {"max_unchanged_share": 0.9}}, 20, 10),   # the pool's own half
    ({"n": 20, "filters": {"max_unchanged_share": 0.0}}, 20, 0),
    # fraction of what the cap allows: 30 changed + 10 unchanged (a quarter of 40)
    ({"fraction": 1.0, "filters": {"max_unchanged_share": 0.25}}, 40, 10),
    ({"n": 50, "replace": True, "filters": {"max_unchanged_share": 0.1}}, 50, 5),
])
def test_max_unchanged_share_is_respected(workspace: Path, spec: dict, rows: int,
                                          same: int) -> None:
    add_pairs_corpus(workspace)
    pairs_component(workspace, **spec)
    first, second = run_mix(workspace, "a"), run_mix(workspace, "b")
    assert first.exit_code == second.exit_code == 0, first.output
    assert tree_hash(workspace / "a") == tree_hash(workspace / "b")  # seeded
    report = json.loads((workspace / "a" / "decontamination.json").read_text())
    assert report["components"]["pairs"]["sampled"] == rows
    assert report["components"]["pairs"]["unchanged_sampled"] == same
    assert len(unchanged_rows(workspace / "a")) == same
    assert all(r["completion"].strip() == r["source"].strip()
               for r in unchanged_rows(workspace / "a"))


def test_unchanged_share_zero_draws_the_rows_drop_unchanged_draws(workspace: Path) -> None:
    add_pairs_corpus(workspace)
    pairs_component(workspace, n=20, filters={"drop_unchanged": True})
    assert run_mix(workspace, "dropped").exit_code == 0
    pairs_component(workspace, n=20, filters={"max_unchanged_share": 0.0})
    assert run_mix(workspace, "capped").exit_code == 0
    assert rows_of(workspace / "dropped") == rows_of(workspace / "capped")


def test_a_respaced_copy_is_an_unchanged_pair(workspace: Path) -> None:
    """A target that only drops the space before the full stop (how detokenized text
    differs from a tokenized source) edits nothing: drop_unchanged drops it, while a
    target that changes a word or the case is kept."""
    records = [{"id": "respaced", "src": "It is fine , thanks .", "refs": ["It is fine, thanks."],
                "meta": {}},
               {"id": "word", "src": "he walk home .", "refs": ["he walks home ."], "meta": {}},
               {"id": "case", "src": "he walks home .", "refs": ["He walks home ."], "meta": {}}]
    write_jsonl(workspace / "corpora" / "pairs" / "train.jsonl", records)
    (workspace / "datacards" / "corpora" / "pairs.yaml").write_text("licence: Apache-2.0\n")
    pairs_component(workspace, fraction=1.0, filters={"drop_unchanged": True})
    result = run_mix(workspace, "dropped")
    assert result.exit_code == 0, result.output
    pairs = sorted(r["id"] for r in rows_of(workspace / "dropped") if r["id"].startswith("pairs/"))
    assert pairs == ["pairs/case", "pairs/word"]


def test_null_unchanged_share_leaves_the_mixture_as_it_was(workspace: Path) -> None:
    add_pairs_corpus(workspace)
    pairs_component(workspace, n=20)
    assert run_mix(workspace, "absent").exit_code == 0
    pairs_component(workspace, n=20, filters={"max_unchanged_share": None})
    assert run_mix(workspace, "null").exit_code == 0
    assert tree_hash(workspace / "absent") == tree_hash(workspace / "null")
    report = json.loads((workspace / "null" / "decontamination.json").read_text())
    assert "unchanged_sampled" not in report["components"]["pairs"]
    assert 0 < len(unchanged_rows(workspace / "null")) < 20  # drawn as they come


@pytest.mark.parametrize("filters, needle", [
    ({"max_unchanged_share": 0.1, "drop_unchanged": True},
     "mixtures.mini.components.pairs.filters.max_unchanged_share: set it or drop_unchanged"),
    ({"max_unchanged_share": 1.5},
     "mixtures.mini.components.pairs.filters.max_unchanged_share must be in [0, 1]"),
    ({"max_unchanged_share": True},
     "mixtures.mini.components.pairs.filters.max_unchanged_share must be float"),
])
def test_bad_unchanged_share_names_the_key(workspace: Path, filters: dict, needle: str) -> None:
    add_pairs_corpus(workspace)
    pairs_component(workspace, n=5, filters=filters)
    result = run_mix(workspace, "bad")
    assert result.exit_code == 2 and needle in result.output, result.output


def test_unchanged_share_limits_what_n_can_draw(workspace: Path) -> None:
    """30 changed pairs allow 33 rows at a share of 0.1 (3 unchanged): n 34 cannot be drawn."""
    add_pairs_corpus(workspace)
    pairs_component(workspace, n=34, filters={"max_unchanged_share": 0.1})
    result = run_mix(workspace, "big")
    assert result.exit_code == 2
    assert "pairs.n = 34 but only 33 items" in result.output
    assert "max_unchanged_share 0.1" in result.output


def test_capped_available_and_quota() -> None:
    from stages.lib.data.mixture_config import (
        Component,
        Filters,
        available_items,
        capped_available,
        unchanged_quota,
    )

    assert capped_available(30, 30, None) == 60
    assert capped_available(30, 30, 0.0) == 30
    assert capped_available(30, 30, 0.25) == 40
    assert capped_available(30, 5, 0.5) == 35       # the cap does not bind
    assert capped_available(0, 30, 0.5) == 0
    assert capped_available(0, 30, 1.0) == 30
    assert unchanged_quota(100, 10, 90, 0.29) == 29  # exact: not 28 from 0.29 * 100
    assert unchanged_quota(100, 90, 10, 0.29) == 10  # the pool's own share
    records = [{"src": "a", "refs": ["a"]}] * 30 + [{"src": "a", "refs": ["b"]}] * 30
    comp = Component(corpus="x", task="grammar", n=1,
                     filters=Filters(max_unchanged_share=0.25))
    assert available_items(records, comp) == 40
    assert available_items(records, Component(corpus="x", task="grammar", n=1)) == 60


def test_a_task_of_ones_own_from_params_only(workspace: Path) -> None:
    """params `tasks`: a new task and a task with paraphrases, no code (issue "Your data,
    declared"); each row draws its paraphrase by the mixture's seed."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["tasks"] = {"grammar": "Fix grammatical errors in the text.",
                       "formalize": ["Make the text more formal.", "Rewrite it formally."],
                       "fluency": "Make the text more fluent."}
    params["mixtures"]["mini"]["components"]["grammar"]["task"] = "formalize"
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    first, second = run_mix(workspace, "a"), run_mix(workspace, "b")
    assert second.exit_code == 0, second.output
    assert first.exit_code == 0, first.output
    assert tree_hash(workspace / "a") == tree_hash(workspace / "b")  # the draw is seeded
    from datasets import Dataset

    rows = [r for r in Dataset.from_parquet(str(workspace / "a" / "train.parquet"))
            if r["task"] == "formalize"]
    assert {r["instruction"] for r in rows} == {"Make the text more formal.",
                                                "Rewrite it formally."}
    card = (workspace / "a" / "README.md").read_text()
    assert "Make the text more formal. / Rewrite it formally." in card


@pytest.mark.parametrize(("tasks", "needle"), [
    ({"grammar": ""}, "tasks.grammar: an instruction is non-empty text"),
    ({"grammar": []}, "tasks.grammar: an instruction is non-empty text"),
    ({"generic": "x"}, "tasks.generic: a task name is letters"),
    ({"fluency": "Make it fluent."}, "task: unknown task 'grammar' (known: generic, fluency;"),
])
def test_bad_tasks_name_the_key(workspace: Path, tasks: dict, needle: str) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["tasks"] = tasks
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_mix(workspace, "out")
    assert result.exit_code == 2 and needle in result.output
    assert not (workspace / "out").exists()
