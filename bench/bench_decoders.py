"""Decoders side by side on the same items: greedy and beam search + copy margin in the
continuous engine, and the same beam search in transformers' generate() (the hf engine).

    .venv/bin/python bench/bench_decoders.py [--system writing-alpaca] [--datasets conll,jfl,ast]
        [--max-items 40] [--beams 4] [--margin 0.5] [--out .cache/bench-decoders]

Each arm is one `writing-alpaca predict` run (its --engine, --num-beams, --copy-margin and
--timing options), one after the other in this process's machine state; the report
(JSON on stdout) gives each arm's seconds and items/s, the ratios the issue tracker asks
about, and every item where the continuous and hf beam searches disagree.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.lib.core.io import read_json, read_jsonl
from stages.lib.core.params import load_params


def run_arm(args: argparse.Namespace, adapter: str, engine: str, beams: int,
            margin: str, out: Path) -> dict[str, object]:
    """One predict run; returns its timing record."""
    command = [str(ROOT / ".venv" / "bin" / "writing-alpaca"), "predict",
               "--system", args.system, "--adapter", adapter, "--base", "models/smollm2-135m-instruct",
               "--benchmark", "data/benchmark", "--params", "params.yaml",
               "--datasets", args.datasets, "--max-items", str(args.max_items),
               "--engine", engine, "--num-beams", str(beams), "--copy-margin", margin,
               "--timing", str(out / "timing.json"), "--out", str(out / "predictions")]
    subprocess.run(command, cwd=ROOT, check=True)
    return read_json(out / "timing.json")


def outputs(folder: Path, datasets: list[str]) -> dict[str, str]:
    return {f"{d}/{r['id']}": r["output"] for d in datasets
            for r in read_jsonl(folder / f"{d}.jsonl")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="writing-alpaca")
    parser.add_argument("--datasets", default="conll,jfl,ast")
    parser.add_argument("--max-items", type=int, default=40)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--margin", default="0.5")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "bench-decoders")
    args = parser.parse_args()
    adapter = load_params(ROOT / "params.yaml")["systems"][args.system]["adapter"]
    arms = {"continuous-greedy": ("continuous", 1, "none"),
            "continuous-beam": ("continuous", args.beams, args.margin),
            "hf-beam": ("hf", args.beams, args.margin)}
    timings = {name: run_arm(args, adapter, *arm, args.out / name) for name, arm in arms.items()}
    datasets = args.datasets.split(",")
    ours = outputs(args.out / "continuous-beam" / "predictions", datasets)
    reference = outputs(args.out / "hf-beam" / "predictions", datasets)
    differ = {key: {"continuous": ours[key], "hf": reference[key]}
              for key in reference if ours[key] != reference[key]}
    seconds = {name: timing["seconds"] for name, timing in timings.items()}
    print(json.dumps({
        "machine": platform.processor() or platform.machine(), "items": len(reference),
        "decoding": f"beam {args.beams}, copy margin {args.margin}",
        "seconds": seconds,
        "items_per_s": {name: timing["items_per_s"] for name, timing in timings.items()},
        "beam_over_greedy": round(seconds["continuous-beam"] / seconds["continuous-greedy"], 2),
        "hf_over_continuous_beam": round(seconds["hf-beam"] / seconds["continuous-beam"], 2),
        "identical_to_hf": f"{len(reference) - len(differ)}/{len(reference)}",
        "differences": differ}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
