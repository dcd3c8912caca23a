"""decoding.json: the decoding an adapter's scores were measured with.

ship@<run> writes it into adapters/<run>/ (from the decoding predict recorded, as the
metrics' details hold it), `writing-alpaca publish` uploads it with the folder, and
`writing-alpaca edit` reads it, so a shipped or downloaded adapter is decoded as it was
evaluated: the writing adapter with beam search and a copy margin, not greedily. The
folder train writes (trained/<run>/) has no record; its params.yaml system says the
same. The reports (table.md, findings.md) name each system's decoding as its metrics
record it (decoding_note), since systems may decode differently.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.lib.core.params import load_params
from stages.lib.inference.decoding import DECODING_RECORD, Decoding, read_record
from stages.lib.inference.predict_config import PredictParams, decoding_of, parse_predict
from stages.lib.inference.systems import PER_SYSTEM, read_systems

__all__ = ["DECODING_RECORD", "decoding_note", "decoding_settings", "evaluated_decoding"]


def decoding_settings(cfg: PredictParams) -> dict[str, Any]:
    """The per-system decoding settings of a parsed predict section."""
    return {key: getattr(cfg, key) for key in PER_SYSTEM}


def evaluated_decoding(model_dir: Path, params_path: Path) -> tuple[Decoding, str] | None:
    """How `model_dir` was decoded when it was evaluated, and where that was read: its
    decoding.json (a published adapter), else the system of the params file at
    `params_path` whose adapter is this folder (an adapter the pipeline trained here);
    None when neither knows the folder."""
    record = model_dir / DECODING_RECORD
    if record.is_file():
        return read_record(record), str(record)
    checkout, folder = params_path.parent.resolve(), model_dir.resolve()
    # only a folder inside the params file's checkout can be one of its systems (a Hub
    # download in the HF cache is not, whatever params.yaml the user runs beside)
    if not params_path.is_file() or not folder.is_relative_to(checkout):
        return None
    params = load_params(params_path)
    for name, system in read_systems(params).items():
        if system.adapter and (checkout / system.adapter).resolve() == folder:
            return decoding_of(parse_predict(params, name)), f"{params_path}: systems.{name}"
    return None


def decoding_note(decodings: dict[str, str | None]) -> str:
    """One sentence per decoding: which systems used it (a system that decoded nothing,
    None, the copy baseline, is left out)."""
    groups: dict[str, list[str]] = {}
    for system, shown in decodings.items():
        if shown is not None:
            groups.setdefault(shown, []).append(system)
    return "; ".join(f"{shown}: {', '.join(names)}" for shown, names in groups.items())
