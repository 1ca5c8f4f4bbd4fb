"""``try`` and ``with`` blocks: their calls finish inside them, as eagerly.

A call that fails inside a ``try`` must fail there, for its handler; a ``with`` block's manager
sees the failures of the calls in it and may time or wrap them. So the plan waits for every
call started before the block (``run.barrier()``), starts the block's calls as usual, and waits
for them at its end; a name the block binds is bound only once its calls succeeded (a failed
call leaves the old value for the handler, as eager code does). Three things avoid the wait:
a block that stays in the plan's locals runs as one task beside independent work
(:mod:`.blocks`), a loop's calls start before the loop (:mod:`.hoist`), and managers that only
set context variables (:mod:`emberjit.analysis.contexts`) leave their blocks as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from .exprs import ExprRewriter
from .state import State

if TYPE_CHECKING:
    from .codegen import PlanWriter

__all__ = ["guarded_body", "settled", "write_guarded"]


def write_guarded(w: PlanWriter, stmt: cst.With | cst.Try, state: State,
                  why: str) -> list[cst.BaseStatement]:
    """The block with a barrier before it and its calls finished at its end; ``why``: why it
    does not run as one task (:mod:`.blocks`), for explain."""
    kind = "with" if isinstance(stmt, cst.With) else "try"
    w.notes.append(f"line {w.line_of(stmt)}: '{kind}' block: it runs after every call started "
                   f"before it, and its calls finish inside it ({why})")
    out: list[cst.BaseStatement] = [w.barrier()]
    state.lent.clear()
    return [*out, *guarded_body(w, stmt, state)]


def guarded_body(w: PlanWriter, stmt: cst.With | cst.Try,
                 state: State) -> list[cst.BaseStatement]:
    """The block with its calls finished at its end (and, for a ``with``, the waits its
    managers need before it), without the barrier before it: what a block with a run of its
    own (:mod:`.blocks`) holds too."""
    out: list[cst.BaseStatement] = []
    w.guarded += 1
    w.guard_lines.append(w.line_of(stmt))
    try:
        if isinstance(stmt, cst.With):
            rw = w.rewriter(state)
            items = [rw.strict(i) for i in stmt.items]
            rw.barrier = False  # the block's own barrier (or its own run) already waited
            out += w.prelude(rw, state)
            w.record(rw, state)
            new: cst.BaseCompoundStatement = stmt.with_changes(
                items=items, body=w.suite(stmt.body, state, close=True))
        else:
            new = _write_try(w, stmt, state)
    finally:
        w.guarded -= 1
        w.guard_lines.pop()
    return [*out, new]


def _write_try(w: PlanWriter, stmt: cst.Try, state: State) -> cst.Try:
    """A ``try``: a handler may start after any statement of the body, so it sees the names
    the body may have left pending; after the statement, every path is joined."""
    entry = state.copy()
    body = w.suite(stmt.body, state, close=True)
    paths = [state]
    handlers = []
    for handler in stmt.handlers:
        h_state = entry.join(state)
        handlers.append(handler.with_changes(body=w.suite(handler.body, h_state, close=True)))
        paths.append(h_state)
    orelse = stmt.orelse and stmt.orelse.with_changes(
        body=w.suite(stmt.orelse.body, state, close=True))
    joined = paths[0]
    for other in paths[1:]:
        joined = joined.join(other)
    state.assign(joined)
    finalbody = stmt.finalbody and stmt.finalbody.with_changes(
        body=w.suite(stmt.finalbody.body, state, close=True))
    return stmt.with_changes(body=body, handlers=handlers, orelse=orelse, finalbody=finalbody)


def settled(w: PlanWriter, value: cst.BaseExpression, rw: ExprRewriter) -> cst.BaseExpression:
    """Inside ``try``/``with``, a name is bound only once its calls succeeded (as in eager
    code, where a failed call leaves the old value for the ``except`` block): the calls still
    start together, and the value is waited for before it is stored."""
    if not (w.guarded and rw.produced):
        return value
    if (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            and value.func.attr.value == "submit"):
        return value.with_changes(func=cst.Attribute(cst.Name(w.run), cst.Name("call")))
    return cst.Call(func=cst.Attribute(cst.Name(w.run), cst.Name("wait")), args=[cst.Arg(value)])
