"""`writing-alpaca pull`: fetch a published adapter (or dataset) into the local HF cache.

A thin wrapper over huggingface_hub.snapshot_download, so the files land in the usual
cache (~/.cache/huggingface/hub) and later `edit` runs work offline (HF_HUB_OFFLINE=1).
A local folder is accepted as is, so scripts can pass either. An adapter's base model
(adapter_config.json's Hub id) is fetched too, unless base_model built it here
(models/<base>/base.json names that id) or --no-base is given.
"""
from __future__ import annotations

from pathlib import Path

import click

from stages.lib.model.bases import built_base_of
from stages.lib.model.model_dirs import check_adapter_or_model
from stages.lib.publishing.hub import looks_local, recorded_base, resolve_repo_or_path


def base_of(folder: Path) -> str | None:
    """The Hub id an adapter folder names as its base (None: not an adapter, or a path)."""
    name = recorded_base(folder)
    return name if name and not looks_local(name) else None


@click.command()
@click.argument("repo")
@click.option("--revision", default=None, help="Branch, tag or commit (default: main).")
@click.option("--repo-type", type=click.Choice(["model", "dataset"]), default="model",
              show_default=True)
@click.option("--base/--no-base", "with_base", default=True, show_default=True,
              help="Also fetch an adapter's base model (its adapter_config.json Hub id).")
def pull(repo: str, revision: str | None, repo_type: str, with_base: bool) -> None:
    """Download REPO (OWNER/NAME, or a local folder) and print its local folder."""
    folder = resolve_repo_or_path(repo, revision=revision, repo_type=repo_type)
    if repo_type == "model":  # `edit` must be able to load what `pull` accepted
        check_adapter_or_model(folder)
    click.echo(str(folder))
    base = base_of(folder) if repo_type == "model" and with_base else None
    if base is None:
        return
    built = built_base_of(base)
    if built is not None:
        click.echo(f"base {base}: {built} (built here by base_model)", err=True)
        return
    click.echo(f"base {base}: {resolve_repo_or_path(base)}", err=True)
