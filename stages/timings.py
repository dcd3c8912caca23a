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
        peak = e.get("peak_rss_gib")
        rows.append([f"{e['command']} -> {e['out']}", f"{e['seconds']:.1f}", rate,
                     f"{peak:.2f} GiB" if peak is not None else "", what,
                     e.get("finished", "")])
    table = markdown_table(["stage", "seconds", "speed", "peak memory", "settings",
                            "finished"], rows, "lrlrll")
    total = sum(e["seconds"] for e in entries)
    return (f"# Run times\n\nWritten by {made_by} from the times train and "
            f"predict kept on the machine that ran them ({'; '.join(machines)}). predict's "
            f"figure is generation (model loading excluded); train's, its steps and the "
            f"save. Peak memory: the stage process's largest resident set (blank for "
            f"stages that ran before it was kept).\n\n{table}\n\n"
            f"Total of these stages: {total / 60:.1f} min.\n")


# what a checkout holds after `make repro`, largest first in the report
DISK_FOLDERS = (".venv", ".dvc/cache", "models", "data", "trained", "adapters",
                "predictions", "dev", "metrics", "dvclive", "checkpoints")


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (links not followed, a hard-linked file
    counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in folder.rglob("*"):
        try:
            info = path.lstat()
        except OSError:
            continue
        if path.is_symlink() or not path.is_file() or (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_size
    return total


def _size(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def render_disk(root: Path) -> str:
    """The disk use of the checkout's folders, as measured now."""
    sizes = {name: folder_bytes(root / name) for name in DISK_FOLDERS
             if (root / name).is_dir()}
    rows = [[f"`{name}/`", _size(size)]
            for name, size in sorted(sizes.items(), key=lambda item: -item[1])]
    return (f"\n## Disk\n\nThe checkout's folders when this report was written "
            f"({_size(sum(sizes.values()))} in all):\n\n"
            f"{markdown_table(['folder', 'size'], rows, 'lr')}\n")


@click.command()
@click.option("--timings", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where train and predict kept them (default "
                                 ".cache/timings, or $WRITING_ALPACA_TIMINGS).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reports/performance.md"), show_default=True)
@click.option("--disk/--no-disk", default=True, show_default=True,
              help="Add the disk use of the checkout's folders (.venv, DVC cache, models, "
                   "data, ...) as measured now.")
@click.option("--all", "every", is_flag=True,
              help="Also the runs that wrote outside the checkout (an absolute --out: "
                   "benchmarks, probes); by default only the pipeline's stages, whose "
                   "outputs dvc.yaml names relative to the checkout.")
def timings(folder: Path | None, out: Path, disk: bool, every: bool) -> None:
    """Write the run-time report of the stages that ran on this machine."""
    entries = [entry for entry in read_all(folder)
               if every or not Path(entry["out"]).is_absolute()]
    if not entries:
        raise InputError(f"{folder or 'the timings folder'}: no timings kept (train and predict keep them as they "
                         f"run: `make repro` first)")
    text = render(entries) + (render_disk(Path.cwd()) if disk else "")
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"timings: {len(entries)} stages -> {out}")
