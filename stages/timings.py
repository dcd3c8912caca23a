"""`writing-alpaca timings`: the wall-clock report of the last run on this machine.

train and predict keep what they took in .cache/timings/ (stages/lib/core/timings.py),
outside everything DVC hashes; this command turns them into a markdown report (by
default reports/performance.md) naming the machine, so the figures the docs quote come
from a file a run wrote.
"""
from __future__ import annotations

from pathlib import Path

import click

from stages.lib.core.io import InputError, atomic_path
from stages.lib.core.tables import markdown_table
from stages.lib.core.timings import read_all


def render(entries: list[dict], made_by: str = "`writing-alpaca timings`") -> str:
    machines = sorted({f"{e.get('cpu', '?')}, {e.get('cores', '?')} cores" for e in entries})
    rows = []
    for e in entries:
        items = e.get("items")
        rate = f"{items / e['seconds']:.2f} items/s" if items and e["seconds"] else ""
        what = ", ".join(str(v) for v in (e.get("decoding"), e.get("engine"),
                                          f"{e['steps']} steps" if e.get("steps") else None)
                         if v)
        rows.append([f"{e['command']} -> {e['out']}", f"{e['seconds']:.1f}", rate, what,
                     e.get("finished", "")])
    table = markdown_table(["stage", "seconds", "speed", "settings", "finished"], rows,
                           "lrlll")
    total = sum(e["seconds"] for e in entries)
    return (f"# Run times\n\nWritten by {made_by} from the times train and "
            f"predict kept on the machine that ran them ({'; '.join(machines)}). predict's "
            f"figure is generation (model loading excluded); train's, its steps and the "
            f"save.\n\n{table}\n\nTotal of these stages: {total / 60:.1f} min.\n")


@click.command()
@click.option("--timings", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where train and predict kept them (default "
                                 ".cache/timings, or $WRITING_ALPACA_TIMINGS).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/performance.md"), show_default=True)
def timings(folder: Path | None, out: Path) -> None:
    """Write the run-time report of the stages that ran on this machine."""
    entries = read_all(folder)
    if not entries:
        raise InputError(f"{folder or 'the timings folder'}: no timings kept (train and predict keep them as they "
                         f"run: `make repro` first)")
    with atomic_path(out) as tmp:
        tmp.write_text(render(entries), encoding="utf-8")
    click.echo(f"timings: {len(entries)} stages -> {out}")
