"""Every `writing-alpaca` command line the docs show names a real subcommand and only
options that subcommand has, so a renamed or removed option cannot stay documented."""
from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest

from stages.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line) for each code-block line that runs `writing-alpaca`, its
    trailing comment and anything after a pipe or `;` left out."""
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.startswith("    "):  # markdown code blocks are indented
                continue
            for part in line.split("|"):
                for command in part.split(";"):
                    command = command.split("  #", 1)[0].strip()
                    if command.startswith("writing-alpaca "):
                        found.append((f"{path.name}:{number}", command))
    return found


def options_of(command: click.Command) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", [])
            + getattr(param, "secondary_opts", [])} | {"--help", "-h"}


COMMAND_LINES = documented_commands()


def test_the_docs_show_commands() -> None:
    assert len(COMMAND_LINES) >= 10  # the extraction itself still finds them


@pytest.mark.parametrize(("where", "line"), COMMAND_LINES,
                         ids=[where for where, _ in COMMAND_LINES])
def test_a_documented_command_names_real_options(where: str, line: str) -> None:
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("...", " "))
    name = words[1]
    assert name in COMMANDS, f"{where}: no subcommand {name!r}"
    command = main.get_command(click.Context(main), name)
    assert command is not None, f"{where}: {name} does not load"
    rest = words[2:]
    if isinstance(command, click.Group):  # `score sari ...`: the group's own subcommand
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"{where}: `{name}` has no subcommand {rest[0]!r}"
        command, rest = sub, rest[1:]
    known = options_of(command)
    for word in rest:
        if word.startswith("-") and word != "-":
            option = word.split("=", 1)[0]
            assert option in known, f"{where}: `{name}` has no option {option}"


def cited_revisions() -> list[tuple[str, str, str | None]]:
    """(where, commit, path or None) for each `--rev <commit>` and `git show <commit>:<path>`
    the docs cite (a line may wrap between `--rev` and its commit)."""
    import re

    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"--rev\s+([0-9a-f]{7,40})\b", text):
            found.append((f"{path.name}:{text.count(chr(10), 0, match.start()) + 1}",
                          match[1], None))
        for match in re.finditer(r"git show ([0-9a-f]{7,40}):([\w./-]+)", text):
            found.append((f"{path.name}:{text.count(chr(10), 0, match.start()) + 1}",
                          match[1], match[2]))
    return found


def test_every_cited_revision_resolves() -> None:
    """A commit the docs tell you to run or read is in the history (and holds the file)."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False)

    shallow = git("rev-parse", "--is-shallow-repository")
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("needs the repository's full history")
    cited = cited_revisions()
    assert cited  # the docs cite some: the patterns still match them
    missing = [f"{where}: {commit}" + (f":{file}" if file else "")
               for where, commit, file in cited
               if git("cat-file", "-e", f"{commit}^{{commit}}" if file is None
                      else f"{commit}:{file}").returncode != 0]
    assert missing == []


def test_the_readme_names_every_subcommand() -> None:
    """The README's command-line section is where a user learns what `writing-alpaca` can
    do: a subcommand added to stages/cli.py without a word there fails here."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    unnamed = [name for name in COMMANDS
               if f"`{name}`" not in readme and f"writing-alpaca {name} " not in readme]
    assert unnamed == []
