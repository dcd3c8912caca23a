"""bench/confirm_margin.py: the confirmatory items are exactly the dev items the default
selection (predict.max_items, predict.seed) never scores."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from stages.lib.core.io import write_jsonl
from stages.lib.data.benchmark_info import read_index, read_items, select_items, write_index


def test_unseen_items_are_the_complement_of_the_default_selection(tmp_path: Path,
        bench_script: Callable[[str], ModuleType]) -> None:
    confirm = bench_script("confirm_margin")
    source = tmp_path / "dev-benchmark"
    index = {}
    for dataset in (*confirm.DATASETS, "sts-dev"):
        write_jsonl(source / f"{dataset}.jsonl",
                    [{"id": f"{dataset}-{i}", "instruction": "Fix it.", "input": f"s {i}"}
                     for i in range(12)])
        index[dataset] = {"size": 12, "metric": "sari", "task": "simplify"}
    write_index(source, index)

    sizes = confirm.unseen_benchmark(source, tmp_path / "fresh", max_items=5, seed=0)

    assert sizes == {dataset: 7 for dataset in confirm.DATASETS}
    fresh_index = read_index(tmp_path / "fresh")
    assert set(fresh_index) == set(confirm.DATASETS)  # only the sets with unseen items
    for dataset in confirm.DATASETS:
        assert fresh_index[dataset]["size"] == 7
        seen = {item["id"] for item in select_items(read_items(source, dataset), dataset, 5, 0)}
        fresh = {item["id"] for item in read_items(tmp_path / "fresh", dataset)}
        assert len(seen) == 5 and not seen & fresh
        assert seen | fresh == {f"{dataset}-{i}" for i in range(12)}
