"""Codegen: from a Skeleton to the readable Python source of a plan function.

The plan is ``forward`` itself, statement for statement, with its operator calls handed to
``run`` (see :mod:`emberjit.runtime.base`) and a wait inserted where ordinary code first reads a
pending result. Every statement carries a comment with its ``file:line`` and original text.
Control flow is kept as written; a ``try`` or ``with`` block runs as one task beside
independent work where it stays in the plan's locals (:mod:`.blocks`), else its calls finish
inside it after every earlier call (:mod:`.guarded`), as eager ones would.
"""

from __future__ import annotations

import linecache
import types
from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst

from ..analysis.env import namespace_of
from ..analysis.skeleton import OPERATOR, Skeleton
from .aliases import NO_MUTATIONS, Mutations, immutable_annotation
from .blocks import write_unit
from .continuations import reads, settle_if
from .exprs import ExprRewriter, _attr, _call
from .guarded import write_guarded
from .hoist import body_waits, hoistable, start_early
from .ledger import Entry
from .plan import one_line
from .signature import free_name, plan_function
from .smalls import rewrite_small
from .state import State
from .statements import (
    deleted,
    ends_flow,
    is_docstring,
    mutated,
    stored_outside,
    target_names,
    written,
)

__all__ = ["PlanWriter"]

def _comment(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment("# " + one_line(text)))


def _line(stmt: cst.BaseSmallStatement) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[stmt])


def _reads(expr: cst.CSTNode) -> set[str]:
    return set(reads(expr))


class PlanWriter:
    """Writes one plan function for one skeleton (helpers get their own writer)."""

    def __init__(self, skeleton: Skeleton, run: str, helper_names: dict[str, str],
                 main: bool, helpers: Mapping[str, Skeleton] | None = None) -> None:
        self.sk, self.run, self.helper_names, self.main = skeleton, run, helper_names, main
        self.helpers = helpers or {}  # the helpers' skeletons, by the name callers use
        self.module = cst.Module(body=[skeleton.node])
        self.guarded = 0  # depth of try/with blocks
        self.sites = dict(skeleton.sites)
        #: lines kept in program order that analysis could not know (mutation after a call)
        self.notes: list[str] = []
        self._current: cst.CSTNode = skeleton.node  # the statement being written
        self.entries: list[Entry] = []  # what explain reports of each call site
        self.guard_lines: list[int] = []  # the try/with blocks being written
        self.local_names = set(skeleton.params) | {
            name for stmt in skeleton.all_statements() for name in stmt.writes}
        self.then_names: set[str] = set()
        self.barrier_lines: list[int] = []  # lines the plan waits for every earlier call at
        self.loops: list[int] = []  # the lines of the loops being written, outermost first
        #: loop line -> the first line in its body that waits for every earlier call
        self.loop_barriers: dict[int, int] = {}
        #: call sites started before their loop -> the loop variable holding their handle
        self.early: dict[cst.Call, str] = {}
        self.early_lines: dict[cst.Call, int] = {}
        self.chained: set[cst.Call] = set()  # early calls started after the ones they read
        self.early_after: dict[cst.Call, tuple[int, ...]] = {}  # their lines
        self.waits = 0  # waits written so far (a loop body that waits may start calls early)
        #: the line of the block being written as a task with a run of its own (0: none)
        self.block_line = 0
        fn: object = skeleton.function
        fn = fn.__func__ if isinstance(fn, types.MethodType) else fn
        self.namespace: Mapping[str, Any] = (namespace_of(fn) if isinstance(
            fn, types.FunctionType) else {})  # what the function's free names refer to

    # -- the function ------------------------------------------------------------------------

    def function(self) -> cst.FunctionDef:
        node = self.sk.node
        params = node.params
        self_name = self.sk.params[0] if self.sk.is_method and self.sk.params else None
        if self.main:
            pending: set[str] = set()
        else:  # a helper's parameters may be pending results of its caller
            pending = {p for p in self.sk.params if p != self_name}
        state = State(pending, set(self.sk.params), set())
        state.aliases.immutable.update(  # def forward(self, question: str)
            p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
            if immutable_annotation(p.annotation))
        self.self_name = self_name
        if isinstance(node.body, cst.SimpleStatementSuite):  # def forward(self, x): return ...
            body: list[cst.BaseStatement] = [cst.SimpleStatementLine(body=[s])
                                             for s in node.body.body]
        else:
            body = [s for s in node.body.body if isinstance(s, cst.BaseStatement)]
        if body and is_docstring(body[0]):
            body = body[1:]
        new_body = self.block(body, state) or [_line(cst.Pass())]
        header = _comment(f"{self.sk.display_path}:{self.sk.first_line}  {self.sk.qualname}")
        return plan_function(self.sk, new_body, self.run, header, self_name, self.main)

    # -- blocks and statements ---------------------------------------------------------------

    def block(self, stmts: Sequence[cst.BaseStatement], state: State) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            out.extend(self.statement(stmt, state))
        return out

    def where(self, node: cst.CSTNode) -> str:
        line = self.line_of(node)
        first = linecache.getline(self.sk.filename, line).strip()
        return f"{self.sk.display_path}:{line}  {first}"

    def line_of(self, node: cst.CSTNode) -> int:
        line = self.sk.lines.get(node)
        if line is None and isinstance(node, cst.SimpleStatementLine) and node.body:
            line = self.sk.lines.get(node.body[0])  # a line made here from a one-line suite
        return line or 0

    def statement(self, stmt: cst.BaseStatement, state: State) -> list[cst.BaseStatement]:
        comment = _comment(self.where(stmt))
        self._current = stmt
        if isinstance(stmt, cst.SimpleStatementLine):
            out: list[cst.BaseStatement] = []
            for small in stmt.body:
                out.extend(self.small(small, state))
        elif isinstance(stmt, cst.BaseCompoundStatement):
            out = self.compound(stmt, state)
        else:
            out = [stmt]
        if out:
            first = out[0]
            out[0] = first.with_changes(leading_lines=[comment])
        return out

    def prelude(self, rw: ExprRewriter, state: State,
                 changes: Mutations = NO_MUTATIONS) -> list[cst.BaseStatement]:
        """Waits before a statement: barriers, then hoisted ``name = run.wait(name)``."""
        out: list[cst.BaseStatement] = []
        if not rw.barrier and state.conflicts(changes):
            names = ", ".join(sorted(changes.names))
            rw.held = (f"line {self.line_of(self._current)} mutates {names}, which a call "
                       "that may still run was given: it waits for the calls before it")
            self.notes.append(rw.held)
        if rw.barrier or state.conflicts(changes):
            out.append(self.barrier())
            state.lent.clear()
        self.waits += len(rw.hoist) + len(rw.ready)
        for name in (n for n in rw.ready if n not in rw.hoist):  # the list, not its elements
            out.append(_line(cst.Assign(
                targets=[cst.AssignTarget(cst.Name(name))],
                value=_call(_attr(self.run, "ready"), cst.Name(name)))))
            state.filled.add(name)  # a real list or dict now; its elements may be pending
        for name in rw.hoist:
            out.append(_line(cst.Assign(
                targets=[cst.AssignTarget(cst.Name(name))],
                value=_call(_attr(self.run, "wait"), cst.Name(name)))))
            state.pending.discard(name)
        return out

    def barrier(self) -> cst.SimpleStatementLine:
        if not self.block_line:  # (a block's own run waits for the block's calls alone)
            self.waits += 1
            line = self.line_of(self._current)
            self.barrier_lines.append(line)  # for explain's critical path
            for loop in self.loops:  # its iterations wait for each other's calls (explain)
                self.loop_barriers.setdefault(loop, line)
        return _line(cst.Expr(_call(_attr(self.run, "barrier"))))

    def rewriter(self, state: State) -> ExprRewriter:
        rw = ExprRewriter(self.sites, self.run, state, self.helper_names,
                          self.self_name, self.sk.effects, self.local_names)
        rw.early, rw.chained = self.early, self.chained
        rw.namer = self._then_name
        return rw

    def _then_name(self) -> str:
        """``_L43`` for a continuation of line 43 (``_L43_2`` for a second one)."""
        return self.fresh_name(f"_L{self.line_of(self._current)}")

    def fresh_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted_2``, ...: a name of the plan's own, used once."""
        stem = free_name(wanted, self.sk.source_text)
        name, n = stem, 1
        while name in self.then_names:
            n += 1
            name = f"{stem}_{n}"
        self.then_names.add(name)
        return name

    def small(self, stmt: cst.BaseSmallStatement, state: State) -> list[cst.BaseStatement]:
        info = self.sk.statement_of.get(stmt)
        changed = mutated(stmt, self.sites, self.sk.effects, self.self_name)
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.target, cst.Name) and \
                stmt.target.value in state.aliases.immutable:
            changed = NO_MUTATIONS  # prompt += tip on a str: a new value, nothing changes
        state.aliases.after(stmt, info.reads if info is not None else frozenset(),
                            set(written(stmt)), changed, state.lent)
        # CONFIG["t"] = 0.7: state that is not the function's own, which running calls may read
        outside = stored_outside(stmt, self.local_names, self.self_name)
        if (info is not None and not info.calls and not info.note and not state.lent
                and not outside and not self.guarded and not (info.reads & state.pending)):
            for name in written(stmt):  # plain Python touching nothing pending: kept as is
                state.bound.add(name)
                state.pending.discard(name)
            if isinstance(stmt, cst.Del):
                state.bound -= deleted(stmt)
            return [_line(stmt)]
        rw = self.rewriter(state)
        rw.then_in_elements = not self.guarded
        # forward's own return is waited for at once; a helper's is its caller's to wait for
        rw.then_ok = rw.then_in_elements and (not self.main or not isinstance(stmt, cst.Return))
        new, becomes_pending, container = rewrite_small(self, stmt, rw)
        if outside and not rw.barrier:
            rw.barrier = True
            rw.held = (f"line {self.line_of(self._current)} changes {', '.join(outside)}, which "
                       "is not the function's own (calls may read it): it runs after every call "
                       "started before it returned, as eagerly")
            self.notes.append(rw.held)
        out = self.prelude(rw, state, changed)
        self.record(rw, state)
        out += rw.defs
        if self.guarded and isinstance(stmt, cst.Return):
            out.append(self.barrier())
        out.append(_line(new))
        state.lend(rw.lent)
        self._after(stmt, state, becomes_pending, container if rw.produced else None)
        return out

    def _after(self, stmt: cst.BaseSmallStatement, state: State, becomes_pending: bool,
               container: str | None) -> None:
        """What the plan knows after a rewritten simple statement: which names it bound are
        pending (one call's handle, or more), which container it filled with pending
        results, what it deleted."""
        single = (becomes_pending and isinstance(stmt, cst.Assign | cst.AnnAssign)
                  and isinstance(stmt.value, cst.Call)
                  and getattr(self.sites.get(stmt.value), "kind", None) == OPERATOR)
        for name in written(stmt):
            state.bound.add(name)
            state.filled.discard(name)
            if becomes_pending:
                state.pending.add(name)
                state.origin[name] = self.line_of(self._current)
            else:
                state.pending.discard(name)
            if single:
                state.handles.add(name)
            else:
                state.handles.discard(name)
        if container is not None:
            # out.append(r) on a list that exists: only its elements are pending (len(out)
            # needs none of them)
            if container in state.bound and (container not in state.pending
                                             or container in state.filled):
                state.filled.add(container)
            state.origin[container] = self.line_of(self._current)
            state.pending.add(container)
            state.handles.discard(container)
        if isinstance(stmt, cst.Del):
            state.bound -= deleted(stmt)

    def record(self, rw: ExprRewriter, state: State, control: bool = False) -> None:
        """Tell the ledger what was done with the call sites ``rw`` rewrote."""
        guard = self.guard_lines[-1] if self.guard_lines and not self.block_line else 0
        line = self.line_of(self._current) if control else 0
        self.entries += [Entry(call, at_once, reads, dict(state.origin), rw.held, guard, line,
                               self.early_lines.get(call, 0), tuple(self.loops),
                               self.early_after.get(call, ()), block=self.block_line)
                         for call, (at_once, reads) in rw.report.items()]

    # -- compound statements -----------------------------------------------------------------

    def compound(self, stmt: cst.BaseCompoundStatement, state: State) -> list[cst.BaseStatement]:
        if isinstance(stmt, cst.If):
            return self._if(stmt, state)
        if isinstance(stmt, cst.For):
            rw = self.rewriter(state)
            iter_ = rw.strict(stmt.iter)
            out = self.prelude(rw, state)
            self.record(rw, state, control=True)
            early = [] if self.guarded else hoistable(
                stmt, self.sites, self.sk.effects, self.local_names, self.self_name,
                self.namespace, self.sk.contexts)
            if early and not body_waits(self, stmt, state):
                early = []  # its iterations never wait: nothing to start early
            target: cst.BaseAssignTargetExpression = stmt.target
            if early:
                iter_, target = start_early(self, stmt, iter_, early, state, out)
            for name in target_names(stmt.target):
                state.pending.discard(name)
                state.bound.add(name)
            state.aliases.bind(target_names(stmt.target), None, _reads(stmt.iter))
            body, orelse = self.loop(stmt, state)
            return [*out, stmt.with_changes(iter=iter_, target=target, body=body,
                                            orelse=orelse)]
        if isinstance(stmt, cst.While):
            rw = self.rewriter(state)
            rw.in_loop_test = True
            body, orelse = self.loop(stmt, state)
            rw.state = state
            test = rw.strict(stmt.test)
            self.record(rw, state, control=True)
            if rw.barrier:  # every evaluation of the test waits: `while run.barrier() or t:`
                test = cst.BooleanOperation(_call(_attr(self.run, "barrier")), cst.Or(),
                                            test)
            return [stmt.with_changes(test=test, body=body, orelse=orelse)]
        if isinstance(stmt, cst.With) and stmt in self.sk.contexts:  # it orders nothing
            rw = self.rewriter(state)
            items = [rw.strict(i) for i in stmt.items]
            out = self.prelude(rw, state)
            return [*out, stmt.with_changes(items=items, body=self.suite(stmt.body, state))]
        if isinstance(stmt, cst.With | cst.Try):
            unit = write_unit(self, stmt, state)
            return write_guarded(self, stmt, state, unit) if isinstance(unit, str) else unit
        # nested def / class: not rewritten; wait for the pending names it refers to
        rw = self.rewriter(state)
        rw.strict(stmt)
        out = self.prelude(rw, state)
        return [*out, stmt]

    def _if(self, stmt: cst.If, state: State) -> list[cst.BaseStatement]:
        as_update = settle_if(self, stmt, state)
        if as_update is not None:
            return as_update
        rw = self.rewriter(state)
        test = rw.strict(stmt.test)
        out = self.prelude(rw, state)
        self.record(rw, state, control=True)
        then_state = state.copy()
        body = self.suite(stmt.body, then_state)
        else_state = state.copy()
        orelse: cst.If | cst.Else | None = None
        if isinstance(stmt.orelse, cst.If):
            branch = self._if(stmt.orelse, else_state)
            orelse = branch[-1] if len(branch) == 1 and isinstance(branch[-1], cst.If) else \
                cst.Else(body=cst.IndentedBlock(body=branch))
        elif stmt.orelse is not None:
            orelse = stmt.orelse.with_changes(body=self.suite(stmt.orelse.body, else_state))
        joined = then_state.join(else_state)
        state.assign(joined)
        return [*out, stmt.with_changes(test=test, body=body, orelse=orelse)]

    def loop(self, stmt: cst.For | cst.While,
              state: State) -> tuple[cst.BaseSuite, cst.Else | None]:
        trial = state.copy()  # a first pass finds what the body leaves pending for the next turn
        names = set(self.then_names)
        self.loops.append(self.line_of(stmt))
        self.suite(stmt.body, trial)
        self.then_names = names  # the pass's output is dropped: so are the names it took
        entry = state.join(trial)
        entry.bound = set(state.bound)
        body = self.suite(stmt.body, entry)
        self.loops.pop()
        after = state.join(entry)
        orelse = None
        if stmt.orelse is not None:
            orelse = stmt.orelse.with_changes(body=self.suite(stmt.orelse.body, after))
        after.bound = state.bound
        state.assign(after)
        return body, orelse

    def suite(self, suite: cst.BaseSuite, state: State, close: bool = False) -> cst.BaseSuite:
        stmts: Sequence[cst.BaseStatement]
        if isinstance(suite, cst.SimpleStatementSuite):
            stmts = [cst.SimpleStatementLine(body=list(suite.body))]
        else:
            stmts = [s for s in suite.body if isinstance(s, cst.BaseStatement)]
        body = self.block(stmts, state)
        if close and not (stmts and ends_flow(stmts[-1])):
            body.append(self.barrier())
            # the calls are done, but the names still hold their handles: later reads wait
            # (at no cost); forgetting them would hand a handle to ordinary code
            state.lent.clear()
        return cst.IndentedBlock(body=body or [_line(cst.Pass())])
