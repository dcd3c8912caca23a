"""A fake finished run (adapter, mixture, metrics, benchmark index) for publish/edit tests.

Built from the tiny model of conftest.py with a real (random) LoRA adapter, so the
files have the shapes the train/mix/evaluate stages write; scores are random numbers
drawn here, not measurements.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

DATASETS = ["conll", "bea", "jfl", "itr-f", "itr-l", "itr-o", "trk", "ast", "wnc", "sts"]
METRIC = {"conll": "m2", "bea": "errant", "jfl": "gleu"}
REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = "She go to school yesterday ."
TARGET = "She went to school yesterday ."


def make_adapter(base_dir: Path, out_dir: Path, seed: int = 0, steps: int = 60) -> Path:
    """A LoRA adapter on the tiny model, briefly trained to correct one sentence.

    A random adapter only emits newlines; a few dozen steps on one GEC pair give an
    adapter that really edits ("She go ..." -> "She went ..."), which the edit tests need.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stages.lib.data.prompts import format_prompt, task_instruction

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM"))
    text = format_prompt(task_instruction("grammar"), SOURCE) + TARGET + tokenizer.eos_token
    batch = tokenizer(text, return_tensors="pt")
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad],
                                  lr=1e-2)
    peft_model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add overhead (5x slower on 2 cores)
    try:
        for _ in range(steps):
            loss = peft_model(**batch, labels=batch["input_ids"]).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    peft_model.eval()
    peft_model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "training_args.json").write_text(json.dumps(
        {"learning_rate": 0.0002, "num_train_epochs": 1, "lora_r": 4, "hub_token": "x"}))
    (out_dir / "mixture_hash.txt").write_text("0123abcd\n")
    return out_dir


CORPUS_LICENCES = {"alpaca": "CC BY-NC 4.0", "wi-locness": "Apache-2.0 (test fixture)"}


def make_mixture(out_dir: Path, licences: dict[str, str] | None = None) -> Path:
    """A mixture folder: parquet, stats, decontamination report, and the dataset card
    rendered by the mix stage's own renderer (stages.lib.publishing.cards) from fixture datacards."""
    from types import SimpleNamespace

    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from stages.lib.publishing.cards import render_mixture_card

    licences = licences or CORPUS_LICENCES
    out_dir.mkdir(parents=True, exist_ok=True)
    datacards = out_dir.parent / "datacards"
    (datacards / "corpora").mkdir(parents=True, exist_ok=True)
    template = REPO_ROOT / "datacards" / "templates" / "mixture_card.md"
    (datacards / "templates").mkdir(exist_ok=True)
    (datacards / "templates" / "mixture_card.md").write_text(template.read_text())
    for corpus, licence in licences.items():
        (datacards / "corpora" / f"{corpus}.yaml").write_text(yaml.safe_dump(
            {"licence": licence, "citation": f"@misc{{{corpus}}}", "upstream": "https://x"}))
    table = pa.table({"id": ["a-1", "b-1"], "corpus": ["alpaca", "wi-locness"],
                      "task": ["general", "grammar"], "prompt": ["p1", "p2"],
                      "completion": ["c1", "c2"]})
    pq.write_table(table, out_dir / "train.parquet")
    pct = {"min": 1, "p50": 2, "p90": 3, "p95": 3, "p99": 3, "max": 3}
    stats = {"mixture": out_dir.name, "rows": 2, "rows_per_task": {"general": 1, "grammar": 1},
             "rows_per_corpus": {c: 1 for c in licences}, "length_unit": "whitespace tokens",
             "length_prompt": pct, "length_completion": pct, "length_total": pct}
    components = {c: {"corpus": c, "split": "train", "task": "t", "available": 1,
                      "after_filters": 1, "dropped_exact": 0, "dropped_ngram": 0,
                      "after_decontamination": 1, "sampled": 1, "replace": False,
                      "distinct": 1, "standin_for": None} for c in licences}
    decontam = {"enabled": True, "ngram": 8, "benchmark_datasets": DATASETS,
                "components": components, "dropped_total": 0}
    mixture = SimpleNamespace(description="fixture mixture", components={
        c: SimpleNamespace(corpus=c) for c in licences})
    (out_dir / "stats.json").write_text(json.dumps(stats))
    (out_dir / "decontamination.json").write_text(json.dumps(decontam))
    (out_dir / "README.md").write_text(
        render_mixture_card(out_dir.name, mixture, stats, decontam, datacards), encoding="utf-8")
    return out_dir


RUN_DECODING = {"num_beams": 3, "copy_margin": 0.4}  # make_run's params.yaml system decoding


def make_run(root: Path, base_dir: Path, name: str = "writing-alpaca",
             standin: tuple[str, ...] = ("wnc",), steps: int = 60) -> dict[str, Path]:
    """adapters/, data/mixtures/, metrics/, data/benchmark/ under `root` for mixture `name`."""
    rng = random.Random(7)
    adapter = make_adapter(base_dir, root / "adapters" / name, steps=steps)
    mixture = make_mixture(root / "data" / "mixtures" / name)
    metrics = {ds: round(rng.uniform(5, 60), 4) for ds in DATASETS}
    metrics["avg"] = round(sum(metrics.values()) / len(DATASETS), 4)
    metrics["details"] = {"datasets": {ds: {"n": 3} for ds in DATASETS}}
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / f"{name}.json").write_text(json.dumps(metrics))
    index = {ds: {"size": 3, "task": "t", "metric": METRIC.get(ds, "sari"),
                  "standin": ds in standin, "source": "fixture"} for ds in DATASETS}
    (root / "data" / "benchmark").mkdir(parents=True, exist_ok=True)
    (root / "data" / "benchmark" / "index.json").write_text(json.dumps(index))
    # the system's own decoding, which publish writes into decoding.json
    (root / "params.yaml").write_text(
        f"systems:\n  {name}:\n    adapter: adapters/{name}\n"
        f"    predict: {{num_beams: {RUN_DECODING['num_beams']}, "
        f"copy_margin: {RUN_DECODING['copy_margin']}}}\n", encoding="utf-8")
    return {"root": root, "adapter": adapter, "mixture": mixture,
            "metrics": root / "metrics" / f"{name}.json"}
