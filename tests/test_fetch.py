"""fetch: HTTP download (local server only), archives, mirror copy, sha256 verification."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stages.fetch import MIRROR_ENV, fetch

REPO_ROOT = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served by http.server on 127.0.0.1 (the only network tests use)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def write_params(tmp_path: Path, corpora: dict, optional: dict | None = None) -> Path:
    path = tmp_path / "params.yaml"
    data = {"corpora": corpora}
    if optional:
        data["optional_corpora"] = optional
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def entry(url: str, files: dict[str, str | None], member: str | None = None) -> dict:
    spec = {"format": "alpaca-jsonl", "split": "train", "role": "train", "upstream": url,
            "url": url, "files": files}
    if member:
        spec["member"] = member
    return spec


def run_fetch(params: Path, corpus: str, out: Path, env: dict | None = None):
    return CliRunner().invoke(fetch, ["--corpus", corpus, "--params", str(params),
                                      "--out", str(out)], env=env or {MIRROR_ENV: None})


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp")]


A = b'{"instruction": "a", "input": "", "output": "b"}\n'
B = b'{"instruction": "c", "input": "d", "output": "e"}\n'


def test_download_plain_files_verified(served, tmp_path):
    root, base = served
    (root / "a.jsonl").write_bytes(A)
    (root / "b.jsonl").write_bytes(B)
    params = write_params(tmp_path, {"c": entry(f"{base}/{{name}}", {
        "c/a.jsonl": sha(A), "c/sub/b.jsonl": sha(B)})})
    out = tmp_path / "raw" / "c"
    result = run_fetch(params, "c", out)
    assert result.exit_code == 0, result.output
    assert (out / "c/a.jsonl").read_bytes() == A
    assert (out / "c/sub/b.jsonl").read_bytes() == B
    assert f"{sha(B)}  c/sub/b.jsonl" in (out / "SHA256SUMS").read_text()
    assert not (out / ".downloads").exists()


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar.bz2"])
def test_download_archive_members(served, tmp_path, kind):
    root, base = served
    archive = root / f"bundle.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("top/a.jsonl", A)
            zf.writestr("top/b.jsonl", B)
    else:
        with tarfile.open(archive, "w:" + kind.split(".")[1]) as tf:
            for name, data in (("top/a.jsonl", A), ("top/b.jsonl", B)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    params = write_params(tmp_path, {"c": entry(f"{base}/bundle.{kind}", {
        "c/a.jsonl": sha(A), "c/b.jsonl": sha(B)}, member="top/{name}")})
    out = tmp_path / "raw" / "c"
    result = run_fetch(params, "c", out)
    assert result.exit_code == 0, result.output
    assert (out / "c/b.jsonl").read_bytes() == B


def test_download_corrupted_byte_fails_with_sha256_and_no_output(served, tmp_path):
    root, base = served
    (root / "a.jsonl").write_bytes(A)
    corrupted = bytearray(B)
    corrupted[5] ^= 0x01
    (root / "b.jsonl").write_bytes(bytes(corrupted))
    params = write_params(tmp_path, {"c": entry(f"{base}/{{name}}", {
        "c/a.jsonl": sha(A), "c/b.jsonl": sha(B)})})
    out = tmp_path / "raw" / "c"
    result = run_fetch(params, "c", out)
    assert result.exit_code == 2
    assert "sha256 mismatch for c/b.jsonl" in result.output
    assert sha(B) in result.output and sha(bytes(corrupted)) in result.output
    assert not out.exists() and not leftovers(out)


def test_missing_archive_member_and_http_404(served, tmp_path):
    root, base = served
    with zipfile.ZipFile(root / "bundle.zip", "w") as zf:
        zf.writestr("top/a.jsonl", A)
    params = write_params(tmp_path, {
        "m": entry(f"{base}/bundle.zip", {"m/zzz.jsonl": sha(A)}, member="top/{name}"),
        "n": entry(f"{base}/{{name}}", {"n/absent.jsonl": sha(A)})})
    result = run_fetch(params, "m", tmp_path / "raw" / "m")
    assert result.exit_code == 2 and "member 'top/zzz.jsonl' not found" in result.output
    result = run_fetch(params, "n", tmp_path / "raw" / "n")
    assert result.exit_code == 2 and "404" in result.output and "absent.jsonl" in result.output
    assert not (tmp_path / "raw" / "m").exists() and not (tmp_path / "raw" / "n").exists()


def test_unpinned_sha256_is_reported_not_fatal(served, tmp_path):
    root, base = served
    (root / "a.jsonl").write_bytes(A)
    params = write_params(tmp_path, {"c": entry(f"{base}/{{name}}", {"c/a.jsonl": None})})
    result = run_fetch(params, "c", tmp_path / "raw" / "c")
    assert result.exit_code == 0, result.output
    assert "no sha256 pinned" in result.output and sha(A) in result.output


def test_mirror_copy_missing_and_corrupted(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "c").mkdir(parents=True)
    (mirror / "c/a.jsonl").write_bytes(A)
    params = write_params(tmp_path, {"c": entry("https://example.invalid/{name}", {
        "c/a.jsonl": sha(A)}), "d": entry("https://example.invalid/{name}", {
            "c/a.jsonl": sha(A), "c/gone.jsonl": sha(B)})})
    out = tmp_path / "raw" / "c"
    assert run_fetch(params, "c", out, {MIRROR_ENV: str(mirror)}).exit_code == 0
    assert (out / "c/a.jsonl").read_bytes() == A
    result = run_fetch(params, "d", tmp_path / "raw" / "d", {MIRROR_ENV: str(mirror)})
    assert result.exit_code == 2 and "c/gone.jsonl: missing from the mirror" in result.output
    (mirror / "c/a.jsonl").write_bytes(A.replace(b"a", b"x", 1))
    result = run_fetch(params, "c", tmp_path / "raw" / "c2", {MIRROR_ENV: str(mirror)})
    assert result.exit_code == 2 and "sha256 mismatch for c/a.jsonl" in result.output
    assert not (tmp_path / "raw" / "c2").exists() and not leftovers(tmp_path / "raw" / "c2")


def test_optional_corpus_must_be_moved_into_corpora(tmp_path):
    params = write_params(tmp_path, {}, {"wnc": entry("http://x.invalid/{name}", {"w/a": None})})
    result = run_fetch(params, "wnc", tmp_path / "raw" / "wnc")
    assert result.exit_code == 2 and "optional_corpora" in result.output


def test_bad_sha256_in_params_is_rejected(tmp_path):
    params = write_params(tmp_path, {"c": entry("http://x.invalid/{name}", {"c/a": "abc"})})
    result = run_fetch(params, "c", tmp_path / "raw" / "c")
    assert result.exit_code == 2 and "corpora.c.files.c/a" in result.output


def test_fetch_real_corpus_from_mirror(mirror, tmp_path):
    out = tmp_path / "raw" / "jfleg-test"
    result = run_fetch(REPO_ROOT / "corpora.yaml", "jfleg-test", out, {MIRROR_ENV: str(mirror)})
    assert result.exit_code == 0, result.output
    assert len((out / "SHA256SUMS").read_text().splitlines()) == 5


def test_normalize_refuses_raw_files_changed_after_fetch(tmp_path):
    from stages.normalize import normalize

    mirror = tmp_path / "mirror"
    (mirror / "c").mkdir(parents=True)
    (mirror / "c/a.jsonl").write_bytes(A)
    params = write_params(tmp_path, {"c": entry("https://example.invalid/{name}",
                                                {"c/a.jsonl": sha(A)})})
    raw = tmp_path / "raw" / "c"
    assert run_fetch(params, "c", raw, env={MIRROR_ENV: str(mirror)}).exit_code == 0

    def run_normalize(out: str):
        return CliRunner().invoke(normalize, ["--corpus", "c", "--raw", str(raw), "--params",
                                              str(params), "--out", str(tmp_path / out)])

    result = run_normalize("first")
    assert result.exit_code == 0, result.output
    (raw / "c/a.jsonl").write_bytes(A + B)  # edited by hand after fetch
    result = run_normalize("second")
    assert result.exit_code != 0
    assert "c/a.jsonl: sha256 differs from" in result.output
    assert "dvc repro fetch@c" in result.output
    assert not (tmp_path / "second").exists()
    (raw / "c/a.jsonl").unlink()
    assert "listed in" in run_normalize("second").output
