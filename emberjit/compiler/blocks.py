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
values of the plan (``run.parts`` splits several). A block qualifies (what it does is read by
:mod:`.blockscan`; what disqualifies it, explain names) when:

- it stays in the plan's locals: no effect (:mod:`emberjit.analysis.effects`), no store into
  or method changing an object other than a local of its own (``status.append(...)``,
  ``found[k] = v`` on a list or dict no other name or running call holds: handed back as one
  of its outputs; not in a loop, where the loop's calls may start before it instead), no
  ``del``, ``global``, ``nonlocal``, ``lambda``, ``:=``, definition, ``await`` or ``yield``; no
  ``break``/``continue`` of a loop around it, and no ``return`` unless it is the function's
  last statement (then ``return run.block(...)``: its value is the function's);
- its calls are operator call sites (not calls a loop starts early) whose callee is a name
  or an attribute of one bound before the block, or helper methods of self that stay local as
  the block must and call operators self holds: ``calls=`` hands all those operators to the
  run, and an impure one orders the whole block as an impure call is ordered. When the calls
  of its body do not form a chain, or run one per element of a loop or comprehension, the
  task gets a run of its own so that they still start together (:mod:`.forked`);
- every local name it reads is surely bound before it; every name it binds is surely bound
  after it, or bound before it (passed in), or used nowhere else in the function (dropped);
- it is not inside a block :mod:`.guarded` writes, and a ``with``'s managers are calls that
  the analysis finds stay local (``contextlib.suppress``; not a lock, a file, a timer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from ..analysis.skeleton import OPERATOR
from ..analysis.walk import NameReads
from .blockscan import BlockScan, Calls, callees_unknown, chain
from .continuations import accumulates, free_locals
from .forked import forked_body, spread_callees
from .ledger import Entry
from .statements import suite_statements, surely_bound

if TYPE_CHECKING:
    from .codegen import PlanWriter
    from .state import State

__all__ = ["write_unit"]

def write_unit(w: PlanWriter, stmt: cst.Try | cst.With,
               state: State) -> list[cst.BaseStatement] | str:
    """The block as one task (see the module docstring), or why it does not qualify."""
    if w.guarded:
        return "it is inside a block that waits for every earlier call"
    # the function's last statement: a return inside it returns the function's value, and
    # falling off its end returns None, in the task as in the function
    last = bool(not w.loops and _last_statement(w.sk.node) is stmt)
    unit = BlockScan(w.sites, w.sk.effects, w.local_names, w.self_name, {*w.early, *w.chained},
                     helpers=w.helpers, returns=last)
    unit.walk(stmt)
    notes = chain(suite_statements(stmt.body), w.sites)
    spread = notes is None or unit.spread  # calls that start together: a run of its own
    callees = spread_callees(w, stmt, unit.calls, set(unit.written), state) if spread else []
    why = unit.why or (callees if isinstance(callees, str) else "") or _why_not(
        w, unit, state, spread)
    outputs = [] if why or last else _outputs(w, stmt, unit, state)
    if why or isinstance(outputs, str) or isinstance(callees, str):
        return why or str(outputs)
    params = [n for n in free_locals(stmt, w.local_names) if n in state.bound]
    outputs += [n for n in unit.changed if n in state.bound and n not in outputs and not last]
    if not unit.calls and not any(p in state.pending for p in params) and not last:
        for name in outputs:  # plain code reading nothing pending: it runs here, as written
            state.bound.add(name)
            state.pending.discard(name)
        return [stmt]
    if spread:
        inner_run, body = forked_body(w, stmt, params, state)
        out = _write(w, stmt, body, params, outputs, callees, inner_run)
    else:
        out = _write_plain(w, stmt, unit, notes or {}, params, outputs, state)
    if last:  # return run.block(...): the block's value is the function's
        start = cst.ensure_type(out[-1], cst.SimpleStatementLine).body[0]
        out[-1] = cst.SimpleStatementLine([cst.Return(cst.ensure_type(start, cst.Expr).value)])
    _commit(state, unit, params, outputs, w.line_of(stmt))
    return out


def _why_not(w: PlanWriter, unit: BlockScan, state: State, spread: bool) -> str:
    """Why a block that stays local may still not run as one task ("" when it may): what it
    reads and binds, the callees it names, the locals it changes in place."""
    names = free_locals(unit.node, w.local_names) if unit.node is not None else []
    changed = [n for n in unit.changed if n in state.bound]
    if spread and unit.helper_calls:
        return f"it calls {unit.helper_calls[0]}() beside calls that start together inside it"
    return ("" if spread else callees_unknown(unit, state, w.local_names)) or next(
        (f"it may read {n} before {n} is bound" for n in names
         if n not in state.bound and n not in unit.written), "") or next(
        (f"its 'except ... as {n}' unbinds {n}, bound before it"
         for n in sorted(unit.except_names & state.bound)), "") or (
        # each iteration's block would wait for the last one's
        f"it changes {changed[0]} in a loop (the loop's calls may start before it instead)"
        if changed and w.loops else "") or next(
        (f"it changes {n}, which another name or a running call may hold" for n in changed
         if not accumulates(w, n, state)), "")


def _write_plain(w: PlanWriter, stmt: cst.Try | cst.With, unit: BlockScan,
                 notes: Mapping[cst.Call, str], params: Sequence[str], outputs: Sequence[str],
                 state: State) -> list[cst.BaseStatement]:
    """The block as written, in a task (its calls made in order inside it), and what the
    ledger says of each of its calls."""
    in_body = Calls(w.sites)
    in_body.walk(stmt.body)
    after = "runs after the block's body, in its except, else or finally part, as eagerly"
    w.entries += [Entry(call, False, tuple(p for p in params if p in state.pending),
                        dict(state.origin), block=w.line_of(stmt),
                        in_block=notes.get(call, "") if call in in_body.found else after)
                  for call in unit.calls]
    callees = list(dict.fromkeys([*(w.module.code_for_node(c.func) for c in unit.calls
                                    if w.sites[c].kind == OPERATOR), *unit.callees]))
    return _write(w, stmt, [stmt.with_changes(leading_lines=())], params, outputs, callees)


def _commit(state: State, unit: BlockScan, params: Sequence[str], outputs: Sequence[str],
            line: int) -> None:
    """What the plan knows after the block's task started: what it binds (and the locals it
    changed) are pending results of its line."""
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


def _last_statement(fn: cst.FunctionDef) -> cst.BaseStatement | None:
    body = fn.body
    return body.body[-1] if isinstance(body, cst.IndentedBlock) and body.body else None


def _outputs(w: PlanWriter, stmt: cst.Try | cst.With, unit: BlockScan,
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
