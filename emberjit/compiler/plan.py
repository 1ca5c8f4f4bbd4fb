"""``Plan``: the generated source, its compiled functions, its guards and its graph.

The source is compiled once and registered in ``linecache`` under a name like
``<emberjit-plan Pipeline.forward #3>``, so tracebacks, ``pdb`` and ``inspect.getsource`` show the
generated lines. Plan functions see the defining module's globals live (through
:class:`PlanGlobals`), never a stale copy.
"""

from __future__ import annotations

import builtins
import dataclasses
import itertools
import linecache
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx

__all__ = ["Plan", "PlanGlobals", "compile_source", "link", "link_homes"]

_counter = itertools.count(1)


class PlanGlobals(dict[str, Any]):
    """The plan's own names (plan functions, guard constants); everything else is looked up
    live in the defining module's globals, then in ``closure`` cells, then in builtins."""

    def __init__(self, module_globals: Mapping[str, Any],
                 closure: Mapping[str, Any] | None = None) -> None:
        super().__init__(__builtins__=builtins)
        # builtins the module does not shadow, held here so lookups skip __missing__
        self.update({k: v for k, v in vars(builtins).items()
                     if k not in module_globals and not k.startswith("_")})
        self._module = module_globals
        self._closure = dict(closure or {})

    def __missing__(self, key: str) -> Any:
        cell = self._closure.get(key)
        if cell is not None:
            return cell.cell_contents
        try:
            return self._module[key]
        except KeyError:
            raise KeyError(key) from None


def link_homes(namespace: PlanGlobals, homes: Sequence[tuple[str, str]],
               suffix: str = "") -> None:
    """Plan functions of helpers defined in another module (a base class's method, an imported
    function) run with that module's globals, as the originals do: ``homes`` pairs a plan
    function's name with its module's name. Each sees every plan function and constant."""
    spaces: list[PlanGlobals] = []
    for name, module in homes:
        old = namespace.get(name + suffix)
        home = sys.modules.get(module)
        if not isinstance(old, types.FunctionType) or home is None:
            continue
        own = PlanGlobals(vars(home))
        new = types.FunctionType(old.__code__, own, old.__name__, old.__defaults__,
                                 old.__closure__)
        new.__kwdefaults__ = old.__kwdefaults__
        namespace[name + suffix] = new
        spaces.append(own)
    for own in spaces:
        own.update({k: v for k, v in namespace.items() if k not in vars(builtins)})


def one_line(text: str) -> str:
    """``text`` safe to put in a generated comment: a user's name with a newline in it must not
    start a line of code."""
    return " ".join(str(text).splitlines()).rstrip()


def compile_source(source: str, label: str, namespace: PlanGlobals) -> str:
    """Compile and run ``source`` into ``namespace``; returns the linecache file name."""
    filename = f"<emberjit-plan {label} #{next(_counter)}>"
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(code, namespace)
    return filename


def link(source: str, label: str, module_globals: Mapping[str, Any], *,
         closure: Mapping[str, Any] | None = None, constants: Mapping[str, Any] | None = None,
         homes: Sequence[tuple[str, str]] = ()) -> tuple[PlanGlobals, str]:
    """The one link step: a plan's source -> its namespace of compiled functions. Names not
    defined by the plan or ``constants`` (its guards' values) are the defining module's, seen
    live; ``closure`` holds a jitted closure's cells; ``homes`` relinks helpers defined in other
    modules (:func:`link_homes`). Returns the namespace and the linecache file name."""
    namespace = PlanGlobals(module_globals, closure)
    namespace.update(constants or {})
    filename = compile_source(source, label, namespace)
    link_homes(namespace, homes)
    return namespace, filename


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """One compiled plan. ``fn`` is the entry function; ``str(plan)`` is its source."""

    qualname: str
    mode: str
    source: str
    function_name: str
    guards: tuple[str, ...]
    graph: nx.DiGraph
    concurrent: bool
    location: str
    source_sha256: str
    filename: str  # the linecache name of the generated source
    fn: Callable[..., Any] = dataclasses.field(repr=False)
    explanations: tuple[str, ...] = ()  # what stayed sequential, and why
    inline: frozenset[int] = frozenset()  # enhanced: ids of operators run inline (Run.inline)
    #: (plan function, module) for helpers defined in another module: see :func:`link_homes`
    homes: tuple[tuple[str, str], ...] = ()
    #: every call site and what the plan does with it (concurrent, dependent, held back), then
    #: a summary line: see :mod:`emberjit.compiler.ledger`
    sites: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        calls = sum(1 for _, d in self.graph.nodes(data=True) if d["kind"] in ("call", "fanout"))
        return (f"<Plan {self.qualname} mode={self.mode} steps={self.graph.number_of_nodes()} "
                f"calls={calls} concurrent={self.concurrent}>")

    def table(self) -> str:
        """One row per step: name, kind, target, dependencies, group (like torch.fx's
        ``print_tabular``)."""
        from .merge import concurrency_groups  # local: keeps libcst out of loading AOT plans

        groups = concurrency_groups(self.graph)
        rows = [("step", "kind", "target", "depends on", "group", "source")]
        for node, data in sorted(self.graph.nodes(data=True), key=lambda n: n[1]["line"]):
            deps = sorted({a for a, _, d in self.graph.in_edges(node, data=True)
                           if d.get("kind") == "data"})
            target = ", ".join(data["targets"]) or "-"
            if data.get("fanout"):
                target += f" (fan-out: {data['fanout']})"
            rows.append((node, data["kind"], target, ", ".join(deps) or "-",
                         str(groups.get(node, 0)), data["text"][:50]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart (data edges solid, control edges dotted)."""
        lines = ["flowchart TD"]
        for node, data in sorted(self.graph.nodes(data=True), key=lambda n: n[1]["line"]):
            label = _escape(f"{node}: {data['text'][:48]}")
            shape = ("[[", "]]") if data["kind"] == "fanout" else (
                ("{{", "}}") if data["kind"] == "control" else ("[", "]"))
            lines.append(f'    {_ident(node)}{shape[0]}"{label}"{shape[1]}')
        for a, b, data in self.graph.edges(data=True):
            arrow = "-.->" if data.get("kind") == "control" else "-->"
            label = f"|{_escape(data['name'])}|" if data.get("name") else ""
            lines.append(f"    {_ident(a)} {arrow}{label} {_ident(b)}")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT."""
        lines = [f'digraph "{_escape(self.qualname)}" {{', "    node [shape=box];"]
        for node, data in sorted(self.graph.nodes(data=True), key=lambda n: n[1]["line"]):
            style = {"fanout": ", style=bold", "control": ", shape=diamond"}.get(data["kind"], "")
            lines.append(f'    "{node}" [label="{_escape(node + ": " + data["text"][:48])}"'
                         f"{style}];")
        for a, b, data in self.graph.edges(data=True):
            extra = ", style=dashed" if data.get("kind") == "control" else ""
            label = f'label="{_escape(data["name"])}"' if data.get("name") else ""
            attrs = ", ".join(x for x in (label, extra.lstrip(", ")) if x)
            lines.append(f'    "{a}" -> "{b}"' + (f" [{attrs}]" if attrs else "") + ";")
        lines.append("}")
        return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


def _ident(node: str) -> str:
    return node.replace("'", "_")
