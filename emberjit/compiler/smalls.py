"""How each kind of simple statement of ``forward`` is rewritten: an assignment whose value may
stay pending, a store into one element, an update of one local that reads a pending result (a
continuation), a container filled by ``append``, a return; anything else is ordinary code whose
values are used at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from .continuations import accumulates, continuation, update_element
from .exprs import ExprRewriter
from .guarded import settled
from .statements import append_target, subscript_of_name

if TYPE_CHECKING:
    from .codegen import PlanWriter

__all__ = ["rewrite_small"]


def rewrite_small(w: PlanWriter, stmt: cst.BaseSmallStatement,
                  rw: ExprRewriter) -> tuple[cst.BaseSmallStatement, bool, str | None]:
    """(rewritten, whether written names may now be pending, container filled lazily)."""
    if isinstance(stmt, cst.Assign):
        if all(isinstance(t.target, cst.Name) for t in stmt.targets):
            value = settled(w, rw.lazy(stmt.value), rw)
            return stmt.with_changes(value=value), rw.produced and not w.guarded, None
        if len(stmt.targets) == 1 and subscript_of_name(stmt.targets[0].target):
            target = stmt.targets[0].target
            assert isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
            _ready(target.value.value, rw)
            new_target = target.with_changes(slice=[rw.strict(s) for s in target.slice])
            value = settled(w, rw.lazy(stmt.value), rw)
            return (stmt.with_changes(targets=[cst.AssignTarget(new_target)], value=value),
                    False, None if w.guarded else target.value.value)
        return rw.strict(stmt), False, None
    if isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name) and stmt.value:
        value = settled(w, rw.lazy(stmt.value), rw)
        return stmt.with_changes(value=value), rw.produced and not w.guarded, None
    if isinstance(stmt, cst.Return) and stmt.value is not None and not w.guarded:
        return stmt.with_changes(value=rw.lazy(stmt.value)), False, None
    if isinstance(stmt, cst.AugAssign) and isinstance(stmt.target, cst.Name) \
            and accumulates(w, stmt.target.value, rw.state):
        made = continuation(rw, stmt, result=stmt.target.value)  # prompt += section
        if made is not None:
            rw.lent.discard(stmt.target.value)  # the next update takes its handle: in order
            return cst.Assign([cst.AssignTarget(stmt.target)], made), True, None
    if isinstance(stmt, cst.AugAssign) and subscript_of_name(stmt.target):
        made_item = update_element(w, stmt, rw)  # totals[i] += score(...)
        if made_item is not None:
            return made_item
    if isinstance(stmt, cst.Expr):
        container = append_target(stmt.value)
        if container is not None:
            _ready(container, rw)
            call = stmt.value
            assert isinstance(call, cst.Call)
            args = [a.with_changes(value=settled(w, rw.lazy(a.value), rw))
                    for a in call.args]
            return (stmt.with_changes(value=call.with_changes(args=args)), False,
                    None if w.guarded else container)
        if isinstance(stmt.value, cst.Call) and stmt.value in rw.sites:
            return stmt.with_changes(value=rw.lazy(stmt.value)), False, None
    return rw.strict(stmt), False, None


def _ready(container: str, rw: ExprRewriter) -> None:
    """``out.append(v)``, ``out[k] = v``: the list or dict itself must exist first (a block
    that changed it in place hands it back as a pending result); its elements may stay
    pending."""
    if container in rw.state.pending and container not in rw.state.filled \
            and container not in rw.ready:
        rw.ready.append(container)
