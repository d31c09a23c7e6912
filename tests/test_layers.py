"""The house's layers (DESIGN.md): every import in qbench/ and hydra_plugins/, module- or
function-level, read from the source by AST, goes one way and closes no cycle.

    cli -> app -> execution -> backends -> circuits
    results: imported by execution, app and cli; itself imports only circuits
    base (qbench/__init__, environment, pipes, conf): imported by all, imports no subpackage
    hydra_plugins/: Hydra's plugins, at the app layer
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {"base": 0, "circuits": 1, "backends": 2, "execution": 3, "app": 4, "cli": 5}
# What each layer may import besides itself; results sits beside the stack.
ALLOWED = {
    "base": {"base"},
    "circuits": {"base"},
    "backends": {"base", "circuits"},
    "execution": {"base", "circuits", "backends", "results"},
    "app": {"base", "circuits", "backends", "execution", "results"},
    "cli": {"base", "circuits", "backends", "execution", "results", "app"},
    "results": {"base", "circuits"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "hydra_plugins":
        return "app"
    if len(parts) > 1 and parts[1] in RANK.keys() | {"results"} and parts[1] != "base":
        return parts[1]
    if len(parts) > 1 and parts[1] == "__main__":
        return "cli"
    return "base"  # qbench, qbench.environment, qbench.pipes, qbench.conf


def sources() -> dict[str, Path]:
    files = [*ROOT.joinpath("qbench").rglob("*.py"), *ROOT.joinpath("hydra_plugins").rglob("*.py")]
    return {module_name(path): path for path in files}


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """Every qbench module the file of module `name` imports, at any depth of the code (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports pkg.mod when that is a module, else a name of pkg
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = sources()
    known = set(modules)
    return {name: imported_modules(path, name, known) for name, path in modules.items()}


def test_no_import_goes_against_the_layers(graph):
    wrong = sorted(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
                   for module, targets in graph.items() for target in targets
                   if layer_of(target) != layer_of(module) and layer_of(target) not in ALLOWED[layer_of(module)])
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycles(graph):
    # Tarjan's strongly connected components: any component of more than one module is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    """The checks above could pass by seeing nothing: the walker must find imports inside functions."""
    known = {"qbench.cli.plan", "qbench.results.records", "qbench.execution.runner", "qbench.execution.pool"}
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n\ndef f():\n    from qbench.cli import plan\n    from qbench.results import records\n"
                     "    from .pool import run_isolated\n")
    assert imported_modules(probe, "qbench.execution.probe", known) == {
        "qbench.cli.plan", "qbench.results.records", "qbench.execution.pool"}


def test_every_module_has_a_layer_and_no_module_is_too_long():
    too_long = {name: n for name, path in sources().items() if (n := len(path.read_text().splitlines())) > 450}
    assert not too_long, f"modules over ~400 lines (split them by concern): {too_long}"
    top_level = sorted(p.name for p in (ROOT / "qbench").glob("*.py"))
    assert len(top_level) <= 6, f"at most ~6 modules directly in qbench/: {top_level}"
