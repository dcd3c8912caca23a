"""fetch@<corpus>: download (or copy from a local mirror) one corpus's raw files, verified.

A corpus declared with `hub: <owner>/<name>@<commit>` comes from that Hub dataset instead,
through huggingface_hub (its cache; HF_HUB_OFFLINE reads the cache alone); one declared
with `local: <folder>` is copied from that folder of your own.

Each file of `corpora.<corpus>.files` is taken from the corpus's `url` template — or, for
archives, the `member` of the archive at `url` (zip, tar, tar.gz, tar.bz2), downloaded
once per archive — or, when the environment
variable WRITING_ALPACA_MIRROR names a folder, copied from <mirror>/<path>. Every file's
sha256 must match params; a mismatch or a missing file fails the stage and leaves no
output (the folder is assembled in a temporary sibling and renamed at the end).
"""
from __future__ import annotations

import glob
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import click
from tqdm import tqdm

from stages.lib.core.io import InputError, atomic_path, file_sha256
from stages.lib.core.params import load_params
from stages.lib.data.corpora import FileSpec, check_hub_source, corpus_spec, file_specs

MIRROR_ENV = "WRITING_ALPACA_MIRROR"
CHUNK = 1 << 20


@click.command()
@click.option("--corpus", required=True, help="Key of corpora.yaml corpora.<corpus>.")
@click.option("--params", "params_path", default="corpora.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder (data/raw/<corpus>); files keep their mirror-relative paths.")
def fetch(corpus: str, params_path: str, out: str) -> None:
    """Fetch one corpus's raw files from upstream (or $WRITING_ALPACA_MIRROR), sha256-verified."""
    spec = corpus_spec(load_params(params_path), corpus)
    files = file_specs(spec)
    mirror = os.environ.get(MIRROR_ENV)
    owns = tuple(glob.escape(f.path) for f in files) + ("SHA256SUMS",)
    with atomic_path(out, is_dir=True, owns=owns) as tmp:
        if spec.hub:
            copy_from_hub(spec.hub, files, tmp)
            mirror = None  # the sha256 messages name the Hub, not a mirror
        elif spec.local:
            copy_files(files, Path(spec.local), tmp, f"{spec.local} (corpora.{corpus}.local)")
            mirror = None
        elif mirror:
            copy_from_mirror(files, Path(mirror), tmp)
        else:
            download_all(files, tmp)
        sums = verify(files, tmp, Path(mirror) if mirror else None)
        (tmp / "SHA256SUMS").write_text(sums, encoding="utf-8")
    click.echo(f"fetch {corpus}: {len(files)} file(s) verified -> {out}")


def copy_from_mirror(files: list[FileSpec], mirror: Path, dest: Path) -> None:
    copy_files(files, mirror, dest, f"the mirror {mirror} ({MIRROR_ENV})")


def copy_files(files: list[FileSpec], folder: Path, dest: Path, where: str) -> None:
    """Copy every file from <folder>/<path> to <dest>/<path>; a missing one is an error
    naming `where` it was looked for."""
    for f in tqdm(files, desc=f"copy from {where}", unit="file", leave=False):
        source = folder / f.path
        if not source.is_file():
            raise InputError(f"{f.path}: missing from {where}; expected sha256 {f.sha256}")
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def copy_from_hub(hub: str, files: list[FileSpec], dest: Path) -> None:
    """The files from a Hub dataset at a pinned commit, through huggingface_hub's
    snapshot_download (only these files; its cache; HF_HUB_OFFLINE reads the cache
    alone)."""
    from huggingface_hub import constants, snapshot_download

    repo, commit = check_hub_source(hub, "hub")
    try:
        # offline, said explicitly: huggingface_hub 1.x would list the repo's files first
        folder = Path(snapshot_download(repo, repo_type="dataset", revision=commit,
                                        allow_patterns=[f.path for f in files],
                                        local_files_only=constants.HF_HUB_OFFLINE))
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many kinds: offline, 404, auth
        raise InputError(f"{repo}@{commit[:12]}: could not get the files from the Hub or its "
                         f"local cache ({type(exc).__name__}); with internet, `hf download "
                         f"{repo} --repo-type dataset --revision {commit}` fills the cache"
                         ) from None
    copy_files(files, folder, dest, f"{repo}@{commit[:12]}")


def download(url: str, target: Path) -> None:
    """Stream `url` to `target` with a progress bar (plain HTTP(S), no Hub client)."""
    request = urllib.request.Request(url, headers={"User-Agent": "writing-alpaca-fetch"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                      leave=False) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"download failed: {url}: {exc}") from exc


def download_all(files: list[FileSpec], dest: Path) -> None:
    """Download every distinct URL once; extract archive members to their file paths."""
    staging = dest / ".downloads"
    staging.mkdir()
    fetched: dict[str, Path] = {}
    for f in files:
        if f.url not in fetched:
            fetched[f.url] = staging / f"{len(fetched)}-{f.url.rsplit('/', 1)[-1]}"
            download(f.url, fetched[f.url])
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.member is None:
            shutil.copyfile(fetched[f.url], target)
        else:
            extract_member(fetched[f.url], f, target)
    shutil.rmtree(staging)


def extract_member(archive: Path, f: FileSpec, target: Path) -> None:
    """Copy one member of a zip or tar archive (any compression tarfile knows) to target."""
    assert f.member is not None
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf, zf.open(f.member) as src, \
                    open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            return
        with tarfile.open(archive, "r:*") as tf:
            member = tf.extractfile(f.member)
            if member is None:  # a directory or link, not a file
                raise KeyError(f.member)
            with member, open(target, "wb") as out:
                shutil.copyfileobj(member, out)
    except KeyError:
        raise InputError(f"{f.path}: member {f.member!r} not found in the archive {f.url}") from None
    except tarfile.TarError as exc:
        raise InputError(f"{f.url}: not a zip or tar archive ({exc})") from exc


def verify(files: list[FileSpec], dest: Path, mirror: Path | None) -> str:
    """Check every sha256; returns SHA256SUMS text. Unpinned (null) hashes are reported."""
    lines = []
    for f in files:
        origin = mirror / f.path if mirror else (f"{f.url} :: {f.member}" if f.member else f.url)
        path = dest / f.path
        if not path.is_file():
            raise InputError(f"{f.path}: missing after fetch (expected sha256 {f.sha256})")
        actual = file_sha256(path)
        if f.sha256 is None:
            # Trust on first use: corpora we could never download ourselves (official
            # WNC, GPT-4 Alpaca) have no pinned hash; say which one to pin.
            click.echo(f"WARNING {f.path}: no sha256 pinned in corpora.yaml; downloaded file has "
                       f"sha256 {actual} — pin it to make later fetches verifiable", err=True)
        elif actual != f.sha256.lower():
            raise InputError(f"sha256 mismatch for {f.path} (from {origin}): "
                             f"expected {f.sha256}, actual {actual}")
        lines.append(f"{actual}  {f.path}\n")
    return "".join(lines)
