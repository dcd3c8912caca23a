"""The layout of stages/lib shows the architecture: packages by concept, each importing
only from packages below it (docs/architecture.md, "Layout"), none grown past a dozen
modules."""
from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "stages" / "lib"
# bottom-up; a package may import from packages of a lower level only
LEVELS = {"core": 0, "metrics": 1, "data": 2, "model": 2, "inference": 3, "training": 3,
          "evaluation": 4, "publishing": 5, "plan": 5}


def imported(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_every_module_lives_in_a_declared_package() -> None:
    loose = [p.name for p in LIB.glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    packages = {p.name for p in LIB.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LEVELS)
    for package in packages:
        modules = [p for p in (LIB / package).glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= 12, package
        assert ast.get_docstring(ast.parse((LIB / package / "__init__.py").read_text())), package


def test_imports_only_go_down() -> None:
    upward = []
    for path in sorted(LIB.rglob("*.py")):
        package = path.relative_to(LIB).parts[0]
        for line, module in imported(path):
            parts = module.split(".")
            if parts[:2] == ["stages", "lib"] and len(parts) > 2 and parts[2] != package \
                    and LEVELS[parts[2]] >= LEVELS[package]:
                upward.append(f"{path.relative_to(LIB.parents[1])}:{line} imports {module}")
    assert upward == []


def _module_name(path: Path) -> str:
    relative = path.relative_to(LIB.parents[1]).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported anywhere but under `if TYPE_CHECKING:` (annotations only)."""
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_no_import_cycle() -> None:
    modules = {_module_name(p): p for p in LIB.rglob("*.py") if p.name != "__init__.py"}
    graph = {name: sorted(_runtime_imports(path) & set(modules) - {name})
             for name, path in modules.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for other in graph[name]:
            if state.get(other) == 1:
                return [*path, name, other]
            if other not in state and (cycle := visit(other, [*path, name])):
                return cycle
        state[name] = 2
        return None

    cycles = [cycle for name in sorted(modules) if name not in state
              and (cycle := visit(name, []))]
    assert cycles == []
