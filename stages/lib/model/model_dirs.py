"""Is this folder a model? One clear line before transformers or PEFT is asked to load it.

Given a folder that holds neither a model nor an adapter (a typo, `--adapter /tmp`, a
dataset repo), `from_pretrained` fails deep inside transformers with a traceback that
does not name the folder. `edit`, `predict` and `pull` check their folders here first.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from stages.lib.core.io import InputError, file_sha256, read_json

# Weight files as transformers and PEFT save them (sharded checkpoints have an index).
MODEL_WEIGHTS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# What save_pretrained (model, PEFT adapter, tokenizer) and the train stage write into a
# model folder: a folder holding only these may be replaced by a new save (io.atomic_path).
MODEL_FOLDER_FILES = (
    "*.safetensors", "*.safetensors.index.json", "config.json", "generation_config.json",
    "adapter_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
    "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
    "chat_template.jinja", "chat_template.json", "README.md", "training_args.bin",
    "training_args.json", "mixture_hash.txt", "base.json",
)


def _has_any(folder: Path, patterns: tuple[str, ...]) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in patterns)


def model_problem(folder: Path) -> str | None:
    """Why `folder` is not a full model folder (config.json + weights); None if it is."""
    if not (folder / "config.json").is_file():
        return "no config.json"
    if not _has_any(folder, MODEL_WEIGHTS):
        return "config.json but no weights (*.safetensors / *.bin)"
    return None


def adapter_problem(folder: Path) -> str | None:
    """Why `folder` is not a PEFT adapter folder; None if it is."""
    if not (folder / "adapter_config.json").is_file():
        return "no adapter_config.json"
    if not _has_any(folder, ADAPTER_WEIGHTS):
        return "adapter_config.json but no adapter_model.safetensors / .bin"
    return None


# Where a folder can name Python code of its own for transformers to import (auto_map);
# writing-alpaca never runs it (trust_remote_code=False everywhere) and refuses the folder.
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "adapter_config.json",
                "processor_config.json", "preprocessor_config.json")


def check_no_custom_code(folder: str | Path) -> None:
    """Raise InputError (one line) when `folder` asks for code of its own: an `auto_map`
    in one of its configs. transformers would ask on stdin whether to run it."""
    import json

    folder = Path(folder)
    for name in CODE_CONFIGS:
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(config, dict) and config.get("auto_map"):
            raise InputError(f"{folder}: {name} names code of its own (auto_map); "
                             f"writing-alpaca never runs a model folder's code")


def check_adapter_or_model(folder: str | Path) -> None:
    """Raise InputError (one line, exit 2) unless `folder` is a PEFT adapter or a model."""
    folder = Path(folder)
    as_adapter, as_model = adapter_problem(folder), model_problem(folder)
    if as_adapter and as_model:
        if (folder / "adapter_config.json").is_file():
            raise InputError(f"{folder}: not a PEFT adapter: {as_adapter}")
        raise InputError(f"{folder}: neither a PEFT adapter (no adapter_config.json) nor a "
                         f"model folder ({as_model})")


def check_model_dirs(base: str | Path, adapter: str | Path | None = None) -> None:
    """Raise InputError (one line, exit 2) unless `adapter`, when given, is a PEFT adapter
    or a model folder, and `base` a model folder (the adapter is checked first: for a
    full model given as the adapter, the two are the same folder)."""
    if adapter is not None:
        check_adapter_or_model(adapter)
        check_no_custom_code(adapter)
    check_no_custom_code(base)
    problem = model_problem(Path(base))
    if problem:
        raise InputError(f"{base}: not a model folder: {problem}")


# what train records of the base it trained on (training_args.json)
BASE_RECORD = "base_weights_sha256"


def weights_sha256(folder: str | Path) -> str:
    """One sha256 over a model folder's weight files (each file's name and sha256, in
    name order): the same weights give the same value whatever the folder's path."""
    folder = Path(folder)
    files = sorted({*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")})
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name} {file_sha256(path)}\n".encode())
    return digest.hexdigest()


def base_mismatch(base: str | Path, adapter: str | Path) -> str | None:
    """A warning when `adapter` records the weights of the base it was trained on and
    `base` holds others (another checkout's models/base, a Hub release of the same model
    in another precision), else None. A warning, not a refusal: a base converted from
    the same model is a legitimate choice, but the user should know."""
    record = Path(adapter) / "training_args.json"
    if not record.is_file():
        return None
    content = read_json(record)
    expected = content.get(BASE_RECORD) if isinstance(content, dict) else None
    if not expected:
        return None
    actual = weights_sha256(base)
    if actual == expected:
        return None
    return (f"{base}: not the weights {adapter} was trained on (sha256 {actual[:12]}, the "
            f"adapter records {expected[:12]}); outputs may differ from its evaluation")
