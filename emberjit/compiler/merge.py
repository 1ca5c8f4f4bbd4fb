"""Merge (structural): a Skeleton becomes a ``networkx.DiGraph`` of steps with true data edges.

Nodes are statements of ``forward`` (``kind`` call / fanout / local / control), named after their
line (``L12``), with the fields of a :class:`~emberjit.compiler.artifact.Step` (the plan keeps
them as those frozen records: :func:`~emberjit.compiler.artifact.steps_of`). An edge ``a -> b``
means ``b`` reads a name that ``a`` may have written last (reaching definitions, branches
joined), ``kind="data"``; control statements own the steps of their blocks
(``kind="control"``). Impure calls are not known here (purity is a runtime fact of
each operator); the runtime keeps them in order.

Steps that are not connected by a path may run at the same time: :func:`has_concurrency` tells
the scheduler ``auto`` whether threads help (``PlanCode.groups`` numbers the groups).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import networkx as nx

from ..analysis.skeleton import OPERATOR, Skeleton, Statement
from .artifact import Step

__all__ = ["build_graph", "has_concurrency"]


def _kind(stmt: Statement) -> str:
    if stmt.kind in ("if", "for", "while", "with", "try"):
        return "control"
    calls = [c for c in stmt.calls if c.kind == OPERATOR]
    if any(c.fanout for c in calls):
        return "fanout"
    if calls:
        return "call"
    if any(c.kind != OPERATOR for c in stmt.calls):
        return "helper"
    return "local"


def build_graph(skeleton: Skeleton) -> nx.DiGraph:
    graph = nx.DiGraph(name=skeleton.qualname)
    _walk(graph, skeleton.statements, {}, None, in_loop=None)
    return graph


def _fanout(stmt: Statement, in_loop: str | None) -> str | None:
    """How the statement's calls fan out, or None: a call whose input is its own previous
    result (``x = step(x)`` in a loop) is a chain, not a fan-out."""
    ops = [c for c in stmt.calls if c.kind == OPERATOR]
    own = next((c.fanout for c in ops if c.fanout), None)
    if own is not None and own.startswith("comprehension"):
        return own  # answers = [a(q, answers) for a in agents]: one call per element at once
    if not ops or stmt.reads & stmt.writes:
        return None
    return own or (f"for loop at L{in_loop}" if in_loop else None)


def _add(graph: nx.DiGraph, stmt: Statement, parent: str | None, in_loop: str | None) -> str:
    name = f"L{stmt.line}"
    while name in graph:
        name += "'"
    step = Step(name, _kind(stmt), stmt.line, stmt.text, tuple(c.target for c in stmt.calls),
                _fanout(stmt, in_loop), tuple(sorted(stmt.reads)), tuple(sorted(stmt.writes)),
                stmt.note)
    graph.add_node(name, **{k: v for k, v in dataclasses.asdict(step).items() if k != "name"})
    if parent is not None:
        graph.add_edge(parent, name, kind="control")
    return name


def _walk(graph: nx.DiGraph, block: Sequence[Statement], defs: dict[str, set[str]],
          parent: str | None, in_loop: str | None) -> dict[str, set[str]]:
    """Add ``block``'s steps; ``defs`` maps a name to the steps that may have written it last."""
    for stmt in block:
        node = _add(graph, stmt, parent, in_loop)
        for name in stmt.reads:
            for writer in defs.get(name, ()):
                if writer != node:
                    graph.add_edge(writer, node, kind="data", name=name)
        defs = {**defs, **{name: {node} for name in stmt.writes},
                **{name: defs.get(name, set()) | {node} for name in stmt.fills}}
        if not stmt.blocks:
            continue
        if stmt.kind == "try":
            defs = _walk_try(graph, stmt.blocks, defs, node, in_loop)
            continue
        loop = str(stmt.line) if stmt.kind in ("for", "while") else in_loop
        results = []
        for block_ in stmt.blocks:
            inner = _walk(graph, block_, defs, node, loop)
            if stmt.kind in ("for", "while"):  # loop-carried: a second turn sees the first's
                inner = _walk_again(graph, block_, _join([defs, inner]), node)
            results.append(inner)
        if stmt.kind in ("if", "for", "while") or len(results) > 1:
            defs = _join([defs, *results])
        else:
            defs = results[0] if results else defs
    return defs


def _walk_try(graph: nx.DiGraph, blocks: Sequence[Sequence[Statement]],
              defs: dict[str, set[str]], node: str,
              in_loop: str | None) -> dict[str, set[str]]:
    """A ``try``'s parts (body, handlers, ``else``, ``finally``) in the order they run: the
    ``else`` after the body, a handler after any statement of it, ``finally`` after either."""
    body, handlers, orelse, final = blocks[0], blocks[1:-2], blocks[-2], blocks[-1]
    after_body = _walk(graph, body, defs, node, in_loop)
    anywhere = _join([defs, after_body])
    paths = [_walk(graph, orelse, after_body, node, in_loop)]
    paths += [_walk(graph, handler, anywhere, node, in_loop) for handler in handlers]
    return _walk(graph, final, _join(paths), node, in_loop)


def _walk_again(graph: nx.DiGraph, block: Sequence[Statement], defs: dict[str, set[str]],
                parent: str) -> dict[str, set[str]]:
    """Add the loop-carried edges of a second turn (nodes already exist)."""
    for stmt in block:
        node = next((n for n in graph.successors(parent)
                     if graph.nodes[n].get("line") == stmt.line), None)
        if node is None:
            continue
        for name in stmt.reads:
            for writer in defs.get(name, ()):
                if writer != node and not graph.has_edge(writer, node):
                    graph.add_edge(writer, node, kind="data", name=name, carried=True)
        defs = {**defs, **{name: {node} for name in stmt.writes},
                **{name: defs.get(name, set()) | {node} for name in stmt.fills}}
    return defs


def _join(all_defs: Sequence[dict[str, set[str]]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for defs in all_defs:
        for name, writers in defs.items():
            out.setdefault(name, set()).update(writers)
    return out


def _data_graph(graph: nx.DiGraph) -> nx.DiGraph:
    data = nx.DiGraph()
    data.add_nodes_from(graph.nodes(data=True))
    data.add_edges_from((a, b) for a, b, d in graph.edges(data=True)
                        if d.get("kind") == "data" and not d.get("carried"))
    return data


def has_concurrency(graph: nx.DiGraph) -> bool:
    """True when two calls may run at once: a fan-out, a call in a loop, or two calls that do
    not depend on each other."""
    calls = [n for n, d in graph.nodes(data=True) if d["kind"] in ("call", "fanout", "helper")]
    if any(graph.nodes[n]["fanout"] for n in calls) or any(
            graph.nodes[n]["kind"] == "helper" for n in calls):
        return True
    if any(len(graph.nodes[n]["targets"]) > 1 for n in calls):
        return True
    data = _data_graph(graph)
    for i, a in enumerate(calls):
        for b in calls[i + 1:]:
            if not (nx.has_path(data, a, b) or nx.has_path(data, b, a)):
                return True
    return False
