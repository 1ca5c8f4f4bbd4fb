"""Codegen of trace-mode plans: a recorded :class:`~emberjit.tracing.Trace` -> a compiled Plan.

The plan calls the traced operator's top-level operator calls, in the recorded order except that
calls needing no wait are submitted before calls that must wait for an earlier result (so a
traced fan-out is submitted at once and runs in parallel). Arguments are rebuilt from the new
input by identity and path (see :mod:`emberjit.tracing.recorder`); the output too. When any of
them cannot be rebuilt, :func:`compile_trace` returns no plan and the reason, and the caller runs
``forward`` eagerly. Like ``torch.jit.trace``, the plan replays the traced path: branches and
loop lengths are those of the traced run, guarded by the input's structure and by the numbers
and flags in it that forward's bytecode shows may steer the path (:mod:`.steering`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import networkx as nx

from ..operator import is_pure
from ..tracing.trace import Call, Source, Trace, format_path
from .artifact import Edge, PlanCode, Step, one_line
from .assumptions import Assumption, Assumptions, header
from .plan import Plan, link
from .steering import guarded_inputs, is_number

__all__ = ["compile_trace", "unbuildable_reason"]


_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:-?\d+|'[^'\\\n]*'|\"[^\"\\\n]*\")\])*")


def safe_path(path: str) -> bool:
    """True when ``self.<path>`` is an attribute/index chain safe to write into generated code
    (identifiers, int indices, plain string keys): user names are validated, never trusted."""
    return _PATH.fullmatch(path) is not None


def unbuildable_reason(trace: Trace) -> str | None:
    """Why the trace cannot become a plan (the first call or output that cannot be rebuilt)."""
    for call in trace.top_level():
        if not call.path:
            return (f"call {call.describe()}: the operator is not held by the traced operator "
                    "(made in forward or read from a global), so a plan cannot name it")
        if not safe_path(call.path):
            return (f"call {call.path!r}: an attribute name that is not a Python identifier "
                    "cannot be written into a plan")
        if call.orphan and "." in call.path:
            return (f"call {call.describe()}: made in a thread that did not copy the context, "
                    "so its parent call is unknown")
        if call.source.kind == "unknown":
            return f"call {call.describe()}: its argument was built by glue code: " \
                   f"{call.source.why}"
        if call.error is not None:
            return f"call {call.describe()} raised {call.error}"
    if trace.output.kind == "unknown":
        return f"the output was built by glue code: {trace.output.why}"
    return None


class _Writer:
    """Expressions for sources; ``after`` collects handles held inside built containers."""

    def __init__(self) -> None:
        self.after: list[str] = []
        self.waits: set[int] = set()
        self.direct: set[int] = set()

    def expr(self, src: Source, top: bool = False) -> str:
        if src.kind == "input":
            return "inputs" + format_path(src.path)
        if src.kind == "result":
            if src.path:
                self.waits.add(src.call)
                return f"run.wait(r{src.call}){format_path(src.path)}"
            self.direct.add(src.call)
            if not top and f"r{src.call}" not in self.after:
                self.after.append(f"r{src.call}")
            return f"r{src.call}"
        if src.kind == "attribute":
            return f"self.{src.name}"
        if src.kind == "literal":
            return repr(src.value)
        parts = [self.expr(item) for _, item in src.items]
        if src.container == "dict":
            return "{" + ", ".join(f"{k!r}: {p}" for (k, _), p in
                                   zip(src.items, parts, strict=True)) + "}"
        if src.container == "tuple":
            return "(" + "".join(p + ", " for p in parts) + ")"
        return "[" + ", ".join(parts) + "]"


def _order(calls: list[Call], writers: dict[int, _Writer]) -> list[Call]:
    """Calls by wait depth, then trace order: every call needing no wait is submitted before
    the first wait. Impure calls keep the traced order."""
    if any(not is_pure(c.op) for c in calls):
        return calls
    depth: dict[int, int] = {}
    for call in calls:
        w = writers[call.index]
        depth[call.index] = max([depth[j] + 1 for j in w.waits] +
                                [depth[j] for j in w.direct] + [0])
    return sorted(calls, key=lambda c: (depth[c.index], c.index))


def _input_assumptions(inputs_type: type, sample: Any,
                       guarded: dict[Any, str]) -> list[Assumption]:
    """What a trace plan assumes of the input's structure, and of the values in it that may
    steer the traced path (``guarded``: key -> why; see :mod:`.steering`)."""
    items = [Assumption(f"type(inputs) is {inputs_type.__qualname__}", (
        "    if type(inputs) is not _input_type:",
        "        return f'the input is a {type(inputs).__qualname__}, traced on a "
        "{_input_type.__qualname__}'"), {"_input_type": inputs_type})]
    if inputs_type is dict:
        items.append(Assumption(f"input keys {list(sample)}", (
            "    if tuple(inputs) != _keys:",
            "        return f'the input keys are {list(inputs)}, traced with {list(_keys)}'"),
            {"_keys": tuple(sample)}))
        items.append(Assumption(
            "value types " + ", ".join(type(v).__qualname__ for v in sample.values()), (
                "    if tuple(type(v) for v in inputs.values()) != _types:",
                "        return 'the types of the input values differ from the traced ones'"),
            {"_types": tuple(type(v) for v in sample.values())}))
        for i, (key, why) in enumerate(guarded.items()):
            # the key and value stay in the plan's constants: its source never holds input data
            name = f"_steer{i}"
            items.append(Assumption(f"inputs[{key!r}] equals the traced value: {why}", (
                f"    if inputs[{name}[0]] != {name}[1]:",
                f"        return (f'inputs[{{{name}[0]!r}}] is {{inputs[{name}[0]]!r}}, "
                f"traced with {{{name}[1]!r}}: ' + {why!r})"), {name: (key, sample[key])}))
    elif inputs_type in (list, tuple):
        items.append(Assumption(f"{len(sample)} items of the traced types", (
            "    if tuple(type(v) for v in inputs) != _types:",
            f"        return 'the input length or item types differ (traced: {len(sample)} "
            "items)'"), {"_types": tuple(type(v) for v in sample)}))
    return items


def compile_trace(owner: Any, trace: Trace, sample: Any) -> tuple[Plan, Callable[..., Any]]:
    """The plan of ``trace`` (which :func:`unbuildable_reason` accepted) and its guard
    ``guard(self, inputs) -> reason | None``."""
    calls = trace.top_level()
    writers: dict[int, _Writer] = {}
    args: dict[int, str] = {}
    for call in calls:
        writers[call.index] = w = _Writer()
        args[call.index] = w.expr(call.source, top=True)
    out = _Writer()
    output = out.expr(trace.output, top=True)
    cls = type(owner)
    qualname = f"{cls.__qualname__}.forward"
    name = f"{cls.__name__}__forward__trace"
    body = [f"def {name}(self, inputs, *, run):"]
    for call in _order(calls, writers):
        after = "".join(f", {a}" for a in writers[call.index].after)
        body.append(f"    # {call.describe()}: traced {call.seconds * 1e3:.1f} ms, "
                    f"argument {call.source}"[:99])
        body.append(f"    r{call.index} = run.submit(self.{call.path}, {args[call.index]}"
                    f"{after})")
    body.append(f"    return {output}")
    guarded = guarded_inputs(owner, trace, sample) if type(sample) is dict else {}
    items = _input_assumptions(type(sample), sample, guarded)
    for i, call in enumerate(c for c in calls if c.path):
        stale = f"self.{call.path} is no longer the traced {call.type_name}"
        items.append(Assumption(f"self.{call.path} is the traced {call.type_name}", (
            f"    if self.{call.path} is not _op{i}:", f"        return {stale!r}"),
            {f"_op{i}": call.op}))
    assumed = Assumptions(tuple(items), params="self, inputs")
    qualname = one_line(qualname)
    passed = [k for k, v in sample.items() if is_number(v) and k not in guarded] \
        if type(sample) is dict else []
    details = [f"numbers and flags only passed along, not guarded: "
               f"{', '.join(f'inputs[{k!r}]' for k in passed)}"] if passed else []
    lines = header(f"emberjit plan for {qualname}, mode=trace: replays the traced path "
                   f"({len(calls)} top-level calls; traced in {trace.seconds * 1e3:.1f} ms, "
                   f"critical path {trace.critical_path() * 1e3:.1f} ms)", details, assumed)
    source = "\n".join(lines + body) + "\n\n\n" + assumed.guard_source(f"{name}__guard")
    steps, edges = _steps(calls, writers)
    code = PlanCode(qualname=qualname, mode="trace", source=source, function_name=name,
                    guard_name=f"{name}__guard", binds=assumed.binds,
                    guards=assumed.readable, steps=steps, edges=edges,
                    concurrent=_concurrent(steps, edges),
                    location=f"{cls.__module__}.{cls.__qualname__}",
                    source_sha256=hashlib.sha256(source.encode()).hexdigest())
    plan = link(code, qualname + " (trace)", {}, constants=assumed.constants)
    return plan, plan.guard


def _steps(calls: list[Call], writers: dict[int, _Writer]
           ) -> tuple[tuple[Step, ...], tuple[Edge, ...]]:
    steps = tuple(Step(f"r{call.index}", "call", call.index, f"{call.describe()} <- {call.source}",
                       (f"self.{call.path}",)) for call in calls)
    edges = tuple(Edge(f"r{j}", f"r{call.index}", "data", f"r{j}")
                  for call in calls for j in sorted(writers[call.index].waits
                                                    | writers[call.index].direct))
    return steps, edges


def _concurrent(steps: tuple[Step, ...], edges: tuple[Edge, ...]) -> bool:
    """Two calls may run at once: one does not wait (directly or not) on the other."""
    graph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in steps)
    graph.add_edges_from((e.source, e.target) for e in edges)
    closure = nx.transitive_closure_dag(graph)
    names = [s.name for s in steps]
    return any(not (closure.has_edge(a, b) or closure.has_edge(b, a))
               for i, a in enumerate(names) for b in names[i + 1:])
