"""decoding.json: the decoding an adapter's scores were measured with.

`writing-alpaca publish` writes it beside the adapter it uploads (from the system's
predict settings, stages.lib.predict_config), and `writing-alpaca edit` reads it, so a
downloaded adapter is decoded as it was evaluated: the writing adapter with beam search
and a copy margin, not greedily. An adapter the pipeline trained in this checkout has no
record; its params.yaml system says the same. The reports (table.md, findings.md) name
each system's decoding with decoding_label, since systems may decode differently.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.lib.io import InputError, read_json
from stages.lib.params import load_params
from stages.lib.predict_config import PER_SYSTEM, PredictParams, copy_margin_problem, parse_predict

DECODING_RECORD = "decoding.json"


def decoding_settings(cfg: PredictParams) -> dict[str, Any]:
    """The per-system decoding settings of a parsed predict section."""
    return {key: getattr(cfg, key) for key in PER_SYSTEM}


def read_decoding_record(path: Path) -> dict[str, Any]:
    """A decoding.json's settings, checked: only the per-system keys, beams >= 1, and a
    copy_margin that the beams allow; anything else is an InputError naming the file."""
    data = read_json(path)
    if not isinstance(data, dict) or set(data) - set(PER_SYSTEM):
        raise InputError(f"{path}: expected an object with only {', '.join(PER_SYSTEM)}")
    num_beams, copy_margin = data.get("num_beams", 1), data.get("copy_margin")
    if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
        raise InputError(f"{path}: num_beams must be an integer >= 1, got {num_beams!r}")
    if copy_margin is not None and (isinstance(copy_margin, bool)
                                    or not isinstance(copy_margin, int | float)):
        raise InputError(f"{path}: copy_margin must be a number or null, got {copy_margin!r}")
    problem = copy_margin_problem(copy_margin, num_beams, beams_key="num_beams")
    if problem is not None:
        raise InputError(f"{path}: copy_margin {problem}")
    return {"num_beams": num_beams, "copy_margin": copy_margin}


def evaluated_decoding(model_dir: Path, params_path: Path
                       ) -> tuple[dict[str, Any], str] | None:
    """How `model_dir` was decoded when it was evaluated, and where that was read: its
    decoding.json (a published adapter), else the system of the params file at
    `params_path` whose adapter is this folder (an adapter the pipeline trained here);
    None when neither knows the folder."""
    record = model_dir / DECODING_RECORD
    if record.is_file():
        return read_decoding_record(record), str(record)
    checkout, folder = params_path.parent.resolve(), model_dir.resolve()
    # only a folder inside the params file's checkout can be one of its systems (a Hub
    # download in the HF cache is not, whatever params.yaml the user runs beside)
    if not params_path.is_file() or not folder.is_relative_to(checkout):
        return None
    params = load_params(params_path)
    for name, spec in (params.get("systems") or {}).items():
        adapter = spec.get("adapter") if isinstance(spec, dict) else None
        if adapter and (checkout / adapter).resolve() == folder:
            return (decoding_settings(parse_predict(params, name)),
                    f"{params_path}: systems.{name}")
    return None


def decoding_label(params: dict[str, Any], system: str) -> str:
    """How SYSTEM generated its outputs (params systems.<system>.predict over predict)."""
    cfg = parse_predict(params, system)
    shown = "greedy" if cfg.num_beams == 1 else f"beam {cfg.num_beams}"
    return shown + (f", copy margin {cfg.copy_margin}" if cfg.copy_margin else "")


def decoding_note(decodings: dict[str, str]) -> str:
    """One sentence per decoding: which systems used it (the copy baseline generates
    nothing and is left out)."""
    groups: dict[str, list[str]] = {}
    for system, shown in decodings.items():
        if system != "copy":
            groups.setdefault(shown, []).append(system)
    return "; ".join(f"{shown}: {', '.join(names)}" for shown, names in groups.items())
