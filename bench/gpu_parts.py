"""The measuring pieces of bench/gpu_check.py: random weights, the training run,
transformers' continuous batching as a third engine, and a logits comparison."""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from stages.lib.inference.answers import decode_output, eos_ids


def random_weights(source: Path, out: Path, seed: int) -> Path:
    """OUT: SOURCE's config and tokenizer with seeded random weights, drawn as transformers
    initialises a new model. Made on the CPU, so every device loads the same weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source),
                                             dtype=torch.float32)
    model.save_pretrained(out)
    for path in source.iterdir():  # the project's own config and tokenizer files win
        if path.is_file():
            shutil.copy2(path, out / path.name)
    return out


def train_part(model_dir: str, data_dir: str, params_path: str, profile: str, steps: int,
               dtype: str, device: str, rows: int | None = None) -> dict[str, Any]:
    """Tokens/s of `steps` optimizer steps after one warm-up step, and peak GPU memory,
    through the train stage's own build_trainer; `rows` a step instead of the profile's
    global batch (the smoke run's). This function is gpu_check's only user of
    stages.train: the keys set below follow that module's TrainParams."""
    from transformers import TrainerCallback

    from stages.lib.core.params import load_params
    from stages.train import build_trainer, parse_train

    cfg = dataclasses.replace(parse_train(load_params(params_path, profile=profile)),
                              method="lora", dtype=dtype, device=device,
                              max_steps=steps + 1, save_steps=10**9)
    if rows is not None:
        cfg = dataclasses.replace(cfg, global_batch_size=rows,
                                  per_device_batch_size=min(cfg.per_device_batch_size, rows))
    marks: list[tuple[float, int]] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if device == "cuda":  # kernels run asynchronously: time finished work
                torch.cuda.synchronize()
            marks.append((time.perf_counter(), state.num_input_tokens_seen))

    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(cfg, Path(data_dir), Path(model_dir), Path(tmp), device=device)
        trainer.add_callback(Clock())
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"profile": profile, "params": dataclasses.asdict(cfg), "steps_timed": steps,
            "tokens": n1 - n0, "seconds": round(t1 - t0, 2),
            "tokens_per_s": round((n1 - n0) / (t1 - t0), 1),
            "max_memory_allocated_gib": None if peak is None else round(peak / 2**30, 2)}


def transformers_cb(model: Any, tokenizer: Any, prompts: list[str], budgets: list[int],
                    batch_size: int) -> tuple[list[str], dict[str, float]]:
    """transformers' continuous batching (the manager model.generate_batch runs, which
    itself takes one max_new_tokens for all items): each item with its own budget, the
    project's EOS ids, at most `batch_size` rows at once as the project's engines, and
    outputs cleaned as theirs. Returns outputs and {seconds, setup_s}."""
    from transformers import ContinuousBatchingConfig, GenerationConfig

    eos = eos_ids(model, tokenizer)
    encoded = tokenizer(prompts)["input_ids"]
    options: dict[str, Any] = {"max_requests_per_batch": batch_size}
    if model.device.type == "cpu":
        # Sized from the work: the memory-based default took 16 s for two tiny prompts
        # on a CPU (measured); on a GPU the library's default sizing is kept.
        longest = max(map(len, encoded)) + max(budgets)
        options.update(num_blocks=batch_size * (longest // 256 + 1) + 1,
                       max_batch_tokens=max(1024, longest))
    config = GenerationConfig(do_sample=False, max_new_tokens=max(budgets), eos_token_id=eos,
                              pad_token_id=tokenizer.pad_token_id)
    results: dict[str, Any] = {}
    start = time.perf_counter()
    with model.continuous_batching_context_manager(
            generation_config=config, block=True, timeout=5,
            continuous_batching_config=ContinuousBatchingConfig(**options)) as manager:
        ready = time.perf_counter()  # after its warm-up (CUDA graph capture)
        for index, (ids, budget) in enumerate(zip(encoded, budgets, strict=True)):
            manager.add_request(ids, request_id=str(index), max_new_tokens=budget,
                                eos_token_id=eos)
        while len(results) < len(prompts):
            result = manager.get_result(timeout=1)
            if result is None and not manager.is_running():
                raise RuntimeError(f"stopped after {len(results)} of {len(prompts)} items")
            if result is not None and result.is_finished():
                if result.error is not None:
                    raise RuntimeError(f"item {result.request_id}: {result.error}")
                results[result.request_id] = result
        seconds = time.perf_counter() - ready
    outputs = [decode_output(tokenizer, results[str(i)].generated_tokens, budget, set(eos))
               for i, budget in enumerate(budgets)]
    return outputs, {"seconds": round(seconds, 2), "setup_s": round(ready - start, 2)}


@torch.inference_mode()
def logits_agreement(model_a: Any, model_b: Any, tokenizer: Any,
                     prompts: list[str]) -> dict[str, float]:
    """Next-token agreement of two copies of a model (e.g. CUDA and CPU) at every prompt
    position, one prompt at a time (no padding). Greedy outputs of a random model repeat
    one token, so their equality says little about float agreement; this does."""
    same = total = 0
    worst = 0.0
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        a = model_a(input_ids=ids.to(model_a.device)).logits[0].float().cpu()
        b = model_b(input_ids=ids.to(model_b.device)).logits[0].float().cpu()
        same += int((a.argmax(-1) == b.argmax(-1)).sum())
        total += a.shape[0]
        worst = max(worst, float((a - b).abs().max()))
    return {"positions": total, "top1_agreement": round(same / total, 6),
            "max_abs_logit_diff": worst}
