"""train@<run>: mixture + base model + params.train -> trained/<run>/ (PEFT LoRA).

TRL's SFTTrainer on the mixture's prompt/completion rows (loss on the completion only),
PEFT LoRA (or full fine-tuning with `method: full`), a fixed number of optimizer steps
for every mixture as in the paper (sec. 3.5). Checkpoints go to
<checkpoints>/<config-hash>/ so a killed run resumes and a changed config starts afresh.
Multi-process runs re-launch this command under `accelerate launch` (train.launcher:
ddp, or fsdp = FSDP2). A step is always train.global_batch_size rows: accumulation is
derived from the world size. With train.edit_weight above 1 the loss weighs the
completion tokens of edited words more (edit-weighted MLE; stages/lib/training/weighted_trainer.py);
at 1 the trainer is TRL's own, untouched. Works with transformers 5.17 to 5.24 (compat:
the gradient checkpointing argument changed its name in 5.24; see checkpointing_option).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from stages.lib.core import timings
from stages.lib.core.io import InputError, atomic_path, check_replaceable, file_sha256, write_json
from stages.lib.core.params import load_params
from stages.lib.data.prompts import check_chat_template, format_prompt, template_setting
from stages.lib.model.model_dirs import (
    BASE_RECORD,
    MODEL_FOLDER_FILES,
    check_no_custom_code,
    weights_sha256,
)
from stages.lib.training.train_config import (
    TrainParams,
    accumulation_steps,
    parse_train,
    world_size,
)

LAUNCHED_ENV = "WRITING_ALPACA_LAUNCHED"      # set in children of `accelerate launch`

# Fields that do not change the trained weights: excluded from the checkpoint key.
_NOT_IN_KEY = {"save_steps", "save_total_limit", "logging_steps"}


def run_key(cfg: TrainParams, mixture_hash: str, base: Path, world: int,
            template: str = "alpaca") -> str:
    """Hash of everything that shapes the weights: a changed config never resumes a stale
    run. The world size and launcher are in it: a checkpoint of a 1-GPU run holds a
    different data order and optimizer state than one of an 8-GPU run."""
    relevant = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_IN_KEY}
    if cfg.edit_weight == 1.0:
        # the plain loss: the key it had before edit_weight existed, so such a run resumes
        del relevant["edit_weight"]
    base_hash = file_sha256(base / "config.json") if (base / "config.json").is_file() else ""
    run = {"world_size": world}
    if template != "alpaca":  # the paper's template keeps the key it always had
        run["prompt_template"] = template
    blob = json.dumps([relevant, mixture_hash, base_hash, run], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def reached_max_steps(checkpoint: Path, max_steps: int) -> bool:
    """Whether `checkpoint` is the end of a finished run (global_step >= max_steps)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("global_step", 0)) >= max_steps


def last_checkpoint(folder: Path) -> Path | None:
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def train_device(cfg: TrainParams) -> str:
    """cpu or cuda; a GPU that torch cannot use is an error, never a silent CPU run."""
    from stages.lib.model.models import check_cuda_kernels, resolve_device

    try:
        device = resolve_device(cfg.device)
        if device.startswith("cuda"):
            check_cuda_kernels(device)
        return device.partition(":")[0]
    except ValueError as exc:
        raise InputError(f"params.yaml: train.device: {exc}") from None


def checkpointing_option(sft_config: type, enabled: bool) -> dict[str, bool]:
    """The activation-checkpointing argument under the name this transformers knows:
    `activation_checkpointing` from 5.24 (where `gradient_checkpointing` is a deprecated
    alias), `gradient_checkpointing` before it (5.17-5.23 have no other)."""
    fields = getattr(sft_config, "__dataclass_fields__", {})
    name = "activation_checkpointing" if "activation_checkpointing" in fields \
        else "gradient_checkpointing"
    return {name: enabled}


def precision_flags(cfg: TrainParams, device: str) -> dict[str, bool | None]:
    """SFTConfig's bf16 / fp16 / tf32 for the resolved compute dtype on `device`."""
    import torch

    from stages.lib.model.models import cuda_native_bf16, resolve_dtype

    compute = resolve_dtype(cfg.dtype, device)
    return {"bf16": compute == torch.bfloat16, "fp16": compute == torch.float16,
            # TF32 matmuls for the fp32 parts on Ampere+, unless bit-exact runs are asked for
            "tf32": True if device == "cuda" and not cfg.deterministic
            and cuda_native_bf16() else None}


def training_arguments(cfg: TrainParams, output_dir: Path, device: str, world: int) -> Any:
    """SFTConfig for this config on `device` (cpu | cuda) with `world` processes."""
    from trl import SFTConfig

    on_cuda = device == "cuda"
    args = SFTConfig(
        output_dir=str(output_dir), max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=accumulation_steps(cfg, world),
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        **precision_flags(cfg, device),
        max_length=cfg.max_length, packing=cfg.packing, padding_free=cfg.padding_free,
        completion_only_loss=True,
        # under FSDP, checkpointing is FSDP's own (launch_command): not both at once
        **checkpointing_option(SFTConfig, cfg.gradient_checkpointing
                               and cfg.launcher != "fsdp"),
        seed=cfg.seed, data_seed=cfg.seed, full_determinism=cfg.deterministic,
        save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps,
        report_to="none", include_num_input_tokens_seen="non_padding",
        ddp_backend="gloo" if world > 1 and not on_cuda else None,
        # every trainable weight (LoRA's, or all of a full fine-tune) takes part in each
        # step; transformers would otherwise search a PEFT model for unused ones each step
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0, disable_tqdm=False, use_cpu=not on_cuda,
    )
    if cfg.launcher == "none" and args.n_gpu > 1:
        # The Trainer would wrap the model in nn.DataParallel over every visible GPU and
        # multiply the batch by their number; launcher none means one device.
        args._n_gpu = 1
    return args


def training_rows(cfg: TrainParams, data: Path, template: str = "alpaca",
                  tokenizer: Any = None) -> Any:
    """The mixture's prompt/completion rows, with their source when edits are weighted.
    The prompt column is the paper's Alpaca template; another `template` is rendered from
    the rows' instruction and input with the tokenizer."""
    from datasets import Dataset

    dataset = Dataset.from_parquet(str(data / "train.parquet"))
    if template != "alpaca":
        missing = {"instruction", "input"} - set(dataset.column_names)
        if missing:
            raise InputError(f"{data / 'train.parquet'} has no {' or '.join(sorted(missing))} "
                             f"column, which prompt_template {template} renders prompts "
                             f"from: rebuild the mixture (writing-alpaca mix)")
        dataset = dataset.map(
            lambda row: {"prompt": format_prompt(row["instruction"], row["input"], template,
                                                 tokenizer)})
    if cfg.edit_weight == 1.0:
        return dataset.select_columns(["prompt", "completion"])
    if "source" not in dataset.column_names:
        raise InputError(f"{data / 'train.parquet'} has no source column, which "
                         f"train.edit_weight {cfg.edit_weight} diffs the completions against: "
                         f"rebuild the mixture (writing-alpaca mix)")
    return dataset.select_columns(["prompt", "completion", "source"])


def build_trainer(cfg: TrainParams, data: Path, base: Path, output_dir: Path,
                  device: str = "cpu", world: int = 1, template: str = "alpaca") -> Any:
    """The SFTTrainer for this config (shared with bench/)."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from stages.lib.model.models import resolve_dtype

    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = training_rows(cfg, data, template, tokenizer)
    args = training_arguments(cfg, output_dir, device, world)
    compute = resolve_dtype(cfg.dtype, device)
    # LoRA: the frozen base may live in bf16/fp16 (PEFT keeps adapter weights in fp32);
    # full fine-tuning keeps fp32 master weights and autocasts.
    load_dtype = compute if cfg.method == "lora" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, dtype=load_dtype,
                                                 trust_remote_code=False)
    peft_config = None
    if cfg.method == "lora":
        peft_config = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha,
                                 lora_dropout=cfg.lora.dropout,
                                 target_modules=list(cfg.lora.target_modules),
                                 task_type="CAUSAL_LM")
    common = {"model": model, "args": args, "train_dataset": dataset,
              "processing_class": tokenizer, "peft_config": peft_config}
    if cfg.edit_weight == 1.0:
        return SFTTrainer(**common)
    from stages.lib.training.weighted_trainer import EditWeightedSFTTrainer

    return EditWeightedSFTTrainer(**common, edit_weight=cfg.edit_weight)


def stable_adapter_config(folder: Path) -> None:
    """Sort adapter_config.json's target_modules in place.

    PEFT saves them from a set, so their order follows Python's per-process string
    hashing: the same training would give a different file, a different DVC hash and
    needless re-runs of the predict stages. Sorted, the same run gives the same bytes."""
    path = folder / "adapter_config.json"
    if not path.is_file():  # method: full saves a whole model, no adapter config
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


def launch_command(cfg: TrainParams, device: str, argv: list[str]) -> list[str]:
    """`accelerate launch` of this same command in cfg.num_processes processes."""
    import torch

    from stages.lib.model.models import resolve_dtype

    if device == "cuda" and cfg.num_processes > torch.cuda.device_count():
        raise InputError(f"params.yaml: train.num_processes {cfg.num_processes} > the "
                         f"{torch.cuda.device_count()} GPU(s) visible here")
    precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
        resolve_dtype(cfg.dtype, device), "no")
    command = [sys.executable, "-m", "accelerate.commands.launch",
               "--num_processes", str(cfg.num_processes), "--num_machines", "1",
               "--mixed_precision", precision, "--dynamo_backend", "no"]
    if cfg.launcher == "fsdp":
        # FSDP2 (torch fully_shard); the full state dict is gathered for the final save,
        # which writes the adapter as a single-process run would. Only rank 0 reads the
        # base into host RAM (the others build it on the meta device and receive rank 0's
        # shards), so 8 ranks of a 7B base need ~14 GB of host RAM in bf16, not ~108 GB.
        # It holds because train builds its SFTConfig (which starts the process group)
        # before from_pretrained, so transformers sees FSDP enabled when it loads.
        command += ["--use_fsdp", "--fsdp_version", "2",
                    "--fsdp_state_dict_type", "FULL_STATE_DICT",
                    "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
                    "--fsdp_cpu_ram_efficient_loading", "true",
                    "--fsdp_activation_checkpointing", str(cfg.gradient_checkpointing).lower()]
    else:
        command += ["--multi_gpu"]
    # port 0: the launcher's store takes a free port, so two trainings on one machine
    # (parallel experiments) do not clash on the default 29500
    command += ["--main_process_port", "0"]
    return command + ["-m", "stages.cli", "train", *argv]


def relaunch(command: list[str]) -> None:
    click.echo(f"train: {' '.join(command)}", err=True)
    done = subprocess.run(command, env={**os.environ, LAUNCHED_ENV: "1"}, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"accelerate launch exited with {done.returncode}")


RUN_KEY = re.compile(r"[0-9a-f]{16}")  # run_key's form: what train itself made


def hold_writer_lock(lock: Path, refusal: str) -> None:
    """Take the lock file `lock` until the command ends, or refuse with `refusal` when
    another training holds it."""
    import fcntl

    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock, "w", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise click.ClickException(refusal) from None
    click.get_current_context().call_on_close(handle.close)  # released as train returns


def hold_writers(checkpoints: Path, out: Path) -> None:
    """One training per checkpoints folder (two would share its staging folder) and one
    per adapter folder (with two --checkpoints, the later save would silently replace
    the earlier adapter)."""
    hold_writer_lock(checkpoints / ".writer.lock",
                     f"{checkpoints}: another training is writing here; wait for it or "
                     f"give another --checkpoints")
    hold_writer_lock(out_lock(out), f"{out}: another training is writing this adapter; "
                                    f"wait for it or give another --out")


def out_lock(out: Path) -> Path:
    """The lock file of adapter folder `out`: in the temp folder, named by the folder's
    real path, so nothing is left beside the user's folder."""
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "writing-alpaca-locks" / f"{name}.lock"


def drop_runs(checkpoints: Path) -> None:
    """After this run is saved, its checkpoints and those of other configs' killed runs
    hold nothing left to resume. Only folders named like a run key go; anything else
    there is the user's."""
    for run in checkpoints.iterdir():
        if run.is_dir() and RUN_KEY.fullmatch(run.name):
            shutil.rmtree(run, ignore_errors=True)


def save_trained(trainer: Any, staging: Path, out: Path, extra: dict[str, Any]) -> None:
    """Write the adapter (or full model) to OUT atomically. Every process calls this:
    under FSDP, gathering the full state dict for the save is a collective, so a rank
    that skipped it would leave rank 0 waiting forever. Rank 0 alone writes OUT."""
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)  # a save killed midway left it
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # all ranks; only the main process writes files
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return
    with atomic_path(out, is_dir=True, owns=MODEL_FOLDER_FILES) as tmp:
        for item in staging.iterdir():  # a rename: a 7B full model is not copied
            shutil.move(str(item), str(tmp / item.name))
        stable_adapter_config(tmp)
        trainer.processing_class.save_pretrained(str(tmp))
        (tmp / "mixture_hash.txt").write_text(extra["mixture_hash"] + "\n", encoding="utf-8")
        write_json(tmp / "training_args.json", extra["training_args"])
        # PEFT's empty card template ("[More Information Needed]") is no card: the real
        # one is written by ship (stages/ship.py), once the adapter's scores are known
        (tmp / "README.md").unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


@click.command("train")
@click.option("--mixture", "name", required=True)
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--base", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path))
@click.option("--checkpoints", required=True, type=click.Path(path_type=Path),
              help="Persistent folder; a rerun resumes from its last checkpoint.")
@click.option("--live", "live_dir", required=True, type=click.Path(path_type=Path),
              help="DVCLive folder of the training log (metrics.json, loss curves).")
@click.option("--overrides", default=None,
              help="Dotted params key of a mapping merged over `train` "
                   "(e.g. grid.runs.writing-alpaca-full.train).")
def train(name: str, data: Path, base: Path, params_path: str, out: Path, checkpoints: Path,
          live_dir: Path, overrides: str | None) -> None:
    """Fine-tune the base model on mixture NAME; write the adapter (or full model) to OUT."""
    params = load_params(params_path)
    cfg = parse_train(params, overrides)
    template = template_setting(params)
    device = train_device(cfg)
    world = world_size(cfg)
    if cfg.launcher != "none" and not os.environ.get(LAUNCHED_ENV):
        relaunch(launch_command(cfg, device, [
            "--mixture", name, "--data", str(data), "--base", str(base),
            "--params", params_path, "--out", str(out), "--checkpoints", str(checkpoints),
            "--live", str(live_dir), *(["--overrides", overrides] if overrides else [])]))
        return
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != world:
        raise click.ClickException(f"train: {launched} processes running, but the config "
                                   f"asks for {world} (train.launcher, train.num_processes)")
    check_replaceable(out, True, MODEL_FOLDER_FILES)  # before training, not after
    check_no_custom_code(base)
    check_chat_template(template, base, "params.yaml: prompt_template")
    mixture_hash = file_sha256(data / "train.parquet")
    base_weights = weights_sha256(base)  # the adapter names its base by content, not path
    key = run_key(cfg, mixture_hash, base, world, template)
    run_dir = checkpoints / key
    if int(os.environ.get("RANK", "0")) == 0:
        hold_writers(checkpoints, out)  # a second writer is refused
    resume = last_checkpoint(run_dir)
    if resume is not None and reached_max_steps(resume, cfg.max_steps):
        # A finished run whose adapter was removed since (dvc repro clears outputs before a
        # stage runs). Resuming it would train past max_steps (transformers takes one more
        # step), so the run is made again; its checkpoints hold nothing left to resume.
        click.echo(f"train {name}: {resume.name} ended a finished run; training it anew",
                   err=True)
        shutil.rmtree(run_dir)
        resume = None
    trainer = build_trainer(cfg, data, base, run_dir, device, world, template)
    main = trainer.is_world_process_zero()
    if main:
        from stages.lib.training.training_log import live_callback

        trainer.add_callback(live_callback(live_dir))
        if device == "cuda" and cfg.deterministic:
            click.echo("train: deterministic on CUDA (CUDA_LAUNCH_BLOCKING, deterministic "
                       "kernels) is several times slower; set train.deterministic false "
                       "for speed", err=True)
        click.echo(f"train {name}: run {key}, {world} process(es) on {device}, "
                   f"{cfg.global_batch_size} rows a step "
                   f"({cfg.per_device_batch_size} x {world} x "
                   f"{accumulation_steps(cfg, world)} accumulation), "
                   + (f"resuming from {resume.name}" if resume else "starting"), err=True)
    started = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    save_trained(trainer, run_dir / "final", out, {
        "mixture_hash": mixture_hash,
        "training_args": {
            "mixture": name, "params": dataclasses.asdict(cfg), "run_key": key,
            # predict, dev and edit prompt this adapter the way it was trained
            "prompt_template": template,
            "global_step": trainer.state.global_step,
            "num_input_tokens_seen": trainer.state.num_input_tokens_seen,
            "resumed_from": resume.name if resume else None,
            "world_size": trainer.args.world_size, "base": str(base),
            BASE_RECORD: base_weights,
        }})
    if not main:
        return
    drop_runs(checkpoints)
    timings.record("train", out, time.time() - started, steps=trainer.state.global_step,
                   resumed_from=resume.name if resume else None, device=device,
                   processes=world)
    click.echo(f"train {name}: {trainer.state.global_step} steps, "
               f"loss {result.training_loss:.4f}, {time.time() - started:.0f}s this run, "
               f"log -> {live_dir}; adapter -> {out}", err=True)
