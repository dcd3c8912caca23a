"""`writing-alpaca edit` and `pull` with the tiny model and a tiny trained LoRA adapter.

The adapter is trained here for a few dozen steps on one grammar pair (publish_fixtures),
so it really edits: the tests check the whole chain prompt -> generate -> clean -> print
(and the diff markup, the merge export, base-model resolution and offline use from the
HF cache) against that pair. Nothing is downloaded; Hub access is switched off.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from publish_fixtures import SOURCE, TARGET, make_adapter

from stages.edit import edit, word_diff
from stages.pull import pull

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "grammar")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any Hub access in these tests would be a bug: make it fail fast."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def run_edit(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(edit, list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_word_diff_marks_replacements_insertions_and_deletions() -> None:
    assert word_diff("She go to school", "She went to school") == "She [-go-]{+went+} to school"
    assert word_diff("a b c", "a b c") == "a b c"
    assert word_diff("a c", "a b c") == "a {+b+} c"
    assert word_diff("a b c", "a c") == "a [-b-] c"
    assert word_diff("x", "") == "[-x-]"


def test_edit_stdin_one_output_line_per_input_line(adapter_dir: Path) -> None:
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", stdin=f"{SOURCE}\n\n{SOURCE}\n")
    assert code == 0
    assert out.splitlines() == [TARGET, "", TARGET]


def test_edit_diff_marks_the_edit(adapter_dir: Path) -> None:
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", "--diff", SOURCE)
    assert code == 0
    assert out.strip() == word_diff(SOURCE, TARGET) == "She [-go-]{+went+} to school yesterday ."


def test_missing_base_model_is_a_clear_input_error(adapter_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tiny_model_dir: Path) -> None:
    moved = shutil.copytree(adapter_dir, tmp_path / "adapter")
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "nobody/missing-base"
    (moved / "adapter_config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)  # no models/ here
    code, _, err = run_edit("--adapter", str(moved), "--task", "grammar", SOURCE)
    assert code == 2 and "--base" in err and "nobody/missing-base" in err
    code, out, _ = run_edit("--adapter", str(moved), "--task", "grammar", "--dtype", "float32",
                            "--base", str(tiny_model_dir), SOURCE)
    assert code == 0 and out.strip() == TARGET
    # a base that base_model built from that Hub id (its base.json says so) is found offline
    built = shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny")
    (built / "base.json").write_text(json.dumps({"name": "tiny", "hub_id": "nobody/missing-base"}))
    code, out, err = run_edit("--adapter", str(moved), "--task", "grammar", "--dtype", "float32",
                              SOURCE)
    assert code == 0 and out.strip() == TARGET and "models/tiny" in err


def test_merge_exports_a_plain_model_with_the_same_outputs(adapter_dir: Path,
                                                           tmp_path: Path) -> None:
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from stages.lib.model.models import load_system

    out_dir = tmp_path / "merged"
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", "--merge", str(out_dir))
    assert code == 0 and out == ""  # no TEXT: merge only
    with safe_open(str(out_dir / "model.safetensors"), "pt") as handle:
        names = handle.keys()
        assert not any("lora" in name for name in names)
    merged = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    peft_model, tokenizer = load_system(json.loads((adapter_dir / "adapter_config.json")
                                                   .read_text())["base_model_name_or_path"],
                                        adapter_dir, torch.float32)
    batch = tokenizer(SOURCE, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, peft_model(**batch).logits,
                                   atol=1e-4, rtol=1e-4)
    # the merged folder is a full model: `edit` uses it without a base
    code, out, _ = run_edit("--adapter", str(out_dir), "--task", "grammar", "--dtype",
                            "float32", SOURCE)
    assert code == 0 and out.strip() == TARGET


def fake_cache(cache: Path, repo_id: str, files_from: Path) -> Path:
    """The HF hub cache layout for one repo at one commit, as snapshot_download leaves it."""
    commit = "0" * 39 + "1"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return Path(shutil.copytree(files_from, repo / "snapshots" / commit))


def test_pull_and_edit_work_offline_from_the_hf_cache(adapter_dir: Path, tmp_path: Path,
                                                      tiny_model_dir: Path) -> None:
    # as published: the adapter names its base by Hub id, and both are in the cache
    published = shutil.copytree(adapter_dir, tmp_path / "published")
    config = json.loads((published / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "me/tiny-base"
    (published / "adapter_config.json").write_text(json.dumps(config))
    snapshot = fake_cache(tmp_path / "hub-cache", "me/tiny-grammar", published)
    base_snapshot = fake_cache(tmp_path / "hub-cache", "me/tiny-base", tiny_model_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub-cache"),
               HF_HOME=str(tmp_path / "hf-home"), PYTHONPATH=str(REPO_ROOT))
    cli = [sys.executable, "-m", "stages.cli"]
    pulled = subprocess.run([*cli, "pull", "me/tiny-grammar"], env=env, cwd=tmp_path,
                            check=False, capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    assert Path(pulled.stdout.strip()) == snapshot
    assert f"base me/tiny-base: {base_snapshot}" in pulled.stderr  # the base comes along
    edited = subprocess.run([*cli, "edit", "--adapter", "me/tiny-grammar", "--task", "grammar",
                             "--dtype", "float32", "--diff"], input=SOURCE + "\n", env=env,
                            cwd=tmp_path, check=False, capture_output=True, text=True, timeout=300)
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.strip() == word_diff(SOURCE, TARGET)
    missing = subprocess.run([*cli, "pull", "me/not-cached"], env=env, cwd=tmp_path,
                             check=False, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "me/not-cached" in missing.stderr


def test_pull_accepts_a_local_folder_and_rejects_a_missing_one(adapter_dir: Path) -> None:
    result = CliRunner().invoke(pull, [str(adapter_dir)])
    assert result.exit_code == 0 and result.stdout.strip() == str(adapter_dir.resolve())
    result = CliRunner().invoke(pull, ["./no/such/folder"])
    assert result.exit_code == 2 and "no such folder" in result.stderr


# --- --num-beams and --copy-margin (predict.copy_margin's meaning) ------------------------

def test_copy_margin_needs_beams_and_a_non_negative_margin(adapter_dir: Path) -> None:
    for args, message in [(["--copy-margin", "0.3"], "--num-beams is 1"),
                          (["--copy-margin", "-1", "--num-beams", "2"], "must be >= 0")]:
        result = CliRunner().invoke(edit, ["--adapter", str(adapter_dir), "--task", "grammar",
                                           *args, SOURCE])
        assert result.exit_code == 2, result.output
        assert "--copy-margin" in result.stderr and message in result.stderr
    # ... before the adapter is looked up (here a Hub id, with the Hub switched off)
    result = CliRunner().invoke(edit, ["--adapter", "someone/not-downloaded", "--task",
                                       "grammar", "--copy-margin", "0.3", SOURCE])
    assert result.exit_code == 2 and "--num-beams is 1" in result.stderr, result.output
    # 0 is off, with any beams
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", "--copy-margin", "0", SOURCE)
    assert code == 0 and out.strip() == TARGET


def test_edit_passes_beams_and_copy_margin_to_the_engine(
        adapter_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_engines import MarkerEngine

    from stages.lib.inference import engines

    calls: list[dict[str, object]] = []

    class Recorder(MarkerEngine):
        def generate(self, *args: Any, **kwargs: Any) -> list[str]:
            decoding = args[4]  # (model, tokenizer, prompts, budgets, decoding, ...)
            calls.append({"num_beams": decoding.num_beams,
                          "copy_margin": decoding.copy_margin, **kwargs})
            return super().generate(*args, **kwargs)

    chosen: list[int] = []

    def resolve(name: str, device: str, num_beams: int = 1, *rest: object) -> engines.Engine:
        chosen.append(num_beams)
        return Recorder()

    monkeypatch.setattr(engines, "resolve_engine", resolve)
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", "--num-beams", "3", "--copy-margin", "0.4",
                            stdin="She go .\n\n  He go .  \n")
    assert code == 0 and len(out.splitlines()) == 3
    assert chosen == [3]  # beams rule vLLM out in the chooser
    assert len(calls) == 1 and calls[0]["num_beams"] == 3
    assert calls[0]["copy_margin"] == 0.4
    assert calls[0]["sources"] == ["She go .", "He go ."]  # the texts the prompts hold


def test_edit_with_a_copy_margin_turns_a_copy_into_an_edit(adapter_dir: Path) -> None:
    """With beams and a margin wider than any score gap, a line whose plain beam output
    copies it gets an edit instead; a line the plain output edits keeps that edit."""
    lines = [SOURCE, TARGET, "She went home ."]
    common = ["--adapter", str(adapter_dir), "--task", "grammar", "--dtype", "float32",
              "--num-beams", "2", "--max-new-tokens", "12"]
    code, plain, _ = run_edit(*common, stdin="\n".join(lines) + "\n")
    assert code == 0
    code, wide, _ = run_edit(*common, "--copy-margin", "1000", stdin="\n".join(lines) + "\n")
    assert code == 0
    copies = 0
    for line, before, after in zip(lines, plain.splitlines(), wide.splitlines(), strict=True):
        if before.split() == line.split():
            copies += 1
            assert after.split() != line.split() and after.strip()
        else:
            assert after == before
    assert copies >= 1  # the trained adapter copies the already-correct TARGET
    assert plain.splitlines()[0] == TARGET  # ... and its one trained edit stays


def record_generate_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Route edit to a marker engine; the returned list fills with each generate call's
    keyword arguments (num_beams, copy_margin, sources, ...)."""
    from test_engines import MarkerEngine

    from stages.lib.inference import engines

    calls: list[dict[str, object]] = []

    class Recorder(MarkerEngine):
        def generate(self, *args: Any, **kwargs: Any) -> list[str]:
            decoding = args[4]  # (model, tokenizer, prompts, budgets, decoding, ...)
            calls.append({"num_beams": decoding.num_beams,
                          "copy_margin": decoding.copy_margin, **kwargs})
            return super().generate(*args, **kwargs)

    monkeypatch.setattr(engines, "resolve_engine", lambda *args, **kwargs: Recorder())
    return calls


def test_edit_decodes_as_the_adapter_was_evaluated_unless_told_otherwise(
        adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A published adapter's decoding.json sets beams and copy margin; either flag
    replaces both; without a record (and no params system for it), edit is greedy."""
    calls = record_generate_calls(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no params.yaml here
    published = tmp_path / "published"
    shutil.copytree(adapter_dir, published)
    (published / "decoding.json").write_text(json.dumps({"num_beams": 3, "copy_margin": 0.4}))
    common = ["--task", "grammar", "--dtype", "float32", SOURCE]

    code, _, err = run_edit("--adapter", str(published), *common)
    assert code == 0 and (calls[-1]["num_beams"], calls[-1]["copy_margin"]) == (3, 0.4)
    assert "decoding as evaluated" in err and "beams 3, copy margin 0.4" in err
    code, _, err = run_edit("--adapter", str(published), "--num-beams", "1", *common)
    assert code == 0 and (calls[-1]["num_beams"], calls[-1]["copy_margin"]) == (1, None)
    assert "decoding as evaluated" not in err
    code, _, _ = run_edit("--adapter", str(adapter_dir), *common)
    assert code == 0 and (calls[-1]["num_beams"], calls[-1]["copy_margin"]) == (1, None)
    assert len(calls) == 3


def test_edit_in_the_checkout_takes_the_systems_decoding(
        adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`edit --adapter adapters/<system>` in the pipeline's checkout decodes like
    predict@<system>: params.yaml's systems.<system>.predict."""
    calls = record_generate_calls(monkeypatch)
    shutil.copytree(adapter_dir, tmp_path / "adapters" / "writer")
    (tmp_path / "params.yaml").write_text(
        "systems:\n  writer: {adapter: adapters/writer, predict: {num_beams: 2, "
        "copy_margin: 0.5}}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_edit("--adapter", "adapters/writer", "--task", "grammar", "--dtype",
                            "float32", SOURCE)
    assert code == 0, err
    assert (calls[-1]["num_beams"], calls[-1]["copy_margin"]) == (2, 0.5)
    assert "params.yaml: systems.writer" in err


# --- nothing local is looked up on the Hub; lines are lines -------------------------------

@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub download in these tests is the bug under test: fail loudly if one starts."""
    import huggingface_hub

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"Hub download attempted: {args}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)


def test_a_mistyped_local_adapter_is_not_looked_up_on_the_hub(
        adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        no_hub: None) -> None:
    (tmp_path / "adapters").mkdir()
    monkeypatch.chdir(tmp_path)
    code, _, err = run_edit("--adapter", "adapters/writing-alpacca", "--task", "grammar",
                            SOURCE)
    assert code == 2
    assert "adapters/writing-alpacca: no such folder (a local path" in err


def test_a_recorded_local_base_outside_the_checkout_is_not_looked_up_on_the_hub(
        adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        no_hub: None) -> None:
    """Every pipeline adapter records models/base; run elsewhere, edit asks for --base."""
    moved = shutil.copytree(adapter_dir, tmp_path / "adapter")
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "models/base"
    (moved / "adapter_config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_edit("--adapter", str(moved), "--task", "grammar", SOURCE)
    assert code == 2 and "models/base" in err and "--base" in err


def test_looks_local_tells_paths_from_hub_ids(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from stages.lib.publishing.hub import looks_local

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    for local in ("./x", "/abs/x", "~/x", "a/b/c", "plain", "models/base", "trained/x",
                  "adapters/x", "mine/typo"):
        assert looks_local(local), local
    for hub_id in ("HuggingFaceTB/SmolLM2-135M-Instruct", "me/writing-alpaca-7b"):
        assert not looks_local(hub_id), hub_id


def test_stdin_lines_end_at_newlines_only(adapter_dir: Path) -> None:
    """U+2028 inside a line does not split it: one output line per input line."""
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", stdin=f"{SOURCE}\n{SOURCE}\u2028still one line\n"
                                             f"{SOURCE}\r\n")
    assert code == 0
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 4, out  # three outputs, each ended by \n
    assert lines[0] == TARGET and lines[2] == TARGET


def test_stdin_that_is_not_utf8_is_one_line(adapter_dir: Path) -> None:
    result = CliRunner().invoke(edit, ["--adapter", str(adapter_dir), "--task", "grammar"],
                                input=b"caf\xe9\n")
    assert result.exit_code == 2
    assert "stdin: not UTF-8" in result.stderr


def test_input_longer_than_the_context_is_refused_naming_its_line(adapter_dir: Path) -> None:
    long_line = " ".join(["word"] * 600)  # the tiny model's context is 512 positions
    result = CliRunner().invoke(edit, ["--adapter", str(adapter_dir), "--task", "grammar",
                                       "--dtype", "float32"], input=f"{SOURCE}\n{long_line}\n")
    assert result.exit_code == 2, result.output
    assert "input line 2:" in result.stderr and "context of 512" in result.stderr
    assert result.stdout == ""  # nothing printed for the lines before it either


def test_merge_into_a_folder_of_the_users_files_is_refused(adapter_dir: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "merged"
    out.mkdir()
    (out / "thesis.tex").write_text("mine", encoding="utf-8")
    code, _, err = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--dtype",
                            "float32", "--merge", str(out))
    assert code == 2 and "holds thesis.tex" in err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_an_adapter_that_ships_its_own_code_is_refused_and_never_run(
        adapter_dir: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    moved = shutil.copytree(adapter_dir, tmp_path / "adapter")
    marker = tmp_path / "ran"
    (moved / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    config_path = moved / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    config_path.write_text(json.dumps(config))
    code, out, err = run_edit("--adapter", str(moved), "--task", "grammar", "--dtype",
                              "float32", "--base", str(tiny_model_dir), SOURCE, stdin="y\n")
    assert code == 2 and "names code of its own (auto_map)" in err
    assert out == "" and not marker.exists()


def test_a_base_other_than_the_trained_one_is_named(adapter_dir: Path, tiny_model_dir: Path,
                                                    lively_model_dir: Path,
                                                    tmp_path: Path) -> None:
    from stages.lib.model.model_dirs import weights_sha256

    trained = shutil.copytree(adapter_dir, tmp_path / "trained")
    record = json.loads((trained / "training_args.json").read_text())
    record["base_weights_sha256"] = weights_sha256(tiny_model_dir)  # as train records it
    (trained / "training_args.json").write_text(json.dumps(record))
    args = ("--adapter", str(trained), "--task", "grammar", "--dtype", "float32", SOURCE)
    code, _, err = run_edit(*args, "--base", str(tiny_model_dir))
    assert code == 0 and "warning" not in err
    code, _, err = run_edit(*args, "--base", str(lively_model_dir))
    assert code == 0
    assert f"{lively_model_dir}: not the weights {trained} was trained on" in err


def test_tasks_come_from_params(adapter_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("tasks:\n  formalize: Make the text more formal.\n", encoding="utf-8")
    code, _, err = run_edit("--adapter", str(adapter_dir), "--task", "grammar", "--params",
                            str(params), "--dtype", "float32", SOURCE)
    assert code == 2 and "unknown task 'grammar' (known: formalize)" in err
    code, out, _ = run_edit("--adapter", str(adapter_dir), "--task", "formalize", "--params",
                            str(params), "--dtype", "float32", SOURCE)
    assert code == 0 and len(out.splitlines()) == 1  # one output line per input line
    # without a params file, the paper's seven
    code, _, err = run_edit("--adapter", str(adapter_dir), "--task", "formalize", "--params",
                            str(tmp_path / "none.yaml"), "--dtype", "float32", SOURCE)
    assert code == 2 and "known: grammar, fluency" in err
