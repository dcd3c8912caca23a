"""The `writing-alpaca` command line: one subcommand per DVC stage, plus user tools.

Subcommands are imported lazily so that `writing-alpaca --help` and light commands
(e.g. `score`) start fast without importing torch or transformers.
"""
from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click.Command (or click.Group).
COMMANDS: dict[str, str] = {
    # pipeline stages (dvc.yaml)
    "fetch": "stages.fetch:fetch",
    "normalize": "stages.normalize:normalize",
    "benchmark": "stages.benchmark:benchmark",
    "base-model": "stages.base_model:base_model",
    "mix": "stages.mix:mix",
    "train": "stages.train:train",
    "predict": "stages.predict:predict",
    "evaluate": "stages.evaluate:evaluate",
    "ship": "stages.ship:ship",
    "report": "stages.report:report",
    "findings": "stages.findings:findings",
    "ladder": "stages.ladder:ladder",
    # user tools
    "score": "stages.score:score",
    "compare": "stages.compare:compare",
    "publish": "stages.publish:publish",
    "pull": "stages.pull:pull",
    "edit": "stages.edit:edit",
    "recipe-table": "stages.recipe_table:recipe_table",
    "grid": "stages.grid:grid",
    "plan": "stages.plan:plan",
    "timings": "stages.timings:timings",
    # maintainer tool: params.yaml's corpora section from the mirror's MANIFEST.json
    "corpora-params": "stages.corpora_params:corpora_params",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command declared but not built yet
                return None
            raise
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Build, train, evaluate and publish writing-assistant adapters.

    Each pipeline stage of dvc.yaml is one subcommand; `score`, `compare`,
    `publish`, `pull` and `edit` are tools for users; `corpora-params` writes
    params.yaml's corpora section from the corpus mirror's MANIFEST.json.
    """


if __name__ == "__main__":
    main()
