"""docs/your-data.md, run as written: a corpus of one's own (local JSONL files), a new
task, a mixture and two benchmark sets of one's own, added by YAML alone, built with the
project's real dvc.yaml on a tiny model; `dvc status` is then clean, and a changed row
re-runs what is downstream of its corpus and nothing else. A Hub token set in the
environment throughout is written nowhere.

The project holds only this data (the paper's corpora, mixtures and sets are taken out
of params.yaml, so nothing is fetched from the mirror) and the tiny base model; the
doc's YAML blocks are merged into its corpora.yaml and params.yaml, the doc's commands
run in it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "your-data.md"
BIN = Path(sys.executable).parent

BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.DOTALL)
PLACEHOLDER = re.compile(r"<sha256 of ([^>]+)>")

INFORMAL = [("gonna send the {thing} tmrw", "I will send the {thing} tomorrow."),
            ("pls check the {thing} asap", "Please check the {thing} as soon as possible."),
            ("can't find the {thing} lol", "I cannot find the {thing}."),
            ("wanna see the {thing}?", "Would you like to see the {thing}?"),
            ("the {thing} is kinda late", "The {thing} is somewhat delayed.")]
THINGS = ["report", "invoice", "draft", "slides", "budget", "contract", "agenda", "memo",
          "survey", "schedule", "proposal", "summary", "letter", "plan", "list", "file",
          "form", "chart", "note", "review"]


def rows(split: str, count: int, offset: int) -> list[dict[str, str]]:
    made = []
    for number in range(count):
        src, tgt = INFORMAL[(number + offset) % len(INFORMAL)]
        thing = THINGS[(number * 7 + offset) % len(THINGS)] + ("" if split == "train" else
                                                               f" for {split} {number}")
        made.append({"_id": f"{split}-{number:04d}", "task": "formality",
                     "src": src.format(thing=thing), "tgt": tgt.format(thing=thing)})
    return made


def doc_blocks() -> list[tuple[str, str, str]]:
    """(language, title, text) of every fenced block of the doc, in order."""
    found = []
    for language, info, text in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        title = re.search(r'title="([^"]+)"', info)
        found.append((language, title[1] if title else "", text))
    return found


def merge(into: dict[str, Any], add: dict[str, Any]) -> None:
    for key, value in add.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


# a Hub token in the environment, as a user who publishes has one: nothing may write it
TOKEN = "hf_probeTOKEN0123456789abcdefXYZ"


def run(cwd: Path, line: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HF_TOKEN": TOKEN,
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    done = subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=900)
    assert done.returncode == 0, f"{line}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def project_with_only_this_data(root: Path, base: Path) -> None:
    """The checkout's pipeline without the paper's corpora, mixtures, sets and systems."""
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    for folder in ("stages", "datacards"):
        shutil.copytree(REPO / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "adapters" / "copy", root / "adapters" / "copy")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["benchmark"] = {"datasets": {}}
    params["dev_benchmark"] = {"datasets": {}}
    params["mixtures"] = {}
    # the default base's name, built from the tiny model: the doc's runs and systems
    # name the default base as a user's would
    default = params["build"]["bases"][0]
    params["build"].update(mixtures={}, runs={})
    params["systems"] = {"copy": {"adapter": "adapters/copy", "base": default},
                         "base": {"adapter": f"models/{default}", "base": default}}
    params["bases"] = {default: {"source": f"path:{base}", "dtype": "float32"}}
    params["train"].update(max_steps=2, per_device_batch_size=2, global_batch_size=2,
                           max_length=64, save_steps=1)
    params["predict"].update(max_items=None, batch_size=8)
    params["evaluate"]["bootstrap"] = {"resamples": 100, "seed": 0}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    (root / "corpora.yaml").write_text("corpora: {}\n", encoding="utf-8")
    run(root, "git init -q && dvc init -q && git add -A && git commit -qm pipeline")


@pytest.mark.slow
def test_the_walk_through_runs_as_written(tmp_path: Path, tiny_model_dir: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    project_with_only_this_data(root, tiny_model_dir)
    data = root / "my-data" / "formal"
    data.mkdir(parents=True)
    for split, count, offset in (("train", 60, 0), ("dev", 20, 1), ("test", 20, 2)):
        (data / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows(split, count, offset)), encoding="utf-8")

    def sha(rel: str) -> str:
        return hashlib.sha256((root / "my-data" / rel).read_bytes()).hexdigest()

    commands = []
    for language, title, text in doc_blocks():
        if title:  # a YAML edit of the named file, the hashes pasted in
            path = root / title
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            merge(content, yaml.safe_load(PLACEHOLDER.sub(lambda m: sha(m[1]), text)))
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        elif language == "bash":
            commands += [line for line in text.splitlines()
                         if line.startswith(("dvc ", "writing-alpaca "))]
    assert commands == ["dvc repro", "writing-alpaca compare copy my-formal"]
    outputs = [run(root, line) for line in commands]

    scores = json.loads((root / "metrics" / "my-formal.json").read_text())
    assert set(scores) == {"formal", "avg"} and scores["avg"] is None  # in_avg: false
    assert "formal-dev" in json.loads((root / "dev" / "metrics" / "my-formal.json").read_text())
    table = (root / "reports" / "table.md").read_text(encoding="utf-8")
    assert "| System | formal | Avg. |" in table and "| my-formal |" in table
    assert "| formal |" in outputs[1]  # compare's row of the set
    assert "up to date" in run(root, "dvc status")
    index = json.loads((root / "data" / "benchmark" / "index.json").read_text())
    assert index["formal"] == {"size": 20, "task": "formalize", "metric": "sari",
                               "standin": False, "source": "my-formal/test",
                               "in_avg": False}
    # the adapter as it ships: its card names the decoding and the set's score
    card = (root / "adapters" / "my-formal" / "README.md").read_text(encoding="utf-8")
    assert "The scores below were measured with" in card and "| formal | formalize | SARI" in card
    assert json.loads((root / "adapters" / "my-formal" / "decoding.json").read_text())
    item = json.loads((root / "data" / "benchmark" / "formal.jsonl").read_text().splitlines()[0])
    assert item["instruction"] == "Make the text more formal."

    # section 5: one training row changes, its hash is updated
    train = data / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = json.dumps({**json.loads(lines[0]), "tgt": "I shall send it tomorrow."}) + "\n"
    old = sha("formal/train.jsonl")
    train.write_text("".join(lines), encoding="utf-8")
    corpora = root / "corpora.yaml"
    corpora.write_text(corpora.read_text().replace(old, sha("formal/train.jsonl")))
    again = run(root, "dvc repro")
    ran = set(re.findall(r"Running stage '([^']+)'", again))
    # the corpus and the mixture drawn from it are rebuilt and trained on; what follows
    # the adapter re-runs only if the adapter changed (two steps may not see the row)
    assert {"fetch@my-formal", "normalize@my-formal", "mix@my-formal", "train@my-formal"} <= ran
    downstream = {"fetch@my-formal", "normalize@my-formal", "benchmark@test", "benchmark@dev",
                  "mix@my-formal", "train@my-formal", "predict@my-formal",
                  "evaluate@my-formal", "ship@my-formal", "dev@my-formal", "report"}
    assert ran <= downstream, ran - downstream
    assert "up to date" in run(root, "dvc status")
    leaked = [path for path in root.rglob("*") if path.is_file() and ".git" not in path.parts
              and TOKEN.encode() in path.read_bytes()]
    assert not leaked and TOKEN not in again, leaked  # files, dvc.lock, logs, cards, cache
