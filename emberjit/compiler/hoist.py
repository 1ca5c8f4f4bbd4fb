"""Which calls of a ``for`` loop start before the loop (``run.early``; see
:mod:`emberjit.runtime.early`).

A loop whose body waits for its own call before going on (inside a ``try`` or ``with``, or
before an ``if`` on the result) runs its iterations one after another. When the call's callee
and input depend only on the loop's variables and on names the body never changes, every
iteration's call can start before the loop; the body then takes each result where it used the
call, and its failure is raised there, inside the ``try`` that handles it.

Only a body with a block in it (``if``, ``try``, ``with``, a loop) may wait inside an
iteration; a body of simple statements submits its calls and goes on. A call qualifies when it
is an operator call site at the top of the body, of a ``try`` block
(not its handlers) or of a ``with`` block in it, outside conditional parts of its statement; its
callee and input are plain expressions (no other call, nothing that may act beyond the plan's
locals) reading only the loop's variables and names the body does not rebind, fill or mutate;
the body has no ``break``, ``return`` or ``yield`` (every iteration runs, as eagerly); and the
loop's iterable is evaluated once to a list without changing what the body sees (a name, an
attribute, ``.items()``, ``range``, ``enumerate``, ``zip``, ``sorted``, or a call of a function
that is not a generator).
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import libcst as cst

from ..analysis.skeleton import OPERATOR, CallSite
from ..analysis.walk import Visitor
from .continuations import Continuable, reads
from .exprs import State
from .signature import free_name
from .statements import mutated, target_names

if TYPE_CHECKING:
    from .codegen import PlanWriter

__all__ = ["body_waits", "hoistable", "start_early"]

_SAFE_BUILTINS = frozenset({"range", "enumerate", "zip", "sorted", "reversed", "list", "tuple",
                            "dict", "set"})
_VIEWS = frozenset({"items", "keys", "values"})


def hoistable(loop: cst.For, sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
              local_names: Collection[str], self_name: str | None,
              namespace: Mapping[str, Any]) -> list[cst.Call]:
    """The call sites of ``loop`` that may start before it (see the module docstring)."""
    body = loop.body
    if not isinstance(body, cst.IndentedBlock) or loop.orelse is not None or not any(
            isinstance(s, cst.If | cst.Try | cst.With | cst.For | cst.While) for s in body.body):
        return []  # simple statements submit their calls and go on: nothing to start early
    exits = _Exits()
    exits.walk(body)
    if exits.found:
        return []
    changed = _changed(body, sites, effects, self_name)
    if not _safe_iterable(loop.iter, namespace, changed):
        return []
    loop_vars = set(target_names(loop.target))
    found = []
    for stmt in _top_statements(body.body):
        for call in _calls_at_depth_zero(stmt, sites):
            if _invariant(call, sites, effects, local_names, self_name, loop_vars, changed):
                found.append(call)
    return found


class _Exits(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return False
        if isinstance(node, cst.Break | cst.Return | cst.Yield | cst.Await):
            self.found = True
        return not self.found


def _changed(body: cst.IndentedBlock, sites: Mapping[cst.Call, CallSite],
             effects: Mapping[cst.Call, str], self_name: str | None) -> set[str]:
    """Every name the body binds, fills or may mutate (and ``self`` when it stores into it)."""
    finder = _Binds()
    finder.walk(body)
    out = set(finder.names)
    for small in finder.smalls:
        out |= mutated(small, dict(sites), effects, self_name).names
    return out


class _Binds(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.smalls: list[cst.BaseSmallStatement] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseSmallStatement):
            self.smalls.append(node)
        if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For
                      | cst.CompFor):
            target = node.target
            self.names.update(target_names(target) if isinstance(
                target, cst.Name | cst.Tuple | cst.List | cst.StarredElement) else
                {n for n in reads(target)})
        elif isinstance(node, cst.AsName | cst.NamedExpr):
            name = node.name if isinstance(node, cst.AsName) else node.target
            self.names.update(target_names(name))
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            self.names.update(target_names(node.name.name))
        return True


def _safe_iterable(expr: cst.BaseExpression, namespace: Mapping[str, Any],
                   changed: set[str]) -> bool:
    """Whether listing ``expr`` before the loop gives the body what eager iteration gives."""
    if isinstance(expr, cst.Name | cst.Attribute | cst.Subscript):
        return not set(reads(expr)) & changed
    if isinstance(expr, cst.Tuple | cst.List):
        return not set(reads(expr)) & changed
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    args_ok = all(_safe_iterable(a.value, namespace, changed) or not set(reads(a.value))
                  & changed for a in expr.args)
    if isinstance(func, cst.Attribute) and func.attr.value in _VIEWS and not expr.args:
        return _safe_iterable(func.value, namespace, changed)
    if isinstance(func, cst.Name):
        value = namespace.get(func.value)
        if value is None and func.value in _SAFE_BUILTINS:
            return args_ok
        return (inspect.isfunction(value) and not inspect.isgeneratorfunction(value)
                and args_ok and not set(reads(expr)) & changed)
    return False


def _top_statements(stmts: Any) -> list[cst.BaseSmallStatement]:
    """The simple statements at the top of the body, of its ``try`` blocks and ``with``s."""
    out: list[cst.BaseSmallStatement] = []
    for stmt in stmts:
        if isinstance(stmt, cst.SimpleStatementLine):
            out += list(stmt.body)
        elif isinstance(stmt, cst.Try | cst.With) and isinstance(stmt.body, cst.IndentedBlock):
            out += _top_statements(stmt.body.body)
    return out


def _calls_at_depth_zero(stmt: cst.BaseSmallStatement,
                         sites: Mapping[cst.Call, CallSite]) -> list[cst.Call]:
    """The statement's operator call sites that run whenever it does (not in a branch of a
    conditional expression, an ``and``/``or``, a comprehension or a lambda)."""
    check = Continuable(sites, {}, ())
    check.walk(stmt)
    return [c for c in check.calls if sites[c].kind == OPERATOR and not sites[c].dynamic
            and not _conditional(stmt, c)]


def _conditional(stmt: cst.CSTNode, call: cst.Call) -> bool:
    finder = _Conditional(call)
    finder.walk(stmt)
    return finder.inside


class _Conditional(Visitor):
    _GUARDS = (cst.IfExp, cst.BooleanOperation, cst.ListComp, cst.SetComp, cst.DictComp,
               cst.GeneratorExp, cst.Lambda)

    def __init__(self, call: cst.Call) -> None:
        super().__init__()
        self.call, self.depth, self.inside = call, 0, False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node is self.call:
            self.inside = self.depth > 0
            return False
        if isinstance(node, self._GUARDS):
            self.depth += 1
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, self._GUARDS):
            self.depth -= 1


def _invariant(call: cst.Call, sites: Mapping[cst.Call, CallSite],
               effects: Mapping[cst.Call, str], local_names: Collection[str],
               self_name: str | None, loop_vars: set[str], changed: set[str]) -> bool:
    """The call's callee and input read only the loop's variables and unchanged names, and
    run no other code."""
    check = Continuable(sites, effects, local_names, self_name)
    for part in (call.func, *(a.value for a in call.args)):
        check.walk(part)
    if not check.ok or any(c is not call for c in check.calls):
        return False
    names = set(reads(call))
    return not (names - loop_vars) & changed


# -- writing the loop ----------------------------------------------------------------------


def body_waits(w: PlanWriter, stmt: cst.For, state: State) -> bool:
    """Whether the loop's body, written as is, waits on the plan's thread (a barrier, a wait,
    a result needed at once): a dry run whose output is dropped."""
    kept = (w.waits, len(w.entries), len(w.barrier_lines), len(w.notes), set(w.then_names))
    w.loop(stmt, state.copy())
    waits = w.waits > kept[0] or any(e.at_once or e.guard for e in w.entries[kept[1]:])
    w.waits, w.then_names = kept[0], kept[4]
    del w.entries[kept[1]:], w.barrier_lines[kept[2]:], w.notes[kept[3]:]
    return waits


def start_early(w: PlanWriter, stmt: cst.For, iter_: cst.BaseExpression, calls: list[cst.Call],
                state: State, out: list[cst.BaseStatement]
                ) -> tuple[cst.BaseExpression, cst.BaseAssignTargetExpression]:
    """``_items_L46 = list(iter)``, then one ``_calls_L46 = [run.early(op, x) for t in
    _items_L46]`` per call that starts before the loop; returns the loop's new iterable and
    target: ``for t, _call_L46 in zip(_items_L46, _calls_L46)``."""
    line = w.line_of(stmt)
    items = free_name(f"_items_L{line}", w.sk.source_text)
    out.append(_assign(items, _call("list", iter_)))
    lists: list[str] = []
    names: list[str] = []
    for i, call in enumerate(calls):
        suffix = f"L{line}" + (f"_{i + 1}" if i else "")
        started_list = free_name(f"_calls_{suffix}", w.sk.source_text)
        name = free_name(f"_call_{suffix}", w.sk.source_text)
        rw = w.rewriter(state)
        rw.early = {}  # (an outer loop writes this one twice: the call is started anew)
        started = rw._special(call, w.sites[call], lazy=True)
        assert isinstance(started, cst.Call) and isinstance(started.func, cst.Attribute)
        started = started.with_changes(func=started.func.with_changes(attr=cst.Name("early")))
        out += w.prelude(rw, state)
        out += rw.defs
        out.append(_assign(started_list, cst.ListComp(
            started, cst.CompFor(target=stmt.target, iter=cst.Name(items)))))
        w.early[call] = name
        w.early_lines[call] = line
        lists.append(started_list)
        names.append(name)
    first = stmt.target
    if isinstance(first, cst.Tuple):
        first = first.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    target = cst.Tuple([cst.Element(first), *(cst.Element(cst.Name(n)) for n in names)],
                       lpar=[], rpar=[])
    return _call("zip", cst.Name(items), *(cst.Name(n) for n in lists)), target


def _call(name: str, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(func=cst.Name(name), args=[cst.Arg(a) for a in args])


def _assign(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], value)])
