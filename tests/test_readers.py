"""Raw-format readers (stages/lib/data/corpora.py): every corpus on the real mirror, and small
malformed fixtures written here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.lib.core.io import InputError
from stages.lib.core.params import load_params
from stages.lib.data.corpora import CorpusSpec, corpus_spec, read_corpus, split_lines

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS = load_params(REPO_ROOT / "corpora.yaml")


def manifest(mirror: Path) -> dict[str, dict]:
    return {e["id"]: e for e in json.loads((mirror / "MANIFEST.json").read_text())}


def read_real(mirror: Path, key: str) -> dict[str, list[dict]]:
    return read_corpus(corpus_spec(PARAMS, key), key, mirror)


@pytest.mark.parametrize("key", sorted(PARAMS["corpora"]))
def test_every_corpus_reads_with_the_manifest_item_count(mirror, key):
    by_split = read_real(mirror, key)
    entry = manifest(mirror)[key]
    total = sum(len(records) for records in by_split.values())
    if key == "wnc-derived-sample":
        # 2,000 chat rows, of which only the rewritten ones are pairs (mirror README).
        assert {s: len(r) for s, r in by_split.items()} == {"test": 404, "train": 596}
    else:
        assert total == entry["n_items"]
    for records in by_split.values():
        assert len({r["id"] for r in records}) == len(records)
        for r in records:
            assert isinstance(r["src"], str) and r["refs"] and all(isinstance(x, str)
                                                                   for x in r["refs"])


def test_conll_one_reference_per_annotator_edits_right_to_left(mirror):
    records = read_real(mirror, "conll2014-test")["test"]
    assert all(r["meta"]["annotators"] == [0, 1] and len(r["refs"]) == 2 for r in records)
    # Annotator 1 inserts "who" then "have" at the same offset: order must be kept.
    item = next(r for r in records if r["src"].startswith("At the same time , we are prepared"))
    assert item["refs"][0].endswith("members who have got this disease .")
    assert item["refs"][1].endswith("members who have got this disease .")
    assert item["meta"]["m2"].startswith("S At the same time") and "|||Ssub|||" in item["meta"]["m2"]
    # Blocks without A lines: both references are the source.
    untouched = [r for r in records if "\nA " not in r["meta"]["m2"]]
    assert len(untouched) == 136 and all(r["refs"] == [r["src"]] * 2 for r in untouched)


def test_bea_noop_blocks_keep_source_and_wi_train_is_annotator_zero(mirror):
    bea = read_real(mirror, "bea2019-dev")["dev"]
    noop = [r for r in bea if "|||noop|||" in r["meta"]["m2"]]
    assert len(noop) == 1528 and all(r["refs"] == [r["src"]] for r in noop)
    train = read_real(mirror, "wi-locness-train")["train"]
    assert all(r["meta"]["annotators"] == [0] for r in train)
    assert sum(r["refs"][0] != r["src"] for r in train) > 10000


def test_alpaca_parts_in_numeric_order_and_english_fields(mirror):
    records = read_real(mirror, "alpaca-52k-bilingual")["train"]
    assert records[0]["meta"]["instruction"] == "Give three tips for staying healthy."
    part10 = json.loads((mirror / "alpaca-52k-bilingual/alpaca_chinese_part_10.json").read_text())
    assert records[10000]["meta"]["instruction"] == part10[0]["en_instruction"]
    assert records[10000]["refs"] == [part10[0]["en_output"]]
    sample = read_real(mirror, "alpaca-5k-sample")["train"]
    assert sum(r["src"] == "No input" for r in sample) > 0  # original placeholders kept


def test_iterater_stsb_lines_real_details(mirror):
    itr = read_real(mirror, "iterater-human-sent-test")["test"]
    assert sum(r["meta"]["intent"] == "clarity" for r in itr) == 186
    sts = read_real(mirror, "stsb-en-test")["test"]
    assert sum(r["meta"]["score"] == 5.0 for r in sts) == 97
    asset = read_real(mirror, "asset-test")["test"]  # no trailing newline: last item kept
    last = split_lines((mirror / "asset/asset.test.orig").read_text(encoding="utf-8"))[-1]
    assert asset[-1]["src"] == last and len(asset[-1]["refs"]) == 10
    easse = read_real(mirror, "turkcorpus-easse-test")["test"]
    assert all(r["src"] == r["src"].strip() for r in easse)
    wnc = read_real(mirror, "wnc-derived-sample")["test"]
    assert not any(r["refs"][0].startswith("This is subjective") for r in wnc)


# --- small fixtures ------------------------------------------------------------------

def spec(fmt: str, files: list[str], **extra) -> CorpusSpec:
    return CorpusSpec(format=fmt, split="test", role="eval", upstream="u", url="u/{name}",
                      files=dict.fromkeys(files), **extra)


def write(root: Path, name: str, text: str | bytes) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def test_m2_fixture_and_bad_offsets(tmp_path):
    write(tmp_path, "a.m2", "S He go home .\nA 1 2|||R:VERB|||goes|||REQUIRED|||-NONE-|||0\n"
          "A 3 3|||M:ADV|||now|||REQUIRED|||-NONE-|||0\nA 0 1|||UNK|||He|||REQUIRED|||-NONE-|||1\n"
          "\nS Fine .\nA -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0\n")
    records = read_corpus(spec("m2", ["a.m2"]), "x", tmp_path)["test"]
    assert records[0]["refs"] == ["He goes home now .", "He go home ."]
    assert records[1]["refs"] == ["Fine .", "Fine ."]
    assert records[0]["meta"]["m2"].count("\n") == 3
    write(tmp_path, "b.m2", "S One two .\n\nS Three .\nA 2 5|||R:X|||y|||REQUIRED|||-NONE-|||0\n")
    with pytest.raises(InputError, match=r"b\.m2:4:"):
        read_corpus(spec("m2", ["b.m2"]), "x", tmp_path)


def test_lines_fixture_shorter_reference_and_strip(tmp_path):
    write(tmp_path, "s.txt", "a b\nc d\ne f")  # no trailing newline
    write(tmp_path, "r.txt", " A B \nC D\nE F\n")
    records = read_corpus(spec("lines", ["s.txt", "r.txt"], source="s.txt"), "x", tmp_path)
    assert [r["src"] for r in records["test"]] == ["a b", "c d", "e f"]
    assert records["test"][0]["refs"] == [" A B "]
    stripped = read_corpus(spec("lines", ["s.txt", "r.txt"], source="s.txt", strip=True),
                           "x", tmp_path)
    assert stripped["test"][0]["refs"] == ["A B"]
    write(tmp_path, "short.txt", "A B\nC D\n")
    with pytest.raises(InputError, match=r"short\.txt:3: has 2 lines"):
        read_corpus(spec("lines", ["s.txt", "short.txt"], source="s.txt"), "x", tmp_path)


def test_iterater_and_jsonl_bad_json(tmp_path):
    good = {"before_sent": "a", "after_sent": "b", "labels": "fluency", "doc_id": "1",
            "revision_depth": 1}
    write(tmp_path, "t.json", json.dumps(good) + "\n{not json\n")
    with pytest.raises(InputError, match=r"t\.json:2: invalid JSON"):
        read_corpus(spec("iterater-jsonl", ["t.json"]), "x", tmp_path)
    write(tmp_path, "u.json", json.dumps(good) + "\n" + json.dumps({"before_sent": "a"}) + "\n")
    with pytest.raises(InputError, match=r"u\.json:2: missing key"):
        read_corpus(spec("iterater-jsonl", ["u.json"]), "x", tmp_path)


def test_stsb_csv_crlf_quoted_and_wrong_columns(tmp_path):
    write(tmp_path, "s.csv", b'A cat.,"A cat, sitting.",5.0\r\nX.,Y.,1.2\r\n')
    records = read_corpus(spec("stsb-csv", ["s.csv"]), "x", tmp_path)["test"]
    assert records[0]["refs"] == ["A cat, sitting."] and records[0]["meta"]["score"] == 5.0
    write(tmp_path, "b.csv", b"A.,B.,5.0\r\nonly,two\r\n")
    with pytest.raises(InputError, match=r"b\.csv:2: expected 3 CSV columns"):
        read_corpus(spec("stsb-csv", ["b.csv"]), "x", tmp_path)


def test_alpaca_stanford_and_bilingual_keys(tmp_path):
    write(tmp_path, "p_2.json", json.dumps([{"instruction": "i2", "input": "", "output": "o2"}]))
    write(tmp_path, "p_10.json", json.dumps([{"en_instruction": "i10", "en_input": "x",
                                              "en_output": "o10", "instruction": "zh",
                                              "input": "zh", "output": "zh"}]))
    records = read_corpus(spec("alpaca-json", ["p_10.json", "p_2.json"]), "x", tmp_path)["test"]
    assert [r["meta"]["instruction"] for r in records] == ["i2", "i10"]  # numeric order
    assert records[1]["src"] == "x" and records[1]["refs"] == ["o10"]
    write(tmp_path, "bad.json", '[\n  {"instruction": "a",\n')
    with pytest.raises(InputError, match=r"bad\.json:3: invalid JSON"):
        read_corpus(spec("alpaca-json", ["bad.json"]), "x", tmp_path)
    write(tmp_path, "k.jsonl", json.dumps({"instruction": "a", "output": "b"}) + "\n")
    with pytest.raises(InputError, match=r"k\.jsonl:1: missing key 'input'"):
        read_corpus(spec("alpaca-jsonl", ["k.jsonl"]), "x", tmp_path)


def test_wnc_tsv_and_chat_standin(tmp_path):
    row = "42\ta b\ta\tA b.\tA.\tDET NOUN\tx y"
    write(tmp_path, "biased.word.test", row + "\n")
    write(tmp_path, "biased.word.train", row + "\n" + row + "\n")
    wnc = spec("wnc-tsv", ["biased.word.test", "biased.word.train"],
               splits={"biased.word.train": "train"})
    by_split = read_corpus(wnc, "wnc", tmp_path)
    assert {s: len(r) for s, r in by_split.items()} == {"test": 1, "train": 2}
    assert by_split["test"][0]["src"] == "A b." and by_split["test"][0]["refs"] == ["A."]
    write(tmp_path, "bad.word", row + "\n" + "too\tfew\n")
    with pytest.raises(InputError, match=r"bad\.word:2: expected 7 tab-separated"):
        read_corpus(spec("wnc-tsv", ["bad.word"]), "wnc", tmp_path)

    def chat(user: str, answer: str) -> str:
        return json.dumps({"messages": [{"role": "system", "content": "s"},
                                        {"role": "user", "content": user},
                                        {"role": "assistant", "content": answer}]})
    write(tmp_path, "c.jsonl", "\n".join([
        chat("he is great", "This is subjective bias text. The neutralized text is: he is"),
        chat("it rained", "This text does not contain detectable subjective bias.")]) + "\n")
    records = read_corpus(spec("wnc-chat-jsonl", ["c.jsonl"]), "w", tmp_path)["test"]
    assert [(r["src"], r["refs"]) for r in records] == [("he is great", ["he is"])]


def test_unknown_format_and_file_names_are_params_errors():
    with pytest.raises(InputError, match="format 'nope' is unknown"):
        corpus_spec({"corpora": {"c": {"format": "nope", "split": "t", "role": "r",
                                       "upstream": "u", "url": "u", "files": {"a": None}}}}, "c")
    with pytest.raises(InputError, match="'b' is not one of its files"):
        corpus_spec({"corpora": {"c": {"format": "lines", "split": "t", "role": "r",
                                       "upstream": "u", "url": "u", "files": {"a": None},
                                       "source": "b"}}}, "c")


def test_every_declared_corpus_has_a_card():
    import yaml
    for key in [*PARAMS["corpora"], *PARAMS.get("optional_corpora", {})]:
        card = yaml.safe_load((REPO_ROOT / "datacards" / "corpora" / f"{key}.yaml").read_text())
        assert {"name", "licence", "citation", "upstream", "description"} <= set(card), key
        assert card["citation"].lstrip().startswith("@"), key
