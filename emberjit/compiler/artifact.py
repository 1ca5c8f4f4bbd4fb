"""The plan artifact: one frozen, printable, serializable value that every code generator returns
(structural, trace and enhanced), that ``emberjit compile`` writes and the run time reads as is,
and that one link step (:func:`emberjit.compiler.plan.link`) turns into a callable.

``PlanCode`` holds the source, the names it binds (the constants its guard compares with; their
values are the process's own, supplied when it is linked), its guards, and its steps: frozen
:class:`Step` and :class:`Edge` records, from which the networkx graph, ``table()``, mermaid and
dot are all derived. Like torch.fx's ``PythonCode``: the source is the program; the steps are
what a person (or a tool) reads about it. Nothing here imports libcst.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a graph is made: it costs ~90 ms, and AOT runs need none
    import networkx as nx

__all__ = ["Edge", "PlanCode", "Step", "one_line"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One statement of ``forward`` (a call, a fan-out, a branch, a helper call, glue)."""

    name: str  # "L12" (its line; a second step of one line: "L12'"), "r0" in a trace plan
    kind: str  # "call", "fanout", "helper", "control", "glue"
    line: int
    text: str
    targets: tuple[str, ...] = ()  # the operators it calls
    fanout: str | None = None  # how its calls fan out, if they do
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    note: str = ""  # why it is a barrier or kept sequential, if it is


@dataclasses.dataclass(frozen=True)
class Edge:
    """``source`` must come before ``target``: it writes a value ``name`` that ``target`` reads
    (``kind="data"``; ``carried``: from a loop's previous turn), or it controls whether
    ``target`` runs (``kind="control"``)."""

    source: str
    target: str
    kind: str
    name: str = ""
    carried: bool = False


@dataclasses.dataclass(frozen=True)
class PlanCode:
    """One generated plan, before it is linked (see the module docstring)."""

    qualname: str
    mode: str
    source: str
    function_name: str
    guard_name: str
    #: (name, reference) of the constants its source reads, which linking supplies: the values
    #: are this process's; the references say where another one finds them
    #: (:mod:`emberjit.compiler.assumptions`; "": nowhere else)
    binds: tuple[tuple[str, str], ...]
    guards: tuple[str, ...]  # what the plan assumes, readable
    steps: tuple[Step, ...]
    edges: tuple[Edge, ...]
    concurrent: bool
    location: str
    source_sha256: str
    explanations: tuple[str, ...] = ()  # what stayed sequential, and why
    #: every call site and what the plan does with it, then a summary line
    #: (:mod:`emberjit.compiler.ledger`)
    sites: tuple[str, ...] = ()
    #: (plan function, module) for helpers defined in another module (see ``link_homes``)
    homes: tuple[tuple[str, str], ...] = ()
    #: the kinds of the instance's operator attributes it was compiled with (OP, OP_LIST,
    #: OP_DICT by name): another instance of the class shares the plan only when they match
    shape: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.source

    @functools.cached_property
    def graph(self) -> nx.DiGraph:
        """The steps as a networkx graph: nodes carry the :class:`Step` fields, edges the
        :class:`Edge` fields (derived; a fresh copy for each artifact)."""
        import networkx as nx

        graph = nx.DiGraph(name=self.qualname)
        for step in self.steps:
            fields = dataclasses.asdict(step)
            graph.add_node(fields.pop("name"), **fields)
        for edge in self.edges:
            fields = dataclasses.asdict(edge)
            graph.add_edge(fields.pop("source"), fields.pop("target"),
                           **{k: v for k, v in fields.items() if v or k == "kind"})
        return graph

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what ``emberjit compile`` writes)."""
        data = dataclasses.asdict(self)
        data["steps"] = [dataclasses.asdict(s) for s in self.steps]
        data["edges"] = [dataclasses.asdict(e) for e in self.edges]
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> PlanCode:
        fields = {f.name for f in dataclasses.fields(PlanCode)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown plan fields {sorted(unknown)}")
        values = dict(data)
        values["steps"] = tuple(_step(s) for s in data["steps"])
        values["edges"] = tuple(Edge(**e) for e in data["edges"])
        values["homes"] = tuple((str(f), str(m)) for f, m in data.get("homes", ()))
        values["shape"] = tuple((str(a), str(k)) for a, k in data.get("shape", ()))
        values["binds"] = tuple((str(n), str(r)) for n, r in data.get("binds", ()))
        for name in ("guards", "explanations", "sites"):
            values[name] = tuple(str(x) for x in data.get(name, ()))
        return PlanCode(**values)

    # -- reading it ----------------------------------------------------------------------------

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods whose code the plan was compiled from (its ``code:`` references), in
        the order of their constants (``_code_0`` is forward's)."""
        found = {int(name.removeprefix("_code_")): ref.removeprefix("code:")
                 for name, ref in self.binds if ref.startswith("code:")}
        return tuple(found[i] for i in sorted(found))

    def ordered_steps(self) -> list[Step]:
        return sorted(self.steps, key=lambda s: s.line)

    def groups(self) -> dict[str, int]:
        """Step -> group number: the length of the longest data path leading to it. Steps of
        one group never depend on each other, so they may run together (a reading aid: the plan
        does not run in groups; it starts each call as soon as its own inputs exist)."""
        before: dict[str, list[str]] = {s.name: [] for s in self.steps}
        for edge in self.edges:
            if edge.kind == "data" and not edge.carried:
                before[edge.target].append(edge.source)
        groups: dict[str, int] = {}

        def group(name: str) -> int:
            if name not in groups:
                groups[name] = 0  # a cycle (none without carried edges) ends here
                groups[name] = max((group(p) + 1 for p in before[name]), default=0)
            return groups[name]

        for step in self.steps:
            group(step.name)
        return groups

    def table(self) -> str:
        """One row per step: name, kind, target, dependencies, group (like torch.fx's
        ``print_tabular``)."""
        groups = self.groups()
        rows = [("step", "kind", "target", "depends on", "group", "source")]
        for step in self.ordered_steps():
            deps = sorted({e.source for e in self.edges
                           if e.target == step.name and e.kind == "data"})
            target = ", ".join(step.targets) or "-"
            if step.fanout:
                target += f" (fan-out: {step.fanout})"
            rows.append((step.name, step.kind, target, ", ".join(deps) or "-",
                         str(groups.get(step.name, 0)), step.text[:50]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """The steps as a Mermaid flowchart (data edges solid, control edges dotted)."""
        lines = ["flowchart TD"]
        for step in self.ordered_steps():
            label = _escape(f"{step.name}: {step.text[:48]}")
            shape = ("[[", "]]") if step.kind == "fanout" else (
                ("{{", "}}") if step.kind == "control" else ("[", "]"))
            lines.append(f'    {_ident(step.name)}{shape[0]}"{label}"{shape[1]}')
        for edge in self.edges:
            arrow = "-.->" if edge.kind == "control" else "-->"
            label = f"|{_escape(edge.name)}|" if edge.name else ""
            lines.append(f"    {_ident(edge.source)} {arrow}{label} {_ident(edge.target)}")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """The steps in Graphviz DOT."""
        lines = [f'digraph "{_escape(self.qualname)}" {{', "    node [shape=box];"]
        for step in self.ordered_steps():
            style = {"fanout": ", style=bold", "control": ", shape=diamond"}.get(step.kind, "")
            lines.append(f'    "{step.name}" [label="{_escape(step.name + ": " + step.text[:48])}"'
                         f"{style}];")
        for edge in self.edges:
            extra = "style=dashed" if edge.kind == "control" else ""
            label = f'label="{_escape(edge.name)}"' if edge.name else ""
            attrs = ", ".join(x for x in (label, extra) if x)
            lines.append(f'    "{edge.source}" -> "{edge.target}"'
                         + (f" [{attrs}]" if attrs else "") + ";")
        lines.append("}")
        return "\n".join(lines)


def _step(data: dict[str, Any]) -> Step:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return Step(**fields)


def steps_of(graph: nx.DiGraph) -> tuple[tuple[Step, ...], tuple[Edge, ...]]:
    """The frozen records of a graph the compiler built (nodes with the :class:`Step` fields)."""
    steps = tuple(Step(name=n, **d) for n, d in graph.nodes(data=True))
    edges = tuple(Edge(a, b, **d) for a, b, d in graph.edges(data=True))
    return steps, edges


def one_line(text: str) -> str:
    """``text`` safe to put in a generated comment: a user's name with a newline in it must not
    start a line of code."""
    return " ".join(str(text).splitlines()).rstrip()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


def _ident(node: str) -> str:
    return node.replace("'", "_")
