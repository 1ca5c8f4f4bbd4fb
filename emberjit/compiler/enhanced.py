"""Enhanced mode: a structural plan plus what one recorded run (a trace) shows.

:func:`enhance` reads the trace against ``forward``'s source (and its helper methods'):

* an *open* call site (one input; the callee is a local variable, an attribute of a helper
  object, a call's result: ``judge(x)``, ``self.tools.search(x)``, ``self.registry.get(n)(x)``)
  that the trace saw calling an operator becomes ``run.submit_any(callee, arg)``: submitted when
  the callee is an operator at run time, else called as eager code would call it. Trace calls
  are matched to source calls by position (``co_positions`` of the calling frame against
  libcst's positions), never by guessing;
* a fan-out over ``self.<collection>`` whose size the trace saw gets the guard
  ``len(self.<collection>) == n``; the loop is kept (it submits every member already);
* operators whose traced calls all took less than ``inline_threshold`` run inline
  (``Run.inline``: the threads scheduler runs them in the thread that makes them ready).
"""

from __future__ import annotations

import linecache
from collections.abc import Sized
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange

from ..analysis.lines import file_positions
from ..analysis.skeleton import OPERATOR, Skeleton
from ..analysis.walk import Visitor
from ..operator import is_pure
from ..tracing.trace import Call, Trace
from .build import Enhancement, analyze

__all__ = ["enhance", "open_calls"]

_Key = tuple[str, int, int, int, int]  # file, line, column, end line, end column (characters)


class _OpenCalls(Visitor):
    """One-input calls that the skeleton did not classify (nested defs and lambdas skipped)."""

    def __init__(self, sites: Any) -> None:
        super().__init__()
        self.sites = sites
        self.found: list[cst.Call] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        if node in self.sites or len(node.args) != 1:
            return
        arg = node.args[0]
        if arg.star or (arg.keyword is not None and arg.keyword.value != "inputs"):
            return
        if _is_open(node.func):
            self.found.append(node)


def _is_open(func: cst.BaseExpression) -> bool:
    """A callee the source leaves open: a plain name (``judge``), an attribute chain through
    an object of ``self`` (``self.tools.search``), or a call's or subscript's result rooted in
    a name (``self.registry.get(name)``, ``table[k]``). Methods of locals (``text.strip``) and
    builtins are skipped by the trace, which records only operator calls."""
    return isinstance(func, cst.Name | cst.Attribute | cst.Call | cst.Subscript)


def open_calls(skeleton: Skeleton) -> list[cst.Call]:
    """The one-input calls of ``skeleton`` whose callee the source does not resolve."""
    finder = _OpenCalls(skeleton.sites)
    finder.walk(skeleton.node.body)
    return finder.found


def _char_col(filename: str, line: int, byte_col: int) -> int:
    raw = linecache.getline(filename, line).encode()[:byte_col]
    return len(raw.decode(errors="ignore"))


def _trace_key(call: Call) -> _Key | None:
    if call.site is None:
        return None
    filename, line, end_line, col, end_col = call.site
    return (filename, line, _char_col(filename, line, col), end_line,
            _char_col(filename, end_line, end_col))


def _node_key(filename: str, pos: CodeRange) -> _Key:
    return filename, pos.start.line, pos.start.column, pos.end.line, pos.end.column


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


def _callee(call: Call) -> str:
    return f"self.{call.path} ({call.type_name})" if call.path else f"a {call.type_name}"


def _resolved(skeletons: list[Skeleton],
              trace: Trace) -> tuple[set[cst.CSTNode], list[str], int]:
    """The open calls the trace saw calling operators, one explain line for each, and how
    many operator calls they made."""
    by_key: dict[_Key, list[Call]] = {}
    for call in trace.top_level():
        key = _trace_key(call)
        if key is not None:
            by_key.setdefault(key, []).append(call)
    dynamic: set[cst.CSTNode] = set()
    notes: list[str] = []
    total = 0
    for sk in skeletons:
        candidates = open_calls(sk)
        positions = file_positions(sk.node, sk.first_line, sk.filename) if candidates else {}
        for node in candidates:
            pos = positions.get(node)
            if pos is None or not (calls := by_key.get(_node_key(sk.filename, pos), [])):
                continue
            dynamic.add(node)
            total += len(calls)
            callees = sorted({_callee(c) for c in calls})
            notes.append(f"resolved: line {pos.start.line} {_code(node)}: the trace saw "
                         f"{_code(node.func)} call {', '.join(callees)} ({len(calls)} "
                         f"call{'s' * (len(calls) != 1)}): run.submit_any (submitted if an "
                         "operator at run time, else called)")
    return dynamic, notes, total


def _fanouts(skeletons: list[Skeleton], owner: Any,
             trace: Trace) -> tuple[tuple[tuple[str, int], ...], list[str]]:
    """Length guards for fan-outs over ``self.<collection>`` whose members the trace saw."""
    lengths: dict[str, int] = {}
    notes: list[str] = []
    paths = [c.path for c in trace.top_level()]
    for sk in skeletons:
        for site in sk.call_sites():
            if site.kind != OPERATOR or not site.fanout or " over " not in site.fanout:
                continue  # only fan-outs over a collection of self have a size to guard
            attr = site.fanout.rsplit(" ", 1)[-1]
            value = getattr(owner, attr, None)
            if attr in lengths or not isinstance(value, Sized):
                continue
            if not any(p.startswith((f"{attr}[", f"{attr}.")) for p in paths):
                continue
            lengths[attr] = n = len(value)
            seen = sum(1 for p in paths if p.startswith(f"{attr}["))
            notes.append(f"fan-out of known size: line {site.line} {site.callee}(...) "
                         f"{site.fanout}: {n} members ({seen} calls traced); the loop already "
                         f"submits every member, so it is kept as written (not unrolled), "
                         f"behind the guard len(self.{attr}) == {n}")
    return tuple(sorted(lengths.items())), notes


def _inline(trace: Trace, threshold: float) -> tuple[frozenset[int], list[str]]:
    """Operators whose traced top-level calls all took less than ``threshold`` seconds."""
    times: dict[int, list[Call]] = {}
    for call in trace.top_level():
        times.setdefault(id(call.op), []).append(call)
    ids: set[int] = set()
    notes: list[str] = []
    for key, calls in times.items():
        op = calls[0].op
        slowest = max(c.seconds for c in calls)
        if slowest >= threshold or not is_pure(op) or any(c.error for c in calls):
            continue
        ids.add(key)
        notes.append(f"inline: {_callee(calls[0])}: {len(calls)} traced "
                     f"call{'s' * (len(calls) != 1)}, slowest {slowest * 1e6:.1f} us "
                     f"< {threshold * 1e6:.0f} us: runs in the thread that makes it ready")
    return frozenset(ids), notes


def enhance(owner: Any, trace: Trace, threshold: float) -> Enhancement:
    """What ``trace`` adds to ``owner``'s structural plan (see the module docstring)."""
    skeletons, _ = analyze(owner)
    dynamic, resolved, calls = _resolved(skeletons, trace)
    if dynamic:  # helpers reached only through resolved calls are analyzed too
        skeletons, _ = analyze(owner, frozenset(dynamic))
    lengths, fanouts = _fanouts(skeletons, owner, trace)
    inline, inlined = _inline(trace, threshold)
    if not resolved:
        resolved = ["resolved: no open call site (the trace saw every operator call at a site "
                    "the source resolves)"]
    return Enhancement(frozenset(dynamic), lengths, inline, (*resolved, *fanouts, *inlined),
                       concurrent=calls > 1)


def _root(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Attribute | cst.Call | cst.Subscript):
        expr = expr.value if isinstance(expr, cst.Attribute | cst.Subscript) else expr.func
    return expr


def _self_chain(expr: cst.BaseExpression) -> list[str] | None:
    """``self.tools.search`` -> ``["tools", "search"]``; None unless an attribute chain on
    ``self``."""
    names: list[str] = []
    while isinstance(expr, cst.Attribute):
        names.insert(0, expr.attr.value)
        expr = expr.value
    return names if isinstance(expr, cst.Name) and expr.value == "self" else None


def _holds_operators(owner: Any) -> bool:
    """``owner`` holds operators: as sub-operators, or inside a plain helper object."""
    from ..operator import Operator, holds_operators

    if holds_operators(owner):
        return True
    for value in vars(owner).values():
        inner = getattr(value, "__dict__", None)
        if isinstance(inner, dict) and not isinstance(value, type):
            for item in inner.values():
                items = item.values() if isinstance(item, dict) else (
                    item if isinstance(item, list | tuple) else (item,))
                if any(isinstance(i, Operator) for i in items):
                    return True
    return False


class _SelfBound(Visitor):
    """Local names assigned a call's or subscript's result rooted in ``self``
    (``judge = self.pick(inputs)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        root = _root(value)
        if isinstance(value, cst.Call | cst.Subscript) and isinstance(root, cst.Name) \
                and root.value == "self":
            self.names.update(t.target.value for t in node.targets
                              if isinstance(t.target, cst.Name))


def leaves_open(owner: Any, skeletons: list[Skeleton]) -> list[str]:
    """Call sites ``auto`` hands to enhanced mode: one-input calls the source leaves open whose
    callee is an operator held by a helper object of ``self`` (``self.tools.search(x)``, checked
    on the instance), or what a method or lookup of ``self`` returns (``self.registry.get(n)(x)``,
    ``judge = self.pick(x); judge(x)``) when ``owner`` holds operators. Without running
    anything this cannot be certain: the trace then decides which sites call operators."""
    from ..operator import Operator

    if isinstance(owner, type) or not hasattr(owner, "sub_operators"):
        return []
    holds = _holds_operators(owner)
    found: list[str] = []
    for sk in skeletons:
        bound = _SelfBound()
        bound.walk(sk.node.body)
        for node in open_calls(sk):
            func = node.func
            chain = _self_chain(func)
            if chain is not None and len(chain) >= 2:
                value: Any = owner
                for name in chain:
                    value = vars(value).get(name) if hasattr(value, "__dict__") else None
                if isinstance(value, Operator):
                    found.append(f"{_code(node)}: an operator held by a helper object")
                continue
            root = _root(func)
            from_self = isinstance(func, cst.Call | cst.Subscript) and \
                isinstance(root, cst.Name) and root.value == "self"
            local = isinstance(func, cst.Name) and func.value in bound.names
            if holds and (from_self or local):
                found.append(f"{_code(node)}: a callee chosen at run time")
    return found
