"""The package's shape: few top-level modules, no import circle, no reaching into a sibling's
private names, and no comment that speaks of how the code was built instead of what it does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bench"
MAX_TOP_LEVEL_MODULES = 12


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import of a bench module anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bench" or node.module.startswith("bench."):
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "bench"]
    return found


def _edges(importer: str) -> set[str]:
    """Modules that importing `importer` executes: the target, its submodules named in the
    import, and the target's enclosing packages outside the importer's own package."""
    targets: set[str] = set()
    for module, names in _imports(MODULES[importer]):
        chain = [module] + [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        for target in chain:
            parts = target.split(".")
            for depth in range(2, len(parts) + 1):
                ancestor = ".".join(parts[:depth])
                inside = importer == ancestor or importer.startswith(ancestor + ".")
                if ancestor in MODULES and ancestor != importer and not inside:
                    targets.add(ancestor)
            if target in MODULES and target != importer:
                targets.add(target)
    return targets


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle() -> None:
    graph = {name: _edges(name) for name in MODULES}
    assert _find_cycle(graph) is None


def _package(module: str) -> str:
    """bench.store.rundir -> store; a top-level module (bench.pipeline) is its own node."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_circle_between_packages() -> None:
    """Layers, not just modules: `pipeline` may use `shard`, but then nothing in `shard` may
    use `pipeline` (bench submit, which drives both, sits beside them)."""
    graph: dict[str, set[str]] = {}
    for importer, path in MODULES.items():
        for module, _ in _imports(path):
            if _package(module) != _package(importer) and module != "bench":
                graph.setdefault(_package(importer), set()).add(_package(module))
    assert _find_cycle(graph) is None


def test_top_level_holds_a_handful_of_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


@pytest.mark.parametrize("name", sorted(n for n in MODULES if MODULES[n].name == "__init__.py"))
def test_every_subpackage_says_what_it_owns(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{name} has no docstring"


def test_no_module_imports_a_siblings_private_name() -> None:
    offenders = [
        f"{importer}: {module}.{n}"
        for importer, path in MODULES.items()
        for module, names in _imports(path)
        for n in names
        if n.startswith("_") and module != importer
    ]
    assert offenders == []


def test_code_speaks_of_the_product_not_of_issue_numbers() -> None:
    root = PACKAGE.parent
    pattern = re.compile(r"\bissue\s*#?\d+", re.IGNORECASE)
    files = [*PACKAGE.rglob("*.py"), *(root / "tests").rglob("*.py"), root / "noxfile.py"]
    files += [*(root / "benchmarks").rglob("*.py")]
    hits = [f"{f.name}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
            if pattern.search(line) and f.name != "test_layout.py"]  # fmt: skip
    assert hits == []
