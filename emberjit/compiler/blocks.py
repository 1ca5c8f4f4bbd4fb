"""``try`` and ``with`` blocks as units of work: one task each, beside independent work.

``try: draft = self.answer(q, docs) except ModelError: draft = ""`` must catch what its call
raises and nothing else, so :mod:`.guarded` waits for every earlier call before such a block
and for the block's calls at its end, and the plan's thread sits there while independent work
waits behind it. When the block stays in the plan's locals, the plan runs it instead as one
task, as written, once the values it reads exist, and goes on:

.. code-block:: python

    # app/rag.py:14  try:
    def _try_L14(self, q, docs):
        try:
            draft = self.answer(q, docs)
        except ModelError:
            draft = ""
        return draft
    draft = run.block(_try_L14, self, q, docs, calls=(self.answer,))

Inside the task the block is eager code: its calls run one after another and its handlers
catch what eager's catch (an earlier call's failure never reaches them: that call is not the
block's, and the run raises it first, in program order). The names it binds become pending
values of the plan (``run.parts`` splits several). A block qualifies when:

- it stays in the plan's locals: no effect (:mod:`emberjit.analysis.effects`), no method that
  may change what it is called on, no store into an object, no ``del``, ``global``,
  ``nonlocal``, ``lambda``, ``:=``, definition, ``await`` or ``yield``; no ``return``, and no
  ``break``/``continue`` of a loop around it;
- the calls of its body form a chain (each reads what an earlier one gave): independent calls
  in one block start together under :mod:`.guarded` instead; so do calls in a loop or a
  comprehension of the block;
- its calls are operator call sites (not calls a loop starts early) whose callee is a name
  or an attribute of one bound before the block, or helper methods of self that stay local as
  the block must and call operators self holds: ``calls=`` hands all those operators to the
  run, and an impure one orders the whole block as an impure call is ordered;
- every local name it reads is surely bound before it; every name it binds is surely bound
  after it, or bound before it (passed in), or used nowhere else in the function (dropped);
- it is not inside a block :mod:`.guarded` writes, and a ``with``'s managers are calls that
  the analysis finds stay local (not objects with state of their own: a lock, a file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from ..analysis.skeleton import HELPER, OPERATOR, CallSite, Skeleton
from ..analysis.walk import NameReads, Visitor
from .continuations import accumulates, changes_receiver, free_locals, reads
from .forked import forked_body, spread_callees
from .ledger import Entry
from .statements import suite_statements, surely_bound, target_names

if TYPE_CHECKING:
    from .codegen import PlanWriter
    from .state import State

__all__ = ["write_unit"]

_NEVER = (cst.Return, cst.Yield, cst.Await, cst.Global, cst.Nonlocal, cst.Del, cst.FunctionDef,
          cst.ClassDef, cst.Lambda, cst.NamedExpr, cst.TryStar, cst.Match)
_KEYWORDS = {cst.Return: "return", cst.Yield: "yield", cst.Await: "await", cst.Global: "global",
             cst.Nonlocal: "nonlocal", cst.Del: "del", cst.FunctionDef: "def",
             cst.ClassDef: "class", cst.Lambda: "lambda", cst.NamedExpr: ":=",
             cst.TryStar: "except*", cst.Match: "match", cst.Break: "break",
             cst.Continue: "continue"}
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def write_unit(w: PlanWriter, stmt: cst.Try | cst.With,
               state: State) -> list[cst.BaseStatement] | str:
    """The block as one task (see the module docstring), or why it does not qualify."""
    if w.guarded:
        return "it is inside a block that waits for every earlier call"
    # the function's last statement: a return inside it returns the function's value, and
    # falling off its end returns None, in the task as in the function
    last = bool(not w.loops and _last_statement(w.sk.node) is stmt)
    unit = _Unit(w.sites, w.sk.effects, w.local_names, w.self_name, {*w.early, *w.chained},
                 helpers=w.helpers, returns=last)
    unit.walk(stmt)
    if unit.why:
        return unit.why
    notes = _chain(suite_statements(stmt.body), w.sites)
    spread = notes is None or unit.spread  # calls that start together: a run of its own
    if spread and unit.helper_calls:
        return (f"it calls {unit.helper_calls[0]}() beside calls that start together inside "
                "it")
    names = free_locals(stmt, w.local_names)
    callees = spread_callees(w, stmt, unit.calls, set(unit.written), state) if spread else []
    why = (callees if isinstance(callees, str) else "") or (
        "" if spread else _callees_unknown(unit, state, w.local_names)) or next(
        (f"it may read {n} before {n} is bound" for n in names
         if n not in state.bound and n not in unit.written), "") or next(
        (f"its 'except ... as {n}' unbinds {n}, bound before it"
         for n in sorted(unit.except_names & state.bound)), "")
    if why:
        return why
    params = [n for n in names if n in state.bound]
    changed = [n for n in unit.changed if n in state.bound]
    if changed and w.loops:  # each iteration's block would wait for the last one's
        return (f"it changes {changed[0]} in a loop (the loop's calls may start before it "
                "instead)")
    owned = next((f"it changes {n}, which another name or a running call may hold" for n in
                  changed if not accumulates(w, n, state)), "")
    if owned:
        return owned
    outputs = [] if last else _outputs(w, stmt, unit, state)
    if isinstance(outputs, str):
        return outputs
    if not last:  # a list it appends to is its output: later code waits for the block
        outputs += [n for n in unit.changed if n in state.bound and n not in outputs]
    if not unit.calls and not any(p in state.pending for p in params) and not last:
        for name in outputs:  # plain code reading nothing pending: it runs here, as written
            state.bound.add(name)
            state.pending.discard(name)
        return [stmt]
    line = w.line_of(stmt)
    if spread:
        assert not isinstance(callees, str)
        inner_run, body = forked_body(w, stmt, params, state)
        out = _write(w, stmt, body, params, outputs, callees, inner_run)
    else:
        w.entries += [Entry(call, False, tuple(p for p in params if p in state.pending),
                            dict(state.origin), block=line, in_block=(notes or {}).get(call, ""))
                      for call in unit.calls]
        callees = list(dict.fromkeys([*(w.module.code_for_node(c.func) for c in unit.calls
                                        if w.sites[c].kind == OPERATOR), *unit.callees]))
        out = _write(w, stmt, [stmt.with_changes(leading_lines=())], params, outputs, callees)
    if last:  # return run.block(...): the block's value is the function's
        start = cst.ensure_type(out[-1], cst.SimpleStatementLine).body[0]
        out[-1] = cst.SimpleStatementLine([cst.Return(cst.ensure_type(start, cst.Expr).value)])
    # the task reads them: a statement mutating one waits for it (not for one the block
    # changes: it is handed back, and the plan waits for that before changing it again)
    state.lend(set(params) - set(unit.changed))
    for name in outputs:
        state.bound.add(name)
        state.pending.add(name)
        state.origin[name] = line
        state.handles.discard(name)
        state.filled.discard(name)
    # what it binds may share objects with what it read; what it changed is what it was
    state.aliases.bind([n for n in outputs if n not in unit.changed], None, params)
    return out


class _Unit(Visitor):
    """Whether a block stays in the plan's locals, its operator calls (in source order) and
    the names it binds."""

    def __init__(self, sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
                 local_names: Collection[str], self_name: str | None,
                 excluded: Collection[cst.Call], helpers: Mapping[str, Skeleton] | None = None,
                 returns: bool = False) -> None:
        super().__init__()
        self.sites, self.effects, self.excluded = sites, effects, excluded
        self.local_names, self.self_name = local_names, self_name
        #: the helpers' skeletons (a helper method of self may run inside the task, when it
        #: stays local itself); None: none may
        self.helpers, self.returns = helpers, returns
        self.why = ""  # why the block may not run as one task ("" while it may)
        self.calls: list[cst.Call] = []
        self.callees: list[str] = []  # the operators the helpers it calls call (as self.x)
        self.helper_calls: list[str] = []  # the helpers it calls, as written
        self.spread = False  # it calls an operator in a loop or comprehension
        #: locals it changes in place (``status.append(...)``): the block's outputs too
        self.changed: dict[str, None] = {}
        self.written: dict[str, None] = {}  # in order of first binding
        self.except_names: set[str] = set()
        self.loops = self.scopes = 0

    def fail(self, why: str) -> None:
        self.why = self.why or why

    def on_visit(self, node: cst.CSTNode) -> bool:
        if ((isinstance(node, _NEVER) and not (self.returns and isinstance(node, cst.Return)))
                or (isinstance(node, cst.Break | cst.Continue) and not self.loops)):
            self.fail(f"it has a '{_KEYWORDS.get(type(node), type(node).__name__)}'")
        elif isinstance(node, cst.For | cst.While | cst.With) and getattr(
                node, "asynchronous", None) is not None:
            self.fail("it has an 'async' statement")
        if self.why:
            return False
        if isinstance(node, cst.For | cst.While):
            self.loops += 1
        elif isinstance(node, _COMPREHENSIONS):
            self.scopes += 1
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.For | cst.While):
            self.loops -= 1
        elif isinstance(original_node, _COMPREHENSIONS):
            self.scopes -= 1
        super().on_leave(original_node)

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Subscript | cst.Attribute):
            self._change(target.value, "it stores into an object (an attribute or an item)")
            return
        if not _plain_target(target):
            self.fail("it stores into an object (an attribute or an item)")
        self.written.update(dict.fromkeys(target_names(target)))

    def _change(self, obj: cst.BaseExpression, why: str) -> None:
        """``obj`` (``status`` of ``status.append(...)``, ``out[k] = v``) changes in place: a
        local of its own may, as the block's output; anything else may not."""
        if isinstance(obj, cst.Name) and obj.value in self.local_names \
                and obj.value != self.self_name:
            self.changed.setdefault(obj.value, None)
        else:
            self.fail(why)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._bind(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> bool:
        item = node.item
        if not isinstance(item, cst.Call) or item in self.sites or item in self.effects:
            self.fail("its context manager is not a call that stays in the plan's locals")
        self.walk(item)
        if node.asname is not None:
            self._bind(node.asname.name)
        return False

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> bool:
        if node.type is not None:
            self.walk(node.type)
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self.except_names.add(node.name.name.value)  # unbound again after the handler
        self.walk(node.body)
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        site = self.sites.get(node)
        if site is not None:
            if site.kind == HELPER and self.helpers is not None and self.self_name:
                callees = _helper_callees(self.helpers.get(site.target), self.self_name)
                if isinstance(callees, str):
                    self.fail(f"it calls {site.callee}(), which {callees}")
                self.callees += callees
            elif site.kind != OPERATOR:
                self.fail(f"it calls {site.callee}(), a sub-plan")
            elif node in self.excluded:
                self.fail(f"its call of {site.callee}() starts before its loop")
            if self.loops or self.scopes:
                self.spread = True  # one call per element: they start together
            if site.kind == HELPER:
                self.helper_calls.append(site.callee)
            self.calls.append(node)
            return True
        if node in self.effects:
            self.fail(self.effects[node])
        elif changes_receiver(node, self.local_names, self.self_name):
            func = cst.ensure_type(node.func, cst.Attribute)
            self._change(func.value, f"it calls .{func.attr.value}(), which may change what "
                                     "it is called on")
        return True


def _last_statement(fn: cst.FunctionDef) -> cst.BaseStatement | None:
    body = fn.body
    return body.body[-1] if isinstance(body, cst.IndentedBlock) and body.body else None


def _helper_callees(helper: Skeleton | None, self_name: str) -> list[str] | str:
    """The operators a helper method of self calls (``self.llm``), when the helper may run
    inside a block's task as written: it stays local as a block must (a ``return`` aside) and
    calls only operators held by self; else why not."""
    if helper is None or not helper.is_method or not helper.params:
        return "is a sub-plan emberjit does not run inside a block"
    own = helper.params[0]
    local_names = set(helper.params) | {n for s in helper.all_statements() for n in s.writes}
    unit = _Unit(helper.sites, helper.effects, local_names, own, (), returns=True)
    unit.walk(helper.node.body)
    if unit.why:
        return unit.why.removeprefix("it ")
    code = cst.Module(body=[]).code_for_node
    callees = []
    for call in unit.calls:
        func: cst.BaseExpression = call.func
        while isinstance(func, cst.Attribute):
            func = func.value
        if not isinstance(func, cst.Name) or func.value != own:
            return "calls an operator it was given"
        callees.append(self_name + code(call.func)[len(own):])
    return callees


def _plain_target(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Name):
        return True
    if isinstance(target, cst.Tuple | cst.List):
        return all(_plain_target(e.value) for e in target.elements)
    return isinstance(target, cst.StarredElement) and _plain_target(target.value)


class _Calls(Visitor):
    """The operator call sites in a statement in the order they run, and those not inside
    another one's inputs."""

    def __init__(self, sites: Mapping[cst.Call, CallSite]) -> None:
        super().__init__()
        self.sites, self.depth = sites, 0
        self.found: list[cst.Call] = []
        self.outer: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if node in self.sites:
            if not self.depth:
                self.outer.append(node)
            self.depth += 1

    def leave_Call(self, original_node: cst.Call) -> None:
        if original_node in self.sites:  # after its inputs: in the order they run
            self.found.append(original_node)
            self.depth -= 1


def _chain(body: Sequence[cst.BaseStatement],
           sites: Mapping[cst.Call, CallSite]) -> dict[cst.Call, str] | None:
    """For each call of the block's body after the first, what it waits for; None when the
    body's calls do not form a chain (two of them do not depend on each other)."""
    derived: dict[str, int] = {}  # name -> the line of the call its value came from
    notes: dict[cst.Call, str] = {}
    last = 0
    for stmt in body:
        calls = _Calls(sites)
        calls.walk(stmt)
        names = set(reads(stmt))
        sources = sorted({derived[n] for n in names if n in derived})
        if len(calls.outer) > 1 or (calls.found and last and not sources):
            return None
        for call in calls.found:
            if last:
                notes[call] = f"runs after the block's call on line {last} returned"
            last = sites[call].line
        if calls.found or sources:
            unit = _Unit(sites, {}, (), None, ())
            unit.walk(stmt)
            derived.update(dict.fromkeys(unit.written, last))
    return notes


def _callees_unknown(unit: _Unit, state: State, local_names: Collection[str]) -> str:
    """Why a call's callee is not a name, or an attribute of one, bound before the block
    (the run evaluates them where the block starts, to know whether each is pure); "" if
    each is."""
    for call in unit.calls:
        func: cst.BaseExpression = call.func
        while isinstance(func, cst.Attribute):
            func = func.value
        if not isinstance(func, cst.Name) or func.value in unit.written or (
                func.value in local_names and func.value not in state.bound):
            return "a callee of it is not a name or attribute bound before it"
    return ""


def _outputs(w: PlanWriter, stmt: cst.Try | cst.With, unit: _Unit,
             state: State) -> list[str] | str:
    """The names the block binds that the plan keeps, or why not: one of them may be left
    unbound and is used elsewhere in the function."""
    surely = surely_bound(stmt)
    outputs = []
    uses: Counter[str] | None = None
    for name in unit.written:
        if name in unit.except_names:
            continue
        if name in state.bound or surely is None or name in surely:
            outputs.append(name)
            continue
        if uses is None:
            uses = _names(w.sk.node)
            uses.subtract(_names(stmt))
        if uses[name] > 0:
            return f"it may leave {name} unbound, and the function uses {name} elsewhere"
    return outputs


class _NameCount(NameReads):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def visit_Name(self, node: cst.Name) -> None:
        self.counts[node.value] += 1


def _names(node: cst.CSTNode) -> Counter[str]:
    """How often each name occurs in ``node`` (read or bound; not attribute names)."""
    count = _NameCount()
    count.walk(node)
    return count.counts


# -- the plan's code -----------------------------------------------------------------------------

def _write(w: PlanWriter, stmt: cst.Try | cst.With, body: list[cst.BaseStatement],
           params: Sequence[str], outputs: Sequence[str], callees: Sequence[str],
           inner_run: str | None = None) -> list[cst.BaseStatement]:
    """``def _try_L14(...)`` holding ``body`` (the block as written, or written with a run of
    its own, ``inner_run``, its first parameter), and the statement starting it."""
    line = w.line_of(stmt)
    name = w.fresh_name(f"_{'try' if isinstance(stmt, cst.Try) else 'with'}_L{line}")
    if outputs:
        body = [*body, cst.parse_statement(f"return {', '.join(outputs)}")]
    names = [inner_run, *params] if inner_run else list(params)
    define = cst.FunctionDef(
        name=cst.Name(name), params=cst.Parameters(params=[cst.Param(cst.Name(p))
                                                           for p in names]),
        body=cst.IndentedBlock(body=body))
    calls = [f"calls=({', '.join(callees)},)"] if callees else []
    method = "fork_block" if inner_run else "block"
    start = f"{w.run}.{method}({', '.join([name, *params, *calls])})"
    if len(outputs) == 1:
        lines = [f"{outputs[0]} = {start}"]
    elif outputs:
        handle = w.fresh_name(f"_L{line}")
        lines = [f"{handle} = {start}",
                 f"{', '.join(outputs)} = {w.run}.parts({handle}, {len(outputs)})"]
    else:
        lines = [start]
    return [define, *(cst.parse_statement(text) for text in lines)]
