"""The package's layers (``../shared/DESIGN.md``, "Layers"; issue 14): each layer imports only
from the layers before it, function-level imports included, and components side by side in one
layer do not import each other. Imports under ``if TYPE_CHECKING:`` are not counted (they do
not run). Importing ``emberjit.a.b`` runs the package ``emberjit.a`` first, so that counts as an
import of ``emberjit.a`` too (the top package, which re-exports everything, is not counted).

The test names the file and line of every import against the order, and checks that the
package's imports form no cycle (within a component too)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "emberjit"

#: a module, or a package's prefix -> (its layer, its component): components side by side in
#: one layer (DESIGN.md's ``|``) do not import each other; one component's modules may
LAYERS: dict[str, tuple[int, str]] = {
    "errors": (0, "base"), "options": (0, "base"), "sourcehash": (0, "base"),
    "profiling": (0, "base"), "executors": (0, "base"), "pyast": (0, "base"),
    "operator": (1, "operator"), "inputs": (1, "operator"), "leaves": (1, "operator"),
    "analysis": (2, "analysis"), "tracing": (2, "tracing"),
    "compiler": (3, "compiler"), "runtime": (3, "runtime"),
    "aot": (3, "aot loading"), "cache": (3, "cache"),
    "jit": (4, "jit"), "batch": (4, "batch"), "profile": (4, "profile"),
    "aot_compile": (5, "top"), "cli": (5, "top"), "demo": (5, "top"), "ops": (5, "top"),
    "models": (5, "top"), "openai_model": (5, "top"), "__main__": (5, "top"),
    "integrations": (5, "top"),
    "__init__": (6, "package"),  # the package's namespace re-exports everything
}

def _component(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return prefix
    raise AssertionError(f"emberjit.{module} is in no layer: add it to LAYERS")


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.found: list[tuple[str, int]] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("emberjit."):
                target = alias.name.removeprefix("emberjit.")
                self.found.append((target, node.lineno))
                self._parents(target, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0:
            if node.module and node.module.startswith("emberjit"):
                base = node.module.removeprefix("emberjit").lstrip(".")
                self._add(base, node)
            return
        here = self.module.split(".") if self.module != "__init__" else []
        package = here if self.is_package else here[:-1]
        base_parts = package[:len(package) - (node.level - 1)] if node.level > 1 else package
        base = ".".join([*base_parts, *([node.module] if node.module else [])])
        self._add(base, node)

    def _parents(self, target: str, line: int) -> None:
        parts = target.split(".")
        for n in range(1, len(parts)):  # emberjit.a.b runs emberjit.a's __init__ first
            parent = ".".join(parts[:n])
            if f"{self.module}.".startswith(f"{parent}."):
                continue  # a package of this module's own: it runs before this module does
            if (PACKAGE.joinpath(*parts[:n]) / "__init__.py").exists():
                self.found.append((parent, line))

    def _add(self, base: str, node: ast.ImportFrom) -> None:
        for alias in node.names:  # from .x import y: y may be a module of x
            candidate = f"{base}.{alias.name}" if base else alias.name
            target = candidate if _exists(candidate) else base
            if target:
                self.found.append((target, node.lineno))
                self._parents(target, node.lineno)


def _exists(module: str) -> bool:
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports() -> list[tuple[str, str, str]]:
    """(importer, imported, file:line) of every import of the package by itself."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_of(path)
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), str(path)))
        found += [(module, target, f"{path.relative_to(PACKAGE.parent)}:{line}")
                  for target, line in visitor.found if target != module]
    return found


def test_no_import_goes_against_the_layers() -> None:
    wrong = []
    for module, target, where in _imports():
        mine, theirs = LAYERS[_component(module)], LAYERS[_component(target)]
        if theirs[1] != mine[1] and theirs[0] >= mine[0]:
            wrong.append(f"  {where}: emberjit.{module} (layer {mine[0]}, {mine[1]}) imports "
                         f"emberjit.{target} (layer {theirs[0]}, {theirs[1]})")
    assert not wrong, "imports against the layer order (DESIGN.md, Layers):\n" + "\n".join(wrong)


def test_the_package_imports_form_no_cycle() -> None:
    graph = nx.DiGraph()
    for module, target, _ in _imports():
        if "__init__" not in (module, target):  # the top package re-exports everything
            graph.add_edge(module, target)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_function_level_imports_and_skips_type_checking() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..jit import api\n"
              "def f():\n    from ..jit.state import JitState\n")
    visitor = _Imports("runtime.base", is_package=False)
    visitor.visit(ast.parse(source))
    assert visitor.found == [("jit.state", 5), ("jit", 5)]  # the package runs first


def test_the_checker_names_an_upward_import_with_its_file_and_line(tmp_path: Path) -> None:
    source = "def f():\n    from ..jit.api import jit\n"
    visitor = _Imports("runtime.base", is_package=False)
    visitor.visit(ast.parse(source))
    mine, theirs = LAYERS[_component("runtime.base")], LAYERS[_component(visitor.found[0][0])]
    assert visitor.found[0] == ("jit.api", 2) and theirs[0] > mine[0]
