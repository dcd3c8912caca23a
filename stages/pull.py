"""`writing-alpaca pull`: fetch a published adapter (or dataset) into the local HF cache.

A thin wrapper over huggingface_hub.snapshot_download, so the files land in the usual
cache (~/.cache/huggingface/hub) and later `edit` runs work offline (HF_HUB_OFFLINE=1).
A local folder is accepted as is, so scripts can pass either.
"""
from __future__ import annotations

import click

from stages.lib.model.model_dirs import check_adapter_or_model
from stages.lib.publishing.hub import resolve_repo_or_path


@click.command()
@click.argument("repo")
@click.option("--revision", default=None, help="Branch, tag or commit (default: main).")
@click.option("--repo-type", type=click.Choice(["model", "dataset"]), default="model",
              show_default=True)
def pull(repo: str, revision: str | None, repo_type: str) -> None:
    """Download REPO (OWNER/NAME, or a local folder) and print its local folder."""
    folder = resolve_repo_or_path(repo, revision=revision, repo_type=repo_type)
    if repo_type == "model":  # `edit` must be able to load what `pull` accepted
        check_adapter_or_model(folder)
    click.echo(str(folder))
