"""Continuations: ordinary code of ``forward`` that reads pending results, run when they arrive.

``text = r["text"].strip()`` with ``r`` still pending would make the plan's thread wait; the plan
instead defines the expression as a small nested function named after its line and hands it to
the run with its inputs, so the thread goes on to start independent work:

.. code-block:: python

    # app/rag.py:43  text = r["text"].strip()
    def _L43(r):
        return r["text"].strip()
    text = run.then(_L43, r)

An expression qualifies when it stays in the plan's locals: no call that may act beyond them
(:mod:`emberjit.analysis.effects`), no method that may change what it is called on, no
``lambda``, ``await``, ``yield`` or ``:=``. Operator calls inside it (``m(x)["text"]``) are
started first and their handles become the function's arguments. Every local name the
expression reads is an argument too, so the function sees the values of the moment it was
reached (a loop variable included), never a later rebinding.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import libcst as cst

from ..analysis.effects import READERS
from ..analysis.skeleton import OPERATOR, CallSite
from ..analysis.walk import NameReads, Visitor, comprehension_names
from .signature import free_name

if TYPE_CHECKING:
    from .codegen import PlanWriter
    from .exprs import ExprRewriter
    from .state import State

__all__ = ["Continuable", "accumulates", "changes_receiver", "comprehension_names",
           "continuation", "free_locals", "reads", "settle_if", "settles_locally",
           "update_element"]

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)

class Continuable(Visitor):
    """Whether an expression may run as a continuation, and its operator call sites."""

    def __init__(self, sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
                 local_names: Collection[str], self_name: str | None = None) -> None:
        super().__init__()
        self.sites, self.effects, self.local_names = sites, effects, local_names
        self.self_name = self_name  # self.score(x), not an effect: a method shown pure
        self.ok = True
        self.calls: list[cst.Call] = []  # operator call sites, in evaluation order
        self.depth = 0  # inside a comprehension or a conditional part of the expression

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self.ok = False
        return False

    def visit_Await(self, node: cst.Await) -> bool:
        self.ok = False
        return False

    def visit_Yield(self, node: cst.Yield) -> bool:
        self.ok = False
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        self.ok = False
        return False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _COMPREHENSIONS):
            self.depth += 1
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, _COMPREHENSIONS):
            self.depth -= 1
        super().on_leave(original_node)

    def visit_IfExp(self, node: cst.IfExp) -> bool:
        self.walk(node.test)
        self.depth += 1  # a branch may not be taken: its calls must not start beforehand
        self.walk(node.body)
        self.walk(node.orelse)
        self.depth -= 1
        return False

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> bool:
        self.walk(node.left)
        self.depth += 1  # `a or self.b(x)`: b is called only if a is false
        self.walk(node.right)
        self.depth -= 1
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        site = self.sites.get(node)
        if site is not None:
            if site.kind != OPERATOR or self.depth:  # a helper, one call per element, or a
                self.ok = False  # call in a branch that may not be taken
            self.calls.append(node)
            return False  # its arguments are the call's, rewritten with it
        if node in self.effects or changes_receiver(node, self.local_names, self.self_name):
            self.ok = False
        return True


def changes_receiver(call: cst.Call, local_names: Collection[str],
                     self_name: str | None) -> bool:
    """Whether ``call`` is a method that may change what it is called on: ``xs.append(v)``,
    ``obj.update()`` on a local value (or on something that is not a name); not a reader
    (``strip``, ``get``), nor a method of ``self`` or of a global (the effects analysis
    decides those)."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value in READERS:
        return False
    root: cst.BaseExpression = func.value
    while isinstance(root, cst.Attribute | cst.Subscript):
        root = root.value
    return not isinstance(root, cst.Name) or (root.value in local_names
                                              and root.value != self_name)


def continuation(rw: ExprRewriter, node: cst.CSTNode, result: str | None = None,
                 bound: Mapping[str, cst.BaseExpression] | None = None) -> cst.Call | None:
    """``run.then(_L12, ...)`` for ``node``, or None when it need not (it reads nothing
    pending, starts no call) or may not (see :class:`Continuable`). ``node`` is an expression
    (the function returns its value) or, with ``result``, a statement that updates the local
    ``result`` (``prompt += section``; ``if leaf > best: best = leaf``), after which the
    function returns it. Operator calls in ``node`` start first; their handles and the locals
    it reads are the function's arguments. ``bound``: names of ``node`` whose arguments are
    the given expressions (``_item`` of ``totals[i]``), read by the plan where it is reached."""
    bound = bound or {}
    local_names = set(rw.local_names) | set(bound)
    check = Continuable(rw.sites, rw.effects, local_names, rw.self_name)
    check.walk(node)
    names = free_locals(node, local_names)
    pending = set(names) | {n for e in bound.values() for n in reads(e)}
    if not check.ok or not (check.calls or pending & rw.state.pending):
        return None
    params = [f"_c{i}" for i in range(len(check.calls))]
    body = node.visit(_Replace(dict(zip(check.calls, params, strict=True))))
    assert isinstance(body, cst.CSTNode)
    names = [n for n in free_locals(body, local_names) if n not in params]
    if result is None:
        assert isinstance(body, cst.BaseExpression)
        block: list[cst.BaseStatement] = [cst.SimpleStatementLine([cst.Return(body)])]
    else:
        first = body if isinstance(body, cst.BaseStatement) else cst.SimpleStatementLine(
            [body])  # type: ignore[list-item]  # an AugAssign: a small statement
        block = [first, cst.SimpleStatementLine([cst.Return(cst.Name(result))])]
    name = rw.namer()
    rw.defs.append(cst.FunctionDef(
        name=cst.Name(name),
        params=cst.Parameters(params=[cst.Param(cst.Name(p)) for p in (*params, *names)]),
        body=cst.IndentedBlock(body=block)))
    args = [rw._special(call, rw.sites[call], lazy=True) for call in check.calls]
    rw.lent |= set(names) - set(bound)
    rw.produced = True
    return cst.Call(func=cst.Attribute(cst.Name(rw.run), cst.Name("then")),
                    args=[cst.Arg(cst.Name(name)), *(cst.Arg(a) for a in args),
                          *(cst.Arg(bound.get(n, cst.Name(n))) for n in names)])


class _Local(Visitor):
    """Whether a statement only updates local names: no call sites, no stores into objects,
    no jumps out of it, no definitions."""

    def __init__(self, sites: Mapping[cst.Call, CallSite]) -> None:
        super().__init__()
        self.sites, self.ok = sites, True
        self.written: set[str] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Return | cst.Break | cst.Continue | cst.Raise | cst.Del
                      | cst.FunctionDef | cst.ClassDef | cst.Global | cst.Nonlocal
                      | cst.Try | cst.With | cst.For | cst.While) or (
                isinstance(node, cst.Call) and node in self.sites):
            self.ok = False
        elif isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign):
            target = node.target
            self.ok &= isinstance(target, cst.Name)
            if isinstance(target, cst.Name):
                self.written.add(target.value)
        return self.ok


def settles_locally(stmt: cst.CSTNode, sites: Mapping[cst.Call, CallSite]) -> str | None:
    """The one local name ``stmt`` (an ``if``) updates when that is all it does (no call
    sites, no stores into objects, no jumps), so that it may run later, as a continuation, in
    program order with the other updates of that name; else None."""
    check = _Local(sites)
    check.walk(stmt)
    return next(iter(check.written)) if check.ok and len(check.written) == 1 else None


def accumulates(w: PlanWriter, name: str, state: State) -> bool:
    """Whether an update of ``name`` (``prompt += section``, ``if leaf > best: best = leaf``)
    may run later as a continuation: a bound local, not in a ``try``/``with``, whose object
    nothing else may reach (a str or number; or an object no other name and no running call
    holds, so updating it in place later is seen by no one)."""
    if w.guarded or name not in state.bound:
        return False
    if name in state.aliases.immutable:
        return True
    return name not in state.lent and not any(
        name in inside for inside in state.aliases.inside.values())


def settle_if(w: PlanWriter, stmt: cst.If, state: State) -> list[cst.BaseStatement] | None:
    """``if leaf > best: best = leaf`` on a pending value, updating one local: the whole
    statement becomes a continuation, ``best = run.then(_L45, leaf, best)``; None when it
    may not (see :func:`settles_locally` and :func:`accumulates`)."""
    name = settles_locally(stmt, w.sites)
    if name is None or not accumulates(w, name, state) or not set(reads(stmt)) & state.pending:
        return None
    rw = w.rewriter(state)
    made = continuation(rw, stmt, result=name)
    if made is None:
        return None
    out = w.prelude(rw, state)
    state.lend(rw.lent - {name})
    state.pending.add(name)
    state.handles.discard(name)
    state.origin[name] = w.line_of(stmt)
    assign = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], made)])
    return [*out, *rw.defs, assign]


def update_element(w: PlanWriter, stmt: cst.AugAssign, rw: ExprRewriter
                   ) -> tuple[cst.BaseSmallStatement, bool, str | None] | None:
    """``totals[i] += score(judge(p))`` on a container of immutable values nothing else
    reaches: ``totals[i] = run.then(_L45, totals[i], ...)`` whose function does the ``+=`` on
    the element it is given (the element, a value or a pending handle, is read where the plan
    reaches the statement); None when it may not. As ``PlanWriter._small`` returns: the new
    statement, whether the names it binds are pending, the container it fills."""
    target = stmt.target
    assert isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
    container, state = target.value.value, rw.state
    if w.guarded or container not in state.aliases.scalars or any(
            container in inside for inside in state.aliases.inside.values()):
        return None
    if container in state.pending and container not in state.filled:
        rw.ready.append(container)  # the list itself may be a pending result
    element = target.with_changes(slice=[rw.strict(s) for s in target.slice])
    item = free_name("_item", w.sk.source_text)
    made = continuation(rw, stmt.with_changes(target=cst.Name(item)), result=item,
                        bound={item: element})
    if made is None:
        return None
    state.filled.add(container)
    return cst.Assign([cst.AssignTarget(element)], made), False, container


class _Replace(cst.CSTTransformer):
    """Replaces the given call nodes by names (the continuation's parameters)."""

    def __init__(self, names: dict[cst.Call, str]) -> None:
        super().__init__()
        self.names = names

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = self.names.get(original)
        return cst.Name(name) if name is not None else updated


def reads(expr: cst.CSTNode) -> list[str]:
    """The names ``expr`` reads, in order of first reading, leaving out the variables of its
    own comprehensions, attribute names and keyword names."""
    finder = _FreeReads()
    finder.walk(expr)
    return list(dict.fromkeys(finder.names))


def free_locals(expr: cst.CSTNode, local_names: Collection[str]) -> list[str]:
    """The function's local names ``expr`` reads (see :func:`reads`)."""
    return [n for n in reads(expr) if n in local_names]


class _FreeReads(NameReads):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.scopes: list[set[str]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _COMPREHENSIONS):
            self.scopes.append(comprehension_names(node.for_in))
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, _COMPREHENSIONS):
            self.scopes.pop()
        super().on_leave(original_node)

    def visit_CompFor(self, node: cst.CompFor) -> bool:
        self.walk(node.iter)  # the target binds; the ifs and inner fors read
        for cond in node.ifs:
            self.walk(cond)
        if node.inner_for_in is not None:
            self.walk(node.inner_for_in)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if not any(node.value in scope for scope in self.scopes):
            self.names.append(node.value)


