"""Bad input, probed systematically: every subcommand fed a missing, empty, malformed,
non-UTF-8 or out-of-range input ends in one error line naming it, a non-zero exit, no
traceback and nothing written; a fake Hub token is written nowhere.

Each case builds its inputs in a fresh folder and runs the command as a user would,
through the `writing-alpaca` group; `out` is the path the command would write.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stages.cli import main

NON_UTF8 = b"caf\xe9 au lait\n"
REPO_PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text(
    encoding="utf-8"))


def files(root: Path) -> dict[str, Path]:
    """One bad file of each kind, and a folder that does not exist."""
    made = {"missing": root / "nowhere" / "x.json", "empty": root / "empty.jsonl",
            "json": root / "broken.json", "jsonl": root / "broken.jsonl",
            "yaml": root / "broken.yaml", "latin1": root / "latin1.txt"}
    made["empty"].write_text("")
    made["json"].write_text('{"conll": 1.0,')
    made["jsonl"].write_text('{"id": "a", "output": "x"}\n{"id": "b", "output": \n')
    made["yaml"].write_text("predict: {max_items: [\n")
    made["latin1"].write_bytes(NON_UTF8)
    return made


def metrics_dir(root: Path, content: bytes) -> Path:
    """A metrics folder whose system `a` file holds `content` (b valid)."""
    folder = root / "metrics"
    folder.mkdir()
    (folder / "a.json").write_bytes(content)
    return folder


def predictions_with(root: Path, content: bytes) -> tuple[Path, Path]:
    """A one-item benchmark and a predictions folder whose jsonl holds `content`."""
    bench = root / "bench"
    bench.mkdir()
    (bench / "index.json").write_text(json.dumps(
        {"trk": {"size": 1, "task": "simplify", "metric": "sari", "standin": False}}))
    (bench / "trk.jsonl").write_text(json.dumps(
        {"id": "trk-0000", "dataset": "trk", "task": "simplify", "instruction": "Simplify.",
         "input": "A b c .", "references": ["A b ."], "m2": None, "standin": False}) + "\n")
    preds = root / "preds"
    preds.mkdir()
    (preds / "trk.jsonl").write_bytes(content)
    return bench, preds


Case = Callable[[Path, dict[str, Path]], tuple[list[str], str, Path | None]]

# (name, case): a case returns the arguments, what the error must name, and the path
# the command must not have written (None: it writes nothing anyway)
CASES: list[tuple[str, Case]] = [
    ("score: hypothesis missing", lambda r, f: (
        ["score", "sari", "--source", str(r / "two.txt"), "--reference", str(r / "two.txt"),
         "--hypothesis", str(f["missing"])], "x.json", None)),
    ("score: hypothesis not UTF-8", lambda r, f: (
        ["score", "gleu", "--source", str(f["latin1"]), "--reference", str(f["latin1"]),
         "--hypothesis", str(f["latin1"])], "latin1.txt", None)),
    ("score: streams of different lengths", lambda r, f: (
        ["score", "sari", "--source", str(r / "two.txt"), "--reference", str(r / "two.txt"),
         "--hypothesis", str(f["latin1"].with_name("one.txt"))], "one.txt", None)),
    ("compare: metrics folder missing", lambda r, f: (
        ["compare", "a", "b", "--metrics-dir", str(r / "none")], "a.json", None)),
    ("compare: metrics file malformed JSON", lambda r, f: (
        ["compare", "a", "b", "--metrics-dir", str(metrics_dir(r, b'{"conll": 1.0,'))],
        "a.json", None)),
    ("compare: metrics file not UTF-8", lambda r, f: (
        ["compare", "a", "b", "--metrics-dir", str(metrics_dir(r, NON_UTF8))], "a.json", None)),
    ("compare: a system named ../x", lambda r, f: (
        ["compare", "../x", "a", "--metrics-dir", str(metrics_dir(r, b"{}"))],
        "system '../x': a name is", None)),
    ("evaluate: predictions malformed JSONL", lambda r, f: (
        ["evaluate", "--system", "s", "--predictions", str(predictions_with(r, b'{"id": \n')[1]),
         "--benchmark", str(r / "bench"), "--params", str(params(r, REPO_PARAMS)),
         "--out", str(r / "m" / "s.json")], "trk.jsonl", r / "m")),
    ("evaluate: predictions not UTF-8", lambda r, f: (
        ["evaluate", "--system", "s", "--predictions", str(predictions_with(r, NON_UTF8)[1]),
         "--benchmark", str(r / "bench"), "--params", str(params(r, REPO_PARAMS)),
         "--out", str(r / "m" / "s.json")], "trk.jsonl", r / "m")),
    ("evaluate: predictions empty", lambda r, f: (
        ["evaluate", "--system", "s", "--predictions", str(predictions_with(r, b"")[1]),
         "--benchmark", str(r / "bench"), "--params", str(params(r, REPO_PARAMS)),
         "--out", str(r / "m" / "s.json")], "trk", r / "m")),
    ("predict: params malformed YAML", lambda r, f: (
        ["predict", "--system", "s", "--adapter", str(r), "--base", str(r), "--benchmark",
         str(r), "--params", str(f["yaml"]), "--out", str(r / "out")], "broken.yaml", r / "out")),
    ("predict: params not UTF-8", lambda r, f: (
        ["predict", "--system", "s", "--adapter", str(r), "--base", str(r), "--benchmark",
         str(r), "--params", str(f["latin1"]), "--out", str(r / "out")], "latin1.txt",
         r / "out")),
    ("predict: --max-items 0", lambda r, f: (
        ["predict", "--system", "s", "--adapter", str(r), "--base", str(r), "--benchmark",
         str(r), "--max-items", "0", "--out", str(r / "out")], "--max-items", r / "out")),
    ("predict: adapter folder missing", lambda r, f: (
        ["predict", "--system", "s", "--adapter", str(r / "none"), "--base", str(r),
         "--benchmark", str(r), "--params", str(params(r)), "--out", str(r / "out")],
        "none", r / "out")),
    ("edit: --num-beams 0", lambda r, f: (
        ["edit", "--adapter", str(r), "--task", "grammar", "--num-beams", "0", "x"],
        "--num-beams", None)),
    ("edit: --batch-size -1", lambda r, f: (
        ["edit", "--adapter", str(r), "--task", "grammar", "--batch-size", "-1", "x"],
        "--batch-size", None)),
    ("edit: adapter ../x", lambda r, f: (
        ["edit", "--adapter", "../x", "--task", "grammar", "x"], "../x", None)),
    ("mix: an unknown mixture", lambda r, f: (
        ["mix", "--mixture", "nope", "--corpora", str(r), "--benchmark", str(r),
         "--params", str(params(r)), "--out", str(r / "out")], "nope", r / "out")),
    ("train: params malformed YAML", lambda r, f: (
        ["train", "--mixture", "m", "--data", str(r), "--base", str(r), "--params",
         str(f["yaml"]), "--out", str(r / "out"), "--checkpoints", str(r / "ck"),
         "--live", str(r / "live")], "broken.yaml", r / "out")),
    ("train: max_steps 0", lambda r, f: (
        ["train", "--mixture", "m", "--data", str(r), "--base", str(r), "--params",
         str(params(r, {**REPO_PARAMS, "train": {**REPO_PARAMS["train"], "max_steps": 0}})),
         "--out", str(r / "out"),
         "--checkpoints", str(r / "ck"), "--live", str(r / "live")], "max_steps",
        r / "out")),
    ("report: metrics folder missing", lambda r, f: (
        ["report", "--metrics", str(r / "none"), "--live", str(r / "none"), "--params",
         str(params(r, REPO_PARAMS)), "--out", str(r / "out")], "none", r / "out")),
    ("fetch: corpora.yaml malformed", lambda r, f: (
        ["fetch", "--corpus", "c", "--params", str(f["yaml"]), "--out", str(r / "out")],
        "broken.yaml", r / "out")),
    ("fetch: an unknown corpus", lambda r, f: (
        ["fetch", "--corpus", "nope", "--params", str(params(r, {"corpora": {}})),
         "--out", str(r / "out")], "no corpora.nope (known: none)", r / "out")),
    ("benchmark: params not UTF-8", lambda r, f: (
        ["benchmark", "--corpora", str(r), "--params", str(f["latin1"]), "--out",
         str(r / "out")], "latin1.txt", r / "out")),
    ("plan: --gpus -1", lambda r, f: (["plan", "--gpus", "-1"], "--gpus", None)),
    ("corpora-params: manifest malformed JSON", lambda r, f: (
        ["corpora-params", "--manifest", str(f["json"])], "broken.json", None)),
    ("publish: a repo id ../x", lambda r, f: (
        ["publish", "m", "--repo-id", "../x", "--dry-run"], "../x", None)),
    ("pull: a repo ../x", lambda r, f: (["pull", "../x"], "../x", None)),
    ("timings: out is a folder", lambda r, f: (
        ["timings", "--timings", str(r), "--out", str(r)], "", None)),
]


def params(root: Path, extra: dict | None = None) -> Path:
    """A params file holding `extra` (default: nothing)."""
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(extra or {}))
    return path


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_bad_input_is_one_line_and_writes_nothing(name: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "two.txt").write_text("a\nb\n")
    (tmp_path / "one.txt").write_text("a\n")
    case = dict(CASES)[name]
    args, named, out = case(tmp_path, files(tmp_path))
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and named in errors[0], result.output
    assert out is None or not out.exists(), f"{out} written"
