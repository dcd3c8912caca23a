"""Is this folder a model? One clear line before transformers or PEFT is asked to load it.

Given a folder that holds neither a model nor an adapter (a typo, `--adapter /tmp`, a
dataset repo), `from_pretrained` fails deep inside transformers with a traceback that
does not name the folder. `edit`, `predict` and `pull` check their folders here first.
"""
from __future__ import annotations

from pathlib import Path

from stages.lib.io import InputError

# Weight files as transformers and PEFT save them (sharded checkpoints have an index).
MODEL_WEIGHTS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


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
    problem = model_problem(Path(base))
    if problem:
        raise InputError(f"{base}: not a model folder: {problem}")
