"""House rule 12: a stage's code deps in dvc.yaml are exactly the project modules its
command imports, transitively. A missing dep lets a code change leave a stale output;
a dep that is not imported re-runs the stage (training, say) for nothing.

Stages are read through DVC's own resolver, so `foreach` / `${item}` expand exactly as
`dvc repro` expands them. Each `cmd` is `writing-alpaca <subcommand> ...`; the subcommand
names its module in stages/cli.py's COMMANDS. Imports are found with `ast`, including the
function-local ones this codebase uses for lazy loading; imports under
`if TYPE_CHECKING:` never run and are skipped.

stages/cli.py itself is not a dep of any stage: it only maps the subcommand to a module
with importlib and cannot change what a stage writes, while listing it would re-run the
whole pipeline (training included) whenever a user tool is added. A test below keeps
that true: cli.py must import no project module itself.

Run on its own with `make deps-check`.
"""
from __future__ import annotations

import ast
import shutil
from collections import defaultdict, deque
from pathlib import Path

import pytest

from stages.cli import COMMANDS

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "stages"
CLI_MODULE = "stages.cli"


# --- imports -> files -----------------------------------------------------------------

def module_file(root: Path, module: str) -> Path | None:
    """The file of a project module (`a.b` -> a/b.py or a/b/__init__.py), else None."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` blocks."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def imported_modules(root: Path, module: str) -> set[str]:
    """Project modules that `module` imports anywhere in its body (module or function level)."""
    path = module_file(root, module)
    assert path is not None, module
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # `from stages.lib.publishing import hub` imports the submodule stages.lib.publishing.hub
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if module_file(root, f"{base}.{alias.name}") is not None)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


# stages/__init__.py only chooses which checkout's stages/ the submodules come from (the
# one a stage runs in, stages/__init__.py says why); what they compute is in the files
# the deps list, so it is no dep of any stage
CHOOSES_THE_CHECKOUT = Path("stages") / "__init__.py"


def _has_code(path: Path) -> bool:
    """False for a package __init__.py holding only a docstring / `from __future__`, and
    for stages/__init__.py (CHOOSES_THE_CHECKOUT)."""
    if path.parts[-2:] == CHOOSES_THE_CHECKOUT.parts:
        return False
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            continue
        return True
    return False


def import_closure(root: Path, module: str) -> dict[Path, list[str]]:
    """Files (relative to root) executed by importing `module`, each with an import chain.

    Importing a.b.c also runs a/__init__.py and a/b/__init__.py; such a file counts only
    when it holds code (an empty or docstring-only __init__ cannot change an output).
    """
    chains: dict[str, list[str]] = {module: [module]}
    todo = deque([module])  # breadth first: each chain is a shortest one
    while todo:
        current = todo.popleft()
        parts = current.split(".")
        parents = [".".join(parts[:i]) for i in range(1, len(parts))]
        for name in parents + sorted(imported_modules(root, current)):
            if name in chains or module_file(root, name) is None:
                continue  # `from stages.x import attr` resolves to stages.x, checked above
            chains[name] = chains[current] + [name]
            todo.append(name)
    files: dict[Path, list[str]] = {}
    for name, chain in chains.items():
        path = module_file(root, name)
        assert path is not None
        if path.name == "__init__.py" and name != module and not _has_code(path):
            continue
        files[path.relative_to(root)] = chain
    return files


# --- dvc.yaml -> stages ---------------------------------------------------------------

def load_stages(repo_dir: Path) -> list[tuple[str, list[str], list[str]]]:
    """(stage name, commands, deps) of every stage of every dvc.yaml under repo_dir,
    foreach expanded."""
    from dvc.repo import Repo

    with Repo(str(repo_dir)) as repo:
        return [(stage.name, [stage.cmd] if isinstance(stage.cmd, str) else list(stage.cmd),
                 [dep.def_path for dep in stage.deps])
                for stage in repo.index.stages]


def check_stage(root: Path, commands: list[str], deps: list[str]) -> list[str]:
    """Problems of one stage's code deps (paths under stages/), each one line. A stage
    of several commands depends on the union of what they import."""
    code_deps = [d.rstrip("/") for d in deps if Path(d).parts[:1] == (PACKAGE,)]
    closure: dict[Path, list[str]] = {}
    modules = []
    for cmd in commands:
        words = cmd.split()
        if len(words) < 2 or words[0] != "writing-alpaca" or words[1] not in COMMANDS:
            return [f"cmd {cmd!r} is not a `writing-alpaca <subcommand>` of stages/cli.py"]
        modules.append(COMMANDS[words[1]].split(":")[0])
        closure = {**import_closure(root, modules[-1]), **closure}
    module = " + ".join(modules)
    problems = []
    for path, chain in sorted(closure.items()):
        if not any(path == Path(d) or Path(d) in path.parents for d in code_deps):
            problems.append(f"imports {path} ({' -> '.join(chain)}) but does not list it in deps")
    for dep in code_deps:
        target = root / dep
        if target.is_dir():
            unused = sorted(p.relative_to(root) for p in target.rglob("*.py")
                            if p.relative_to(root) not in closure
                            and not (p.name == "__init__.py" and not _has_code(p)))
            if unused:
                names = ", ".join(str(p) for p in unused)
                problems.append(f"dep {dep}/ also covers {names}, which it does not import")
        elif dep.endswith(".py") and Path(dep) not in closure:
            problems.append(f"dep {dep} is not imported by {module} (stale dep)")
    return problems


def check_dvc_yaml(repo_dir: Path, root: Path = REPO_ROOT) -> list[str]:
    """All problems of repo_dir/dvc.yaml, the source tree read from root.

    A problem shared by every instance of a foreach stage is reported once, as `name@*`.
    """
    stages = load_stages(repo_dir)
    instances: dict[str, int] = defaultdict(int)
    by_problem: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, commands, deps in stages:
        group = name.split("@")[0]
        instances[group] += 1
        for problem in check_stage(root, commands, deps):
            by_problem[(group, problem)].append(name)
    lines = []
    for (group, problem), names in by_problem.items():
        where = f"{group}@*" if "@" in names[0] and len(names) == instances[group] else (
            ", ".join(names))
        lines.append(f"dvc.yaml stage {where}: {problem}")
    return lines


# --- tests ----------------------------------------------------------------------------

def test_dvc_yaml_code_deps_are_the_imports(tmp_path: Path) -> None:
    problems = check_dvc_yaml(REPO_ROOT)
    assert not problems, "\n" + "\n".join(problems)
    # and the stages only the grid experiment has (speed@, findings@), as `make grid` runs them
    from dvc.utils.hydra import apply_overrides

    from stages.lib.core.params import load_params
    from stages.lib.plan.grid import grid_overrides

    repo = _copy_pipeline(tmp_path, ("", ""))
    apply_overrides(str(repo / "params.yaml"), grid_overrides(load_params(repo / "params.yaml")))
    names = {name for name, _, _ in load_stages(repo)}
    assert {"speed@16", "findings@paper", "train@gec-only"} <= names
    problems = check_dvc_yaml(repo)
    assert not problems, "\n" + "\n".join(problems)
    # and those only the ladder experiment has (`make ladder`)
    ladder = _copy_pipeline(tmp_path / "ladder", ("", ""))
    apply_overrides(str(ladder / "params.yaml"),
                    grid_overrides(load_params(ladder / "params.yaml"), "ladder"))
    names = {name for name, _, _ in load_stages(ladder)}
    assert {"ladder@bases", "base_model@gemma-3-270m", "train@gemma-alpaca",
            "predict@gemma-base"} <= names
    problems = check_dvc_yaml(ladder)
    assert not problems, "\n" + "\n".join(problems)


def test_cli_imports_no_project_module() -> None:
    # why cli.py is in no stage's deps: it dispatches through importlib strings only
    assert imported_modules(REPO_ROOT, CLI_MODULE) == set()
    for target in COMMANDS.values():
        assert module_file(REPO_ROOT, target.split(":")[0]) is not None, target


def _copy_pipeline(tmp_path: Path, edit: tuple[str, str]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    text = (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8")
    old, new = edit
    if old:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / "dvc.yaml").write_text(text, encoding="utf-8")
    for name in ("params.yaml", "corpora.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text("[core]\n    no_scm = true\n", encoding="utf-8")
    return tmp_path


def test_checker_fails_on_a_removed_dep(tmp_path: Path) -> None:
    repo = _copy_pipeline(tmp_path, ("        - stages/lib/data/decontam.py\n", ""))
    problems = check_dvc_yaml(repo)
    assert len(problems) == 1, problems
    assert problems[0].startswith("dvc.yaml stage mix@*: imports stages/lib/data/decontam.py")
    assert "stages.mix -> stages.lib.data.decontam" in problems[0]


@pytest.mark.parametrize("extra", ["stages/lib/metrics/sari.py", "stages/lib/metrics"])
def test_checker_fails_on_a_stale_dep(tmp_path: Path, extra: str) -> None:
    # training must not depend on scoring code
    repo = _copy_pipeline(tmp_path, ("        - stages/train.py\n",
                                     f"        - stages/train.py\n        - {extra}\n"))
    problems = check_dvc_yaml(repo)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"dvc.yaml stage train@*: dep {extra}")


def test_import_closure_follows_function_local_imports(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "lib").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""docstring only: not code."""\n')
    (pkg / "lib" / "__init__.py").write_text("from stages.lib import c\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from stages.lib import d\n"
        "def f():\n    from stages.lib.b import g\n")
    for name in ("b", "c", "d"):
        (pkg / "lib" / f"{name}.py").write_text("import os\n")
    closure = import_closure(tmp_path, "stages.a")
    assert sorted(map(str, closure)) == [
        "stages/a.py", "stages/lib/__init__.py", "stages/lib/b.py", "stages/lib/c.py"]
    assert closure[Path("stages/lib/c.py")] == [
        "stages.a", "stages.lib.b", "stages.lib", "stages.lib.c"]
