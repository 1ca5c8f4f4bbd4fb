"""The package's layers (``../shared/DESIGN.md``, "Layers"; issue 14): each layer imports only
from the layers before it, function-level imports included, and components side by side in one
layer do not import each other. Imports under ``if TYPE_CHECKING:`` are not counted (they do
not run).

The package does not hold this yet: ``KNOWN`` lists every import against the order today, as
(importer, imported) modules. The test fails on any import against the order that is not
listed (naming its file and line), and on any listed one that is gone (take it off the list):
the list only shrinks, until it is empty and issue 14's layer test holds as it is."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "emberjit"

#: a module, or a package's prefix -> (its layer, its component): components side by side in
#: one layer (DESIGN.md's ``|``) do not import each other; one component's modules may
LAYERS: dict[str, tuple[int, str]] = {
    "errors": (0, "base"), "options": (0, "base"), "sourcehash": (0, "base"),
    "profiling": (0, "base"), "executors": (0, "base"),
    "operator": (1, "operator"), "inputs": (1, "operator"), "leaves": (1, "operator"),
    "analysis": (2, "analysis"), "tracing": (2, "tracing"),
    "compiler": (3, "compiler"), "runtime": (3, "runtime"),
    "aot.load": (3, "aot loading"), "aot.common": (3, "aot loading"),
    "jit": (4, "jit"), "batch": (4, "batch"), "profile": (4, "profile"),
    "aot": (5, "top"), "cli": (5, "top"), "demo": (5, "top"), "ops": (5, "top"),
    "models": (5, "top"), "openai_model": (5, "top"), "__main__": (5, "top"),
    "__init__": (6, "package"),  # the package's namespace re-exports everything
}

#: imports against the layer order today: (importer, imported), modules under ``emberjit.``
KNOWN: set[tuple[str, str]] = {
    ("aot.load", "compiler.plan"),  # emberjit/aot/load.py:235
    ("aot.load", "jit.select"),  # emberjit/aot/load.py:219
    ("jit.select", "aot"),  # emberjit/jit/select.py:154
    ("jit.specialize", "aot"),  # emberjit/jit/specialize.py:167
    ("tracing.enhanced_runner", "compiler.build"),  # emberjit/tracing/enhanced_runner.py:22
    ("tracing.enhanced_runner", "compiler.enhanced"),  # emberjit/tracing/enhanced_runner.py:23
    ("tracing.runner", "compiler.plan"),  # emberjit/tracing/runner.py:23
    ("tracing.runner", "compiler.trace_plan"),  # emberjit/tracing/runner.py:24
    ("tracing.runner", "jit.stats"),  # emberjit/tracing/runner.py:131
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
                self.found.append((alias.name.removeprefix("emberjit."), node.lineno))

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

    def _add(self, base: str, node: ast.ImportFrom) -> None:
        for alias in node.names:  # from .x import y: y may be a module of x
            candidate = f"{base}.{alias.name}" if base else alias.name
            target = candidate if _exists(candidate) else base
            if target:
                self.found.append((target, node.lineno))


def _exists(module: str) -> bool:
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_of(path)
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), str(path)))
        mine = LAYERS[_component(module)]
        for target, line in visitor.found:
            theirs = LAYERS[_component(target)]
            if theirs[1] != mine[1] and theirs[0] >= mine[0]:
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                found.setdefault((module, target), where)
    return found


def test_no_import_goes_against_the_layers_beyond_the_known_ones() -> None:
    found = _violations()
    new = {pair: where for pair, where in found.items() if pair not in KNOWN}
    assert not new, "imports against the layer order (DESIGN.md, Layers):\n" + "\n".join(
        f"  {where}: emberjit.{a} (layer {LAYERS[_component(a)][0]}) imports emberjit.{b} "
        f"(layer {LAYERS[_component(b)][0]})" for (a, b), where in sorted(new.items()))
    gone = KNOWN - found.keys()
    assert not gone, f"no longer against the layers, take them off KNOWN: {sorted(gone)}"


def test_the_checker_sees_function_level_imports_and_skips_type_checking() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..jit import api\n"
              "def f():\n    from ..jit.state import JitState\n")
    visitor = _Imports("runtime.base", is_package=False)
    visitor.visit(ast.parse(source))
    assert visitor.found == [("jit.state", 5)]
