"""bench/jfleg_spacing.py: an output that differs from a tokenized JFLEG line by spacing
only loses GLEU as written and scores like the copy once tokenized."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from stages.lib.core.io import write_jsonl
from stages.lib.metrics.registry import get_metric

SOURCES = ["I do n't like it , he said .", "She go to school yesterday .",
           "It 's a media , television , and radio thing ."]


def test_a_respaced_copy_scores_as_the_copy_once_tokenized(tmp_path: Path,
        bench_script: Callable[[str], ModuleType]) -> None:
    spacing = bench_script("jfleg_spacing")
    items = [{"id": f"jfl-{i}", "instruction": "Fix it.", "input": source,
              "references": [source.replace("go", "went")] * 2}
             for i, source in enumerate(SOURCES)]
    write_jsonl(tmp_path / "data/benchmark/jfl.jsonl", items)
    respaced = ["I don't like it, he said.", "She go to school yesterday.",
                "It's a media, television, and radio thing."]
    for system, outputs in (("copy", SOURCES), ("respaced", respaced)):
        write_jsonl(tmp_path / "predictions" / system / "jfl.jsonl",
                    [{"id": f"jfl-{i}", "output": out} for i, out in enumerate(outputs)])

    gleu = get_metric("gleu")
    _, copy, _ = spacing.gleu_stats("test", "copy", root=tmp_path)
    ids, stats, changed = spacing.gleu_stats("test", "respaced", root=tmp_path)

    assert ids == ["jfl-0", "jfl-1", "jfl-2"] and changed == 3
    copy_score = gleu.score(copy["as written"])["gleu"]
    assert gleu.score(stats["as written"])["gleu"] < copy_score
    assert gleu.score(stats["tokenized"])["gleu"] == copy_score
    assert stats["tokenized"] == copy["as written"]
