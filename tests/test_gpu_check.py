"""bench/gpu_check.py --smoke runs every part end to end on the CPU (the GPU machine is
offline and rarely lent, so this is where a broken part shows up first), its training
part on the paper profile's precision path (bf16, unpacked rows). Part of `make test`:
two Python processes (the training part runs in its own, as on the GPU), about 20-30 s."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stages.lib.core.io import write_jsonl
from stages.lib.data.prompts import format_prompt

REPO_ROOT = Path(__file__).resolve().parents[1]
ROWS = [("Fix grammatical errors in the text.", "She go to school yesterday .",
         "She went to school yesterday ."),
        ("Simplify the text.", "The cat sat on the mat. The dog barked at the cat.",
         "The dog barked at the cat.")]


def write_data(folder: Path) -> Path:
    """A stand-in for bench/gpu_prepare.py's folder: prompts and training rows."""
    import pandas as pd

    folder.mkdir()
    write_jsonl(folder / "prompts.jsonl", [
        {"dataset": "d", "id": f"d-{i}", "instruction": instruction, "input": text}
        for i, (instruction, text, _) in enumerate(ROWS * 2)])
    pd.DataFrame([{"prompt": format_prompt(instruction, text), "completion": answer}
                  for instruction, text, answer in ROWS * 8]).to_parquet(folder / "train.parquet")
    return folder


def test_smoke_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "gpu_check.py"), "--smoke",
         "--data", str(write_data(tmp_path / "data")), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["errors"] == {} and report["skipped"] == [], report["errors"]
    assert report["sample"]["items"] == 4
    assert report["train"]["tokens_per_s"] > 0 and report["train"]["steps_timed"] == 1
    trained = report["train"]["params"]  # the paper profile's path, at 8 rows a step
    assert report["train"]["profile"] == "paper" and trained["dtype"] == "bfloat16"
    assert trained["packing"] is False and trained["global_batch_size"] == 8
    for engine in ("continuous", "hf", "transformers-cb"):
        assert report["generate"]["float32"][engine]["items_per_s"] > 0
    assert report["generate"]["bfloat16"]["continuous"]["items_per_s"] > 0
    # one device, one model: the engines and the "two devices" must agree exactly
    assert set(report["generate"]["identical_to_fp32_continuous"].values()) == {1.0}
    assert report["cpu"]["identical_cuda_fp32_vs_cpu_fp32"] == 1.0
    assert report["cpu"]["top1_agreement"] == 1.0
