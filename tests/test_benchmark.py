"""benchmark: the paper's 10 sets from the real mirror; sizes checked; WNC stand-in logic."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stages.benchmark import benchmark
from stages.lib.core.io import read_jsonl, write_jsonl
from stages.lib.core.params import load_params
from stages.lib.data.corpora import corpus_spec, read_corpus
from stages.lib.data.prompts import TASK_PROMPTS

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_SIZES = {"conll": 1312, "bea": 4384, "jfl": 747, "itr-f": 88, "itr-l": 185, "itr-o": 35,
               "trk": 359, "ast": 359, "sts": 97}  # Table 2; wnc: 1,000 official / 404 stand-in


def run(corpora: Path, params: Path, out: Path):
    return CliRunner().invoke(benchmark, ["--corpora", str(corpora), "--params", str(params),
                                          "--out", str(out)])


def test_benchmark_from_the_real_mirror(mirror, tmp_path):
    params = load_params(REPO_ROOT / "params.yaml")
    corpora = tmp_path / "corpora"
    needed = {d["corpus"] for d in params["benchmark"]["datasets"].values()}
    needed |= {"wnc-derived-sample"}
    declared = load_params(REPO_ROOT / "corpora.yaml")
    for key in needed & set(declared["corpora"]):
        for split, records in read_corpus(corpus_spec(declared, key), key, mirror).items():
            write_jsonl(corpora / key / f"{split}.jsonl", records)
    out = tmp_path / "benchmark"
    result = run(corpora, REPO_ROOT / "params.yaml", out)
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    assert sorted(index) == sorted([*PAPER_SIZES, "wnc"])
    for name, size in PAPER_SIZES.items():
        items = read_jsonl(out / f"{name}.jsonl")
        assert len(items) == size == index[name]["size"], name
        assert not index[name]["standin"] and not any(i["standin"] for i in items)
        assert items[0]["instruction"] == TASK_PROMPTS[index[name]["task"]]
    wnc = read_jsonl(out / "wnc.jsonl")
    assert len(wnc) == 404 and all(i["standin"] for i in wnc) and index["wnc"]["standin"]
    metrics = {n: index[n]["metric"] for n in ("conll", "bea", "jfl", "ast")}
    assert metrics == {"conll": "m2", "bea": "errant", "jfl": "gleu", "ast": "sari"}
    conll = read_jsonl(out / "conll.jsonl")
    assert all(i["m2"].startswith("S " + i["input"]) for i in conll)
    sts = read_jsonl(out / "sts.jsonl")
    assert all(len(i["references"]) == 1 for i in sts)
    itr = read_jsonl(out / "itr-l.jsonl")
    assert all(len(i["references"][0]) > 1 for i in itr)
    # Deterministic: a second build is byte-identical.
    again = tmp_path / "benchmark2"
    assert run(corpora, REPO_ROOT / "params.yaml", again).exit_code == 0
    for path in out.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes()


def fixture(tmp_path: Path, official: int | None, standin: int, size: int = 2) -> tuple:
    corpora = tmp_path / "corpora"

    def records(n: int, tag: str) -> list[dict]:
        return [{"id": f"{tag}-{i}", "src": f"{tag} src {i}", "refs": [f"ref {i}"], "meta": {}}
                for i in range(n)]
    if official is not None:
        write_jsonl(corpora / "wnc" / "test.jsonl", records(official, "official"))
    write_jsonl(corpora / "wnc-derived-sample" / "test.jsonl", records(standin, "standin"))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"benchmark": {"datasets": {"wnc": {
        "corpus": "wnc", "split": "test", "task": "neutralize", "metric": "sari", "size": size,
        "standin": {"corpus": "wnc-derived-sample", "split": "test", "size": 1}}}}}))
    return corpora, params


def test_official_preferred_over_standin(tmp_path):
    corpora, params = fixture(tmp_path, official=2, standin=1)
    result = run(corpora, params, tmp_path / "out")
    assert result.exit_code == 0, result.output
    items = read_jsonl(tmp_path / "out" / "wnc.jsonl")
    assert [i["input"] for i in items] == ["official src 0", "official src 1"]
    assert not any(i["standin"] for i in items)


def test_standin_used_and_marked(tmp_path):
    corpora, params = fixture(tmp_path, official=None, standin=1)
    result = run(corpora, params, tmp_path / "out")
    assert result.exit_code == 0 and "STAND-IN" in result.output
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["wnc"] == {"metric": "sari", "size": 1, "source": "wnc-derived-sample/test",
                            "standin": True, "task": "neutralize"}


@pytest.mark.parametrize("official,standin", [(3, 1), (None, 2)])
def test_wrong_size_is_an_error_and_writes_nothing(tmp_path, official, standin):
    corpora, params = fixture(tmp_path, official=official, standin=standin)
    result = run(corpora, params, tmp_path / "out")
    assert result.exit_code == 2 and "expected" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_corpus_and_bad_task(tmp_path):
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"benchmark": {"datasets": {"x": {
        "corpus": "nope", "split": "test", "task": "grammar", "metric": "m2", "size": 1}}}}))
    result = run(corpora, params, tmp_path / "out")
    assert result.exit_code == 2 and "nope/test.jsonl" in result.output
    params.write_text(yaml.safe_dump({"benchmark": {"datasets": {"x": {
        "corpus": "nope", "split": "test", "task": "poetry", "metric": "m2", "size": 1}}}}))
    result = run(corpora, params, tmp_path / "out")
    assert result.exit_code == 2 and "unknown task 'poetry'" in result.output
