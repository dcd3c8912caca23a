"""Tabular corpora of one's own (formats jsonl, csv, tsv, parquet with a `columns`
mapping, stages/lib/data/corpora.py read_table): one reader for every format, and one
clear line for each bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stages.lib.core.io import InputError
from stages.lib.data.corpora import corpus_spec, read_corpus

ROWS = [{"id": "a1", "before": "She go home .", "after": "She goes home .", "task": "gec"},
        {"id": "a2", "before": "Their is a cat .", "after": "There is a cat .", "task": "gec"}]


def write(folder: Path, fmt: str, rows: list[dict]) -> str:
    name = f"mine/pairs.{fmt}"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        import csv

        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]),
                                    delimiter="\t" if fmt == "tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return name


def spec(name: str, fmt: str, **extra) -> dict:
    entry = {"format": fmt, "split": "train", "role": "train", "upstream": "mine",
             "url": "file:///nowhere/{path}", "files": {name: None},
             "columns": {"src": "before", "ref": "after", "id": "id", "meta": ["task"]}}
    entry.update(extra)
    return {"corpora": {"mine": entry}}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_every_tabular_format_reads_the_same_records(tmp_path: Path, fmt: str) -> None:
    name = write(tmp_path, fmt, ROWS)
    records = read_corpus(corpus_spec(spec(name, fmt), "mine"), "mine", tmp_path)["train"]
    assert [(r["id"], r["src"], r["refs"], r["meta"]) for r in records] == [
        ("mine-train-00000", "She go home .", ["She goes home ."],
         {"task": "gec", "source_id": "a1"}),
        ("mine-train-00001", "Their is a cat .", ["There is a cat ."],
         {"task": "gec", "source_id": "a2"})]


def test_references_from_a_list_column_or_several_columns(tmp_path: Path) -> None:
    rows = [{"src": "a b", "refs": ["A b", "a B"], "r1": "A b", "r2": "a B"}]
    name = write(tmp_path, "jsonl", rows)
    for columns in ({"src": "src", "refs": "refs"}, {"src": "src", "refs": ["r1", "r2"]}):
        params = spec(name, "jsonl", columns=columns)
        records = read_corpus(corpus_spec(params, "mine"), "mine", tmp_path)["train"]
        assert records[0]["refs"] == ["A b", "a B"]


def test_csv_cells_stay_the_text_they_hold(tmp_path: Path) -> None:
    name = write(tmp_path, "csv", [{"id": "007", "before": "1,5", "after": "1.5", "task": ""}])
    record = read_corpus(corpus_spec(spec(name, "csv"), "mine"), "mine", tmp_path)["train"][0]
    assert record["src"] == "1,5" and record["meta"] == {"task": "", "source_id": "007"}


def test_on_missing_skip_leaves_rows_out_and_counts_them(tmp_path: Path) -> None:
    from stages.normalize import normalize

    rows = [*ROWS, {"id": "a3", "before": "x", "after": "", "task": "gec"}]
    name = write(tmp_path, "jsonl", rows)
    params = tmp_path / "corpora.yaml"
    params.write_text(json.dumps(spec(name, "jsonl", on_missing="skip")), encoding="utf-8")
    result = CliRunner().invoke(normalize, ["--corpus", "mine", "--raw", str(tmp_path),
                                            "--params", str(params), "--out",
                                            str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "train 2 records (1 rows without a mapped value skipped)" in result.output


@pytest.mark.parametrize(("rows", "extra", "message"), [
    (ROWS, {"columns": {"src": "source", "ref": "after"}},
     r"pairs.jsonl: no column 'source' \(columns: id, before, after, task\)"),
    ([*ROWS, {"id": "a1", "before": "b", "after": "c", "task": "gec"}], {},
     r"pairs.jsonl: row 3: id 'a1' again \(first at .*row 1\)"),
    ([{"id": "a1", "before": " ", "after": "c", "task": "gec"}], {},
     r"pairs.jsonl: row 1: no value for 'before' \(set on_missing: skip"),
    (ROWS, {"columns": {"src": "before"}}, r"give exactly one of ref"),
    (ROWS, {"on_missing": "drop"}, r"on_missing must be error or skip"),
    (ROWS, {"format": "lines", "source": None}, r"columns is for the tabular formats"),
])
def test_bad_input_is_one_line(tmp_path: Path, rows: list, extra: dict, message: str) -> None:
    name = write(tmp_path, "jsonl", rows)
    with pytest.raises(InputError, match=message):
        read_corpus(corpus_spec(spec(name, "jsonl", **extra), "mine"), "mine", tmp_path)


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"no rows|not a readable"),
    (b"\xff\xfe{}\n", r"not a readable jsonl file|not UTF-8"),
    (b'{"before": "a", "after": "b"\n', r"not a readable jsonl file"),
])
def test_unreadable_files_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/pairs.jsonl").write_bytes(content)
    params = spec("mine/pairs.jsonl", "jsonl", columns={"src": "before", "ref": "after"})
    with pytest.raises(InputError, match=message):
        read_corpus(corpus_spec(params, "mine"), "mine", tmp_path)


def test_a_non_utf8_csv_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/pairs.csv").write_bytes("before,after\ncaf\xe9,x\n".encode("latin-1"))
    params = spec("mine/pairs.csv", "csv", columns={"src": "before", "ref": "after"})
    with pytest.raises(InputError, match=r"pairs.csv: not UTF-8"):
        read_corpus(corpus_spec(params, "mine"), "mine", tmp_path)


def test_local_files_enter_through_fetch_and_normalize(tmp_path: Path) -> None:
    """The documented entry: a file:// url, the file's sha256, then fetch and normalize."""
    import hashlib

    from stages.fetch import MIRROR_ENV, fetch
    from stages.normalize import normalize

    name = write(tmp_path / "home", "jsonl", ROWS)
    params = spec(name, "jsonl")
    entry = params["corpora"]["mine"]
    entry["url"] = f"file://{tmp_path / 'home'}/{{path}}"
    entry["files"] = {name: hashlib.sha256((tmp_path / "home" / name).read_bytes()).hexdigest()}
    corpora = tmp_path / "corpora.yaml"
    corpora.write_text(json.dumps(params), encoding="utf-8")
    runner = CliRunner()
    fetched = runner.invoke(fetch, ["--corpus", "mine", "--params", str(corpora), "--out",
                                    str(tmp_path / "raw")], env={MIRROR_ENV: None})
    assert fetched.exit_code == 0, fetched.output
    done = runner.invoke(normalize, ["--corpus", "mine", "--raw", str(tmp_path / "raw"),
                                     "--params", str(corpora), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").count("\n") == 2


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(cache: Path, repo: str, files: dict[str, bytes]) -> None:
    """A dataset repo as huggingface_hub caches it at one commit (what a download leaves)."""
    snapshot = cache / f"datasets--{repo.replace('/', '--')}" / "snapshots" / COMMIT
    for name, data in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_bytes(data)


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub's real snapshot_download, offline, over a local cache."""
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def hub_params(tmp_path: Path, hub: str, sha: str | None) -> Path:
    entry = {"format": "jsonl", "split": "train", "role": "train",
             "upstream": "https://huggingface.co/datasets/someone/edits", "hub": hub,
             "files": {"data/train.jsonl": sha}, "columns": {"src": "before", "ref": "after"}}
    path = tmp_path / "corpora.yaml"
    path.write_text(json.dumps({"corpora": {"edits": entry}}), encoding="utf-8")
    return path


def test_a_hub_dataset_at_a_pinned_commit(tmp_path: Path, hub_cache: Path) -> None:
    import hashlib

    from stages.fetch import MIRROR_ENV, fetch
    from stages.normalize import normalize

    data = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    fake_hub_cache(hub_cache, "someone/edits", {"data/train.jsonl": data,
                                                "data/other.jsonl": b"{}\n"})
    params = hub_params(tmp_path, f"someone/edits@{COMMIT}", hashlib.sha256(data).hexdigest())
    runner = CliRunner()
    raw = tmp_path / "raw"
    fetched = runner.invoke(fetch, ["--corpus", "edits", "--params", str(params), "--out",
                                    str(raw)], env={MIRROR_ENV: "/a/mirror/it/must/not/use"})
    assert fetched.exit_code == 0, fetched.output
    assert sorted(p.name for p in (raw / "data").iterdir()) == ["train.jsonl"]
    done = runner.invoke(normalize, ["--corpus", "edits", "--raw", str(raw), "--params",
                                     str(params), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    # a changed file at the pinned commit is refused like any corpus's
    bad = hub_params(tmp_path, f"someone/edits@{COMMIT}", "0" * 64)
    result = runner.invoke(fetch, ["--corpus", "edits", "--params", str(bad), "--out",
                                   str(tmp_path / "raw2")])
    assert result.exit_code == 2 and "sha256 mismatch for data/train.jsonl" in result.output
    assert "hf://datasets/someone/edits@" in result.output


def test_hub_sources_refused_in_one_line(tmp_path: Path, hub_cache: Path) -> None:
    from stages.fetch import fetch

    runner = CliRunner()
    for hub, message in (("someone/edits@main", "revision 'main' is not a full commit hash"),
                         ("someone/edits", "expected <owner>/<name>@<commit>"),
                         (f"someone/absent@{COMMIT}", "could not get the files")):
        result = runner.invoke(fetch, ["--corpus", "edits", "--params",
                                       str(hub_params(tmp_path, hub, None)), "--out",
                                       str(tmp_path / "raw")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "raw").exists()


def test_a_folder_of_ones_own_is_read_whatever_the_mirror(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from stages.fetch import MIRROR_ENV, fetch

    name = write(tmp_path / "my-data", "jsonl", ROWS)
    sha = hashlib.sha256((tmp_path / "my-data" / name).read_bytes()).hexdigest()
    entry = {**spec(name, "jsonl")["corpora"]["mine"], "files": {name: sha}}
    del entry["url"]
    params = tmp_path / "corpora.yaml"
    monkeypatch.chdir(tmp_path)  # `local` is relative to the checkout, where stages run
    runner = CliRunner()
    params.write_text(json.dumps({"corpora": {"mine": {**entry, "local": "my-data"}}}))
    result = runner.invoke(fetch, ["--corpus", "mine", "--params", str(params), "--out", "raw"],
                           env={MIRROR_ENV: str(tmp_path / "a-mirror-without-it")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "raw" / name).read_bytes() == (tmp_path / "my-data" / name).read_bytes()
    # an edited row is refused until its sha256 is updated, naming the file it came from
    (tmp_path / "my-data" / name).write_text(json.dumps(ROWS[0]) + "\n", encoding="utf-8")
    result = runner.invoke(fetch, ["--corpus", "mine", "--params", str(params), "--out", "raw2"])
    assert result.exit_code == 2 and "sha256 mismatch for mine/pairs.jsonl" in result.output
    assert (tmp_path / "my-data").as_uri() in result.output and not Path("raw2").exists()
    for extra, message in (({"url": "file:///x/{path}"}, ("give one of url, hub and local, "
                                                         "not url and local")),
                           ({"local": None}, ("missing key url (or hub, for a Hub dataset, or "
                                             "local, for a folder of your own)"))):
        params.write_text(json.dumps({"corpora": {"mine": {**entry, "local": "my-data",
                                                            **extra}}}))
        result = runner.invoke(fetch, ["--corpus", "mine", "--params", str(params), "--out",
                                       "raw3"])
        assert result.exit_code == 2 and message in result.output, result.output
