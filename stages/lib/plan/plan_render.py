"""The text form of `writing-alpaca plan`, rendered from the same dict as its --json,
so the two cannot disagree."""
from __future__ import annotations

from typing import Any

from stages.lib.plan.memory_estimate import GIB

MEMORY_PARTS = ("weights", "gradients", "optimizer", "activations", "logits", "overhead")


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [headers, *rows]]


def count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def gib(value: int) -> str:
    return f"{value / GIB:.2f}"


def machine_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    if not m["gpus"]:
        what = "CPU only (--gpus 0)"
    else:
        memory = f", {m['gpu_memory_gib']:g} GiB each" if m["gpu_memory_gib"] else ""
        what = f"{m['gpus']} GPU(s){memory}, compute capability {m['gpu_capability']:.1f}"
    return f"plan: profile {result['profile']} ({result['params']}) on {what}"


def mixture_lines(mixtures: list[dict[str, Any]]) -> list[str]:
    title = ("Mixtures (built: data/mixtures/<name>/stats.json; estimated: from the "
             "declaration and corpus counts)")
    lines = ["", title]
    for m in mixtures:
        tokens = f", {m['tokens']:,} {m['token_unit']}" if m["tokens"] else ""
        lines.append(f"  {m['name']}: {count(m['rows'])} rows, {m['status']} "
                     f"({m['source']}){tokens}")
        rows = [["  " + c["key"], f"{c['corpus']}/{c['split']}", count(c["rows"]),
                 f"of {count(c['available'])} after filters" if c["available"] is not None
                 else "", c["source"]] for c in m["components"]]
        if rows:
            lines += table(["  component", "corpus/split", "rows", "available", "source"],
                           rows)
    return lines


def epochs_cell(run: dict[str, Any]) -> str:
    if run["epochs"] is None:
        return "?"
    prefix = {"blocks": "~", "at least": ">="}.get(run["epochs_kind"], "")
    return f"{prefix}{run['epochs']:.2f}"


def run_row(r: dict[str, Any]) -> list[str]:
    step = f"{r['rows_per_step']} = {r['per_device_batch']} x {r['world_size']} x " \
           f"{r['accumulation']}"
    unit = " blocks" if r["epochs_kind"] == "blocks" else " rows"
    processes = f"{r['world_size']} process{'es' if r['world_size'] > 1 else ''}"
    return [r["name"] + ("" if r["origin"] == "build" else f" ({r['origin']})"), r["mixture"],
            r["method"],
            str(r["steps"]), step, epochs_cell(r), count(r["units_per_epoch"]) + unit,
            r["device"], r["dtype"], f"{r['launcher']} ({processes})"]


def run_lines(runs: list[dict[str, Any]]) -> list[str]:
    rows = [run_row(r) for r in runs]
    lines = ["", "Training runs (rows per step = per-device batch x processes x accumulation)"]
    lines += table(["run", "mixture", "method", "steps", "rows/step", "epochs", "epoch of",
                    "device", "dtype", "launcher"], rows)
    if any(r["packing"] for r in runs):
        lines.append("  packing: a row is a packed block of max_length tokens; ~ = blocks "
                     "from built token counts, >= = a lower bound until the mixture is built")
    return lines


def memory_lines(result: dict[str, Any]) -> list[str]:
    bases = result["bases"]
    missing = [name for name, shape in bases.items() if shape is None]
    notes = [f"Memory: no config for base {name} (models/{name}/config.json is not built; "
             f"pass --base-config {name}=PATH)" for name in missing]
    rows = [[r["name"], r["base"], f"{r['memory']['trainable']:,}",
             *(gib(r["memory"][part]) for part in MEMORY_PARTS), gib(r["memory"]["total"]),
             {True: "yes", False: "NO", None: "-"}[r["memory"]["fits"]]]
            for r in result["runs"] if r["memory"] is not None]
    if not rows:
        return ["", *notes]
    described = "; ".join(f"{name} {shape['config']}: {shape['model_type']}, "
                          f"{shape['params']:,} parameters"
                          for name, shape in bases.items() if shape is not None)
    title = (f"Memory per device, GiB (estimate; {described}; see "
             f"stages/lib/plan/memory_estimate.py)")
    return ["", title, *notes] + table(["run", "base", "trainable", *MEMORY_PARTS, "total",
                                        "fits"], rows)


def system_lines(systems: list[dict[str, Any]]) -> list[str]:
    if not systems:
        return []
    rows = [[s["name"], s["adapter"], s["base"] or "-", f"{s['items']:,}", s["device"],
             s["dtype"], s["engine"]] for s in systems]
    per = ", ".join(f"{d} {n:,}" for d, n in systems[0]["items_per_dataset"].items())
    return (["", "Systems (predict)"]
            + table(["system", "adapter", "base", "items", "device", "dtype", "engine"], rows)
            + [f"  items per dataset: {per}"])


def problem_lines(problems: list[dict[str, Any]]) -> list[str]:
    lines = [""] if problems else []
    for p in problems:
        subjects = f" [{', '.join(p['subjects'])}]" if p["subjects"] else ""
        lines.append(f"{p['level']}: {p['message']}{subjects}")
    return lines


def render(result: dict[str, Any]) -> str:
    return "\n".join([machine_line(result), *mixture_lines(result["mixtures"]),
                      *run_lines(result["runs"]), *memory_lines(result),
                      *system_lines(result["systems"]), *problem_lines(result["problems"])])
