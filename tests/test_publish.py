"""`writing-alpaca publish` against a fake Hub on 127.0.0.1 (the real huggingface_hub client).

The fake implements what create_repo + create_commit call in huggingface_hub 2.x:
POST /api/repos/create, POST /api/validate-yaml, POST /api/<type>s/<id>/preupload/<rev>
(it answers "regular" upload mode, so file contents arrive base64-encoded in the
commit) and POST /api/<type>s/<id>/commit/<rev> (ndjson). It records every request, so
the tests check the committed file set, that each repo gets exactly one commit, the
order, and that the token never reaches the user's terminal or any file.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest
from publish_fixtures import RUN_DECODING, make_run

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + secrets.token_hex(17)  # shaped like a real token, fresh per run


class FakeHub:
    """A threading HTTP server with just enough of the Hub API; see the module doc."""

    def __init__(self, reject_auth: bool = False, fail_commits: set[str] | None = None):
        self.reject_auth = reject_auth
        self.fail_commits = set(fail_commits or ())  # repo types whose commit answers 500
        self.requests: list[tuple[str, str]] = []
        self.repos: dict[tuple[str, str], dict[str, bytes]] = {}
        self.commits: list[tuple[str, str, dict[str, bytes]]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path))
                if not self._authorized():
                    return
                self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.requests.append(("POST", self.path))
                if not self._authorized():
                    return
                self._send(*hub.route(self.path, body))

            def _authorized(self) -> bool:
                if hub.reject_auth or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, {"error": "Invalid credentials in Authorization header"})
                    return False
                return True

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        path = path.split("?")[0]
        if path == "/api/repos/create":
            payload = json.loads(body)
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload['organization']}/{payload['name']}"
            self.repos.setdefault((repo_type, repo_id), {})
            return 200, {"url": f"{self.url}/{repo_id}"}
        if path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        parts = path.split("/")  # '', api, <type>s, owner, name, action, revision
        if len(parts) == 7 and parts[1] == "api" and parts[5] in ("preupload", "commit"):
            repo_type, repo_id = parts[2][:-1], f"{parts[3]}/{parts[4]}"
            if (repo_type, repo_id) not in self.repos:
                return 404, {"error": "Repository not found"}
            if parts[5] == "preupload":
                files = json.loads(body)["files"]
                return 200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                        "shouldIgnore": False} for f in files]}
            if repo_type in self.fail_commits:
                self.fail_commits.discard(repo_type)  # fail once, then work again
                return 500, {"error": "internal error"}
            files = {}
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    value = item["value"]
                    files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] != "header":
                    return 400, {"error": f"unexpected commit entry {item['key']}"}
            self.repos[(repo_type, repo_id)].update(files)
            self.commits.append((repo_type, repo_id, files))
            oid = secrets.token_hex(20)
            return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid}
        return 404, {"error": f"no route {path}"}

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    return make_run(tmp_path_factory.mktemp("run"), tiny_model_dir, steps=0)["root"]


def publish(run_dir: Path, endpoint: str, *args: str, token: str | None = TOKEN,
            home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter (huggingface_hub reads HF_* at import)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(home or run_dir / "hf-home"),
               HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               PYTHONPATH=str(REPO_ROOT))
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "stages.cli", "publish", "writing-alpaca", "--repo-id",
         "me/writing-alpaca-7b", "--dataset-repo-id", "me/writing-alpaca-data", *args],
        cwd=run_dir, env=env, check=False, capture_output=True, text=True, timeout=120)


def assert_no_token(result: subprocess.CompletedProcess[str], run_dir: Path) -> None:
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"token written to {path}"


def local_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_publish_commits_each_repo_once_and_never_leaks_the_token(run_dir: Path) -> None:
    from huggingface_hub import ModelCard

    with FakeHub() as hub:
        result = publish(run_dir, hub.url)
    assert result.returncode == 0, result.stderr
    assert_no_token(result, run_dir)
    # dataset first, then the adapter; one commit each
    assert [(t, r) for t, r, _ in hub.commits] == [
        ("dataset", "me/writing-alpaca-data"), ("model", "me/writing-alpaca-7b")]
    dataset = hub.repos[("dataset", "me/writing-alpaca-data")]
    model = hub.repos[("model", "me/writing-alpaca-7b")]
    mixture_dir = run_dir / "data" / "mixtures" / "writing-alpaca"
    adapter_dir = run_dir / "adapters" / "writing-alpaca"
    assert set(dataset) == local_files(mixture_dir)
    assert dataset["train.parquet"] == (mixture_dir / "train.parquet").read_bytes()
    assert set(model) == local_files(adapter_dir) | {"README.md", "decoding.json"}
    assert model["adapter_model.safetensors"] == \
        (adapter_dir / "adapter_model.safetensors").read_bytes()
    # the decoding the scores were measured with: params.yaml's systems.<name>.predict
    assert json.loads(model["decoding.json"]) == RUN_DECODING
    card = ModelCard(model["README.md"].decode())
    assert "(beam 3, copy margin 0.4 decoding)" in card.text
    assert len(card.data.eval_results) == 10
    assert card.data.datasets == ["me/writing-alpaca-data"]
    assert "`prompt_template: alpaca`" in card.text  # no record: the paper's template
    assert "published model repo me/writing-alpaca-7b" in result.stdout


def test_rejected_token_gives_one_clear_message(run_dir: Path) -> None:
    with FakeHub(reject_auth=True) as hub:
        result = publish(run_dir, hub.url)
    assert result.returncode == 1
    assert "401" in result.stderr and "token" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_token(result, run_dir)
    assert hub.commits == []


def test_no_token_fails_before_any_request(run_dir: Path, tmp_path: Path) -> None:
    with FakeHub() as hub:
        result = publish(run_dir, hub.url, token=None, home=tmp_path / "empty-home")
    assert result.returncode == 1
    assert "no Hugging Face token" in result.stderr
    assert hub.requests == []


def test_network_down_is_reported(run_dir: Path) -> None:
    with FakeHub() as hub:
        url = hub.url  # the port is closed once the server is shut down
    result = publish(run_dir, url)
    assert result.returncode == 1
    assert "cannot reach" in result.stderr and "Traceback" not in result.stderr
    assert_no_token(result, run_dir)


def test_failed_adapter_commit_leaves_no_half_published_repo_and_retry_completes(
        run_dir: Path) -> None:
    with FakeHub(fail_commits={"model"}) as hub:
        first = publish(run_dir, hub.url)
        assert first.returncode == 1 and "HTTP 500" in first.stderr
        assert [t for t, _, _ in hub.commits] == ["dataset"]
        assert hub.repos[("model", "me/writing-alpaca-7b")] == {}  # nothing half-written
        second = publish(run_dir, hub.url)
    assert second.returncode == 0, second.stderr
    model_commits = [files for t, _, files in hub.commits if t == "model"]
    assert len(model_commits) == 1
    assert set(model_commits[0]) == local_files(run_dir / "adapters" / "writing-alpaca") \
        | {"README.md", "decoding.json"}
    assert_no_token(first, run_dir)


def test_dry_run_prints_files_and_card_without_network(run_dir: Path) -> None:
    result = publish(run_dir, "http://127.0.0.1:9", "--dry-run", token=None)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("adapter_model.safetensors", "adapter_config.json", "train.parquet",
                 "stats.json", "decontamination.json", "model-index:"):
        assert name in out
    assert out.count("- task:") == 10
    assert "decoding.json" in out and "beam search with 3 beams" in out
    assert "stand-in" in out and "license: cc-by-nc-4.0" in out


def test_bad_repo_id_is_an_input_error(run_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stages.cli", "publish", "writing-alpaca", "--repo-id", "no-slash",
         "--dry-run"], cwd=run_dir, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "OWNER/NAME" in result.stderr


def test_greedy_system_publishes_greedy_decoding(run_dir: Path, tmp_path: Path) -> None:
    """Without systems.<name>.predict the shared predict section's decoding is recorded."""
    shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("hf-home"))
    (tmp_path / "run" / "params.yaml").write_text("predict: {num_beams: 1, copy_margin: null}\n",
                                                encoding="utf-8")
    result = publish(tmp_path / "run", "http://127.0.0.1:9", "--dry-run", token=None)
    assert result.returncode == 0, result.stderr
    assert "(greedy decoding)" in result.stdout and "copy margin" not in result.stdout
    assert "decoding.json" in result.stdout


def test_a_shipped_folders_decoding_record_wins_over_params(run_dir: Path,
                                                            tmp_path: Path) -> None:
    """ship@<run> writes decoding.json from what predict recorded: publish uploads that,
    even where params.yaml now says otherwise."""
    shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("hf-home"))
    record = {"num_beams": 5, "copy_margin": 0.25, "max_new_tokens_factor": 1.5,
              "max_new_tokens_min": 16, "max_new_tokens_max": 128}
    adapter = tmp_path / "run" / "adapters" / "writing-alpaca"
    (adapter / "decoding.json").write_text(json.dumps(record), encoding="utf-8")
    result = publish(tmp_path / "run", "http://127.0.0.1:9", "--dry-run", token=None)
    assert result.returncode == 0, result.stderr
    assert "(beam 5, copy margin 0.25 decoding)" in result.stdout
    assert "beam 3" not in result.stdout  # params.yaml's system decoding (RUN_DECODING)


def test_the_trainers_pickle_is_left_out_and_any_other_is_refused(
        run_dir: Path, tmp_path: Path) -> None:
    """Pickles run code where they are loaded: training_args.bin is not published, and a
    pickled weight file stops publish before any request, naming the file."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("hf-home"))
    adapter = run / "adapters" / "writing-alpaca"
    (adapter / "training_args.bin").write_bytes(b"\x80\x04K\x01.")
    result = publish(run, "http://127.0.0.1:9", "--dry-run", token=None)
    assert result.returncode == 0, result.stderr
    assert "training_args.bin" not in result.stdout
    assert "adapter_model.safetensors" in result.stdout
    (adapter / "optimizer.pt").write_bytes(b"\x80\x04K\x01.")
    refused = publish(run, "http://127.0.0.1:9", "--dry-run", token=None)
    assert refused.returncode != 0
    assert "optimizer.pt: a pickle" in refused.stderr and "Traceback" not in refused.stderr


def test_a_base_built_here_gives_the_card_its_hub_id_and_licence(
        run_dir: Path, tmp_path: Path) -> None:
    """An adapter trained on models/<base> (base_model's folder, with base.json) is
    published against the base's Hub id, and its card carries the base's licence."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("hf-home"))
    base = run / "models" / "gemma-3-270m"
    base.mkdir(parents=True)
    (base / "base.json").write_text(json.dumps({
        "name": "gemma-3-270m", "hub_id": "google/gemma-3-270m", "license": "gemma",
        "license_link": "https://ai.google.dev/gemma/terms"}))
    config_path = run / "adapters" / "writing-alpaca" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "models/gemma-3-270m"
    config_path.write_text(json.dumps(config))
    result = publish(run, "http://127.0.0.1:9", "--dry-run", token=None)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "base_model: google/gemma-3-270m" in out
    # cc-by-nc-4.0 data on Gemma weights: both apply
    assert "license: other" in out and "license_name: cc-by-nc-4.0-and-gemma" in out
    assert "The base model is under **gemma** ([terms](https://ai.google.dev/gemma/terms))" in out


def test_a_run_publishes_the_mixture_it_was_trained_on(run_dir: Path, tmp_path: Path) -> None:
    """Runs of two bases share a mixture: `publish gemma-writing-alpaca` uploads
    adapters/gemma-writing-alpaca with the scores of system gemma-writing-alpaca and the
    mixture its training_args.json names, not a mixture of the run's name."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("hf-home"))
    adapter = run / "adapters" / "gemma-writing-alpaca"
    (run / "adapters" / "writing-alpaca").rename(adapter)
    (run / "metrics" / "writing-alpaca.json").rename(run / "metrics" / "gemma-writing-alpaca.json")
    args = json.loads((adapter / "training_args.json").read_text())
    (adapter / "training_args.json").write_text(json.dumps({**args, "mixture": "writing-alpaca"}))
    command = [sys.executable, "-m", "stages.cli", "publish", "gemma-writing-alpaca",
               "--repo-id", "me/gemma-wa", "--dry-run"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(command, cwd=run, env=env, check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "on the `writing-alpaca` instruction mixture" in result.stdout
    assert "train.parquet" in result.stdout and "model-index:" in result.stdout
    # a mixture the record names but the checkout lacks: one line naming both
    (adapter / "training_args.json").write_text(json.dumps({**args, "mixture": "other"}))
    missing = subprocess.run(command, cwd=run, env=env, check=False, capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "data/mixtures/other: folder not found" in missing.stderr
    assert "dvc repro mix@other" in missing.stderr
