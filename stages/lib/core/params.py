"""params.yaml loading: profiles and strict, typed sections.

params.yaml holds the default profile's values at the top level; `profiles.<name>`
holds overrides that are deep-merged on top when `profile: <name>` is selected
(e.g. `dvc exp run -S profile=paper`). Each stage validates its own section into a
dataclass with `parse_section`, so a misspelt key is an error naming the key.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from stages.lib.core.io import InputError, read_text

T = TypeVar("T")
# The sections a profile may override; dvc.yaml tracks profiles.${profile}.<section> in
# the stage that owns each, so every profile must define all of them (`{}` = none).
PROFILE_SECTIONS = ("mixtures", "train", "predict", "evaluate")
# Top-level sections of params.yaml (each owned by one stage; see the file's comments).
SECTIONS = ("profile", "profiles", "corpora", "optional_corpora", "tasks", "benchmark",
            "dev_benchmark", "bases", "build", "mixtures", "prompt_template", "train", "systems", "predict",
            "evaluate", "report", "grid", "ladder")
RENAMED = {"eval": "predict (generation) and evaluate (scoring)",
           "base_model": "bases (named bases; build.bases lists those built)"}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return base with override merged in; nested dicts merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> dict[str, Any]:
    """Load params.yaml and apply the selected profile's overrides (`profile`: another
    than the file's own, as `dvc exp run -S profile=<name>` would select)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(read_text(path)) or {}
    except FileNotFoundError as exc:
        raise InputError(f"{path}: params file not found") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of sections")
    unknown = [key for key in raw if key not in SECTIONS]
    if unknown:
        hint = f" (now {RENAMED[unknown[0]]})" if unknown[0] in RENAMED else ""
        raise InputError(f"{path}: unknown section {unknown[0]!r}{hint}; "
                         f"known: {', '.join(SECTIONS)}")
    profiles = raw.pop("profiles", {}) or {}
    if profile is not None:
        raw["profile"] = profile
    profile = raw.get("profile", "default")
    if profile not in profiles:
        if profile == "default":
            return raw
        known = ", ".join(dict.fromkeys(["default", *profiles]))
        raise InputError(f"{path}: profile {profile!r} is not defined (known: {known})")
    overrides = profiles[profile] or {}
    missing = [s for s in PROFILE_SECTIONS if s not in overrides]
    if missing:
        raise InputError(f"{path}: profiles.{profile} must list {', '.join(missing)} "
                         f"(`{{}}` for no override): dvc.yaml tracks "
                         f"profiles.<profile>.<section> for each stage")
    check_not_shadowed(path, raw, overrides, profile)
    return deep_merge(raw, overrides)


_ABSENT = object()


def _leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()
            ) -> list[tuple[tuple[str, ...], Any]]:
    """The values a profile replaces, as deep_merge applies it: a mapping merges into the
    section (an empty one changes nothing), anything else replaces the value."""
    found = []
    for key, value in tree.items():
        if isinstance(value, dict):
            found += _leaves(value, (*prefix, key))
        else:
            found.append(((*prefix, key), value))
    return found


def _at(tree: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return _ABSENT
        tree = tree[key]
    return tree


def committed_params(path: Path) -> dict[str, Any] | None:
    """The params file as the checkout's last commit holds it; None outside git, for an
    untracked file, or when git is not installed."""
    import subprocess

    try:
        done = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent or ".",
                              capture_output=True, text=True, timeout=30, check=False)
        data = yaml.safe_load(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def check_not_shadowed(path: Path, raw: dict[str, Any], overrides: dict[str, Any],
                       profile: str) -> None:
    """A top-level value changed since the last commit (`dvc exp run -S key=value`, or an
    edit) that the selected profile replaces would be dropped without a word: refuse it,
    naming the key the profile reads instead."""
    committed = None
    for keys, value in _leaves(overrides):
        now = _at(raw, keys)
        if now is _ABSENT or now == value:
            continue
        if committed is None:
            committed = committed_params(path)
            if committed is None:
                return  # nothing to tell a change from the file's own value
        if now != _at(committed, keys):
            dotted = ".".join(keys)
            raise InputError(
                f"{path}: {dotted} is {now!r} here, but profile {profile} sets it to "
                f"{value!r} and its value wins: set profiles.{profile}.{dotted} instead "
                f"(dvc exp run -S 'profiles.{profile}.{dotted}=...')")


def parse_section(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from a params mapping, rejecting unknown or missing keys.

    Nested dataclass fields (and dict[str, Dataclass] / list[Dataclass]) are parsed
    recursively; `where` is the dotted params key used in error messages.
    """
    if not isinstance(data, dict):
        raise InputError(f"params.yaml: {where} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"params.yaml: unknown key {where}.{unknown[0]} (allowed: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            no_default = (field.default is dataclasses.MISSING
                          and field.default_factory is dataclasses.MISSING)
            if no_default:
                raise InputError(f"params.yaml: missing key {where}.{name}")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return parse_section(hint, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _convert(non_none[0], value, where)
        return value
    if origin is dict and args and dataclasses.is_dataclass(args[1]):
        if not isinstance(value, dict):
            raise InputError(f"params.yaml: {where} must be a mapping")
        return {k: parse_section(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is list and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, list):
            raise InputError(f"params.yaml: {where} must be a list")
        return [parse_section(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (list, tuple) and args and args[0] in (int, float, str, bool):
        # a bare string would otherwise become a sequence of its characters
        if not isinstance(value, list):
            raise InputError(f"params.yaml: {where} must be a list, got {value!r}")
        items = [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # YAML's true/false are not numbers, though Python's bool is an int
    wrong_bool = hint in (int, float) and isinstance(value, bool)
    if hint in (int, float, str, bool) and (wrong_bool or not isinstance(value, hint)):
        raise InputError(
            f"params.yaml: {where} must be {hint.__name__}, got {value!r}"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Bound:
    """The range a numeric params key must lie in: `low`/`high` (None = unbounded),
    each inclusive unless `*_open`. `check_bounds` tests a parsed section against them."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts)

    def holds(self, value: float) -> bool:
        if math.isnan(value):  # nan is in no range
            return False
        if self.low is not None:
            below = value <= self.low if self.low_open else value < self.low
            if below:
                return False
        return self.high is None or (value < self.high if self.high_open
                                     else value <= self.high)


def check_bounds(section: Any, where: str, bounds: dict[str, Bound]) -> None:
    """InputError naming the first key of `section` (a parsed dataclass; dotted keys reach
    nested ones, e.g. `lora.r`) outside its Bound; None values are not checked."""
    for key, bound in bounds.items():
        value = section
        for part in key.split("."):
            value = getattr(value, part)
        if value is not None and not bound.holds(value):
            raise InputError(f"params.yaml: {where}.{key} must be {bound.describe()}, "
                             f"got {value!r}")
