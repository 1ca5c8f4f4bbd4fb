"""Codegen: from a Skeleton to the readable Python source of a plan function.

The plan is ``forward`` itself, statement for statement, with its operator calls handed to
``run`` (see :mod:`emberjit.runtime.base`) and a wait inserted where ordinary code first reads a
pending result. Every statement carries a comment with its ``file:line`` and original text.
Control flow is kept as written; ``try`` and ``with`` blocks are barriers (their calls finish
inside them, as eager ones would).
"""

from __future__ import annotations

import linecache
import types
from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst

from ..analysis.env import namespace_of
from ..analysis.skeleton import OPERATOR, Skeleton, Statement
from .aliases import NO_MUTATIONS, Mutations, immutable_annotation
from .continuations import continuation, reads, settles_locally
from .exprs import ExprRewriter, State, _attr, _call
from .hoist import hoistable
from .ledger import Entry
from .plan import one_line
from .signature import free_name, plan_function_name, plan_parameters
from .statements import (
    append_target,
    deleted,
    ends_flow,
    is_docstring,
    mutated,
    subscript_of_name,
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
                 main: bool) -> None:
        self.sk, self.run, self.helper_names, self.main = skeleton, run, helper_names, main
        self.module = cst.Module(body=[skeleton.node])
        self.guarded = 0  # depth of try/with blocks
        self.sites = dict(skeleton.sites)
        #: lines kept in program order that analysis could not know (mutation after a call)
        self.notes: list[str] = []
        self._current: cst.CSTNode = skeleton.node  # the statement being written
        self.entries: list[Entry] = []  # what explain reports of each call site
        self._guard_lines: list[int] = []  # the try/with blocks being written
        self.local_names = set(skeleton.params) | {
            name for stmt in skeleton.all_statements() for name in stmt.writes}
        self._then_names: set[str] = set()
        self.barrier_lines: list[int] = []  # lines the plan waits for every earlier call at
        #: call sites started before their loop -> the loop variable holding their handle
        self.early: dict[cst.Call, str] = {}
        self.early_lines: dict[cst.Call, int] = {}
        self.waits = 0  # waits written so far (a loop body that waits may start calls early)
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
        new_params, prologue = plan_parameters(params, self.run, self.main and self.sk.is_method,
                                               self.sk.source_text)
        new_body = [*prologue, *new_body]
        header = [_comment(f"{self.sk.display_path}:{self.sk.first_line}  "
                           f"{self.sk.qualname}")]
        if not self.main:  # helpers follow forward in one module: two blank lines (PEP 8)
            header = [cst.EmptyLine(), cst.EmptyLine(), *header]
        return node.with_changes(
            name=cst.Name(plan_function_name(self.sk.qualname)), params=new_params,
            decorators=[], returns=None, body=cst.IndentedBlock(body=new_body),
            leading_lines=header, asynchronous=None)

    # -- blocks and statements ---------------------------------------------------------------

    def block(self, stmts: Sequence[cst.BaseStatement], state: State) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            out.extend(self.statement(stmt, state))
        return out

    def where(self, node: cst.CSTNode) -> str:
        line = self._line_of(node)
        first = linecache.getline(self.sk.filename, line).strip()
        return f"{self.sk.display_path}:{line}  {first}"

    def _line_of(self, node: cst.CSTNode) -> int:
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

    def _prelude(self, rw: ExprRewriter, state: State,
                 changes: Mutations = NO_MUTATIONS) -> list[cst.BaseStatement]:
        """Waits before a statement: barriers, then hoisted ``name = run.wait(name)``."""
        out: list[cst.BaseStatement] = []
        if not rw.barrier and state.conflicts(changes):
            names = ", ".join(sorted(changes.names))
            rw.held = (f"line {self._line_of(self._current)} mutates {names}, which a call "
                       "that may still run was given: it waits for the calls before it")
            self.notes.append(rw.held)
        if rw.barrier or state.conflicts(changes):
            out.append(self._barrier())
            state.lent.clear()
        self.waits += len(rw.hoist)
        for name in rw.hoist:
            out.append(_line(cst.Assign(
                targets=[cst.AssignTarget(cst.Name(name))],
                value=_call(_attr(self.run, "wait"), cst.Name(name)))))
            state.pending.discard(name)
        return out

    def _barrier(self) -> cst.SimpleStatementLine:
        self.waits += 1
        self.barrier_lines.append(self._line_of(self._current))  # for explain's critical path
        return _line(cst.Expr(_call(_attr(self.run, "barrier"))))

    def rewriter(self, state: State) -> ExprRewriter:
        rw = ExprRewriter(self.sites, self.run, state, self.helper_names,
                          self.self_name, self.sk.effects, self.local_names)
        rw.early = self.early
        rw.namer = self._then_name
        return rw

    def _then_name(self) -> str:
        """``_L43`` for a continuation of line 43 (``_L43_2`` for a second one)."""
        stem = free_name(f"_L{self._line_of(self._current)}", self.sk.source_text)
        name, n = stem, 1
        while name in self._then_names:
            n += 1
            name = f"{stem}_{n}"
        self._then_names.add(name)
        return name

    def small(self, stmt: cst.BaseSmallStatement, state: State) -> list[cst.BaseStatement]:
        info = self.sk.statement_of.get(stmt)
        changed = mutated(stmt, self.sites, self.sk.effects, self.self_name)
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.target, cst.Name) and \
                stmt.target.value in state.aliases.immutable:
            changed = NO_MUTATIONS  # prompt += tip on a str: a new value, nothing changes
        self._share(stmt, info, changed, state)
        if (info is not None and not info.calls and not info.note and not state.lent
                and not self.guarded and not (info.reads & state.pending)):
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
        new, becomes_pending, container = self._small(stmt, rw)
        out = self._prelude(rw, state, changed)
        self._record(rw, state)
        out += rw.defs
        if self.guarded and isinstance(stmt, cst.Return):
            out.append(self._barrier())
        out.append(_line(new))
        state.lend(rw.lent)
        single = (becomes_pending and isinstance(stmt, cst.Assign | cst.AnnAssign)
                  and isinstance(stmt.value, cst.Call)
                  and getattr(self.sites.get(stmt.value), "kind", None) == OPERATOR)
        for name in written(stmt):
            state.bound.add(name)
            if becomes_pending:
                state.pending.add(name)
                state.origin[name] = self._line_of(self._current)
            else:
                state.pending.discard(name)
            if single:
                state.handles.add(name)
            else:
                state.handles.discard(name)
        if container is not None and rw.produced:
            state.origin[container] = self._line_of(self._current)
            state.pending.add(container)
            state.handles.discard(container)
        if isinstance(stmt, cst.Del):
            state.bound -= deleted(stmt)
        return out

    def _record(self, rw: ExprRewriter, state: State, control: bool = False) -> None:
        """Tell the ledger what was done with the call sites ``rw`` rewrote."""
        guard = self._guard_lines[-1] if self._guard_lines else 0
        line = self._line_of(self._current) if control else 0
        self.entries += [Entry(call, at_once, reads, dict(state.origin), rw.held, guard, line,
                               self.early_lines.get(call, 0))
                         for call, (at_once, reads) in rw.report.items()]

    @staticmethod
    def _share(stmt: cst.BaseSmallStatement, info: Statement | None, changes: Mutations,
               state: State) -> None:
        """Record which names may now share objects (see :mod:`.aliases`)."""
        reads = info.reads if info is not None else frozenset()
        bound = written(stmt)
        if isinstance(stmt, cst.Assign | cst.AnnAssign) and bound:
            state.rebind(bound)
            state.aliases.bind(bound, stmt.value, reads)
            if isinstance(stmt, cst.AnnAssign) and immutable_annotation(stmt.annotation):
                state.aliases.immutable.update(bound)  # answer: str = ...
        if changes:
            state.aliases.store(changes.names - set(bound) if not isinstance(
                stmt, cst.AugAssign) else changes.names, reads)

    def _small(self, stmt: cst.BaseSmallStatement,
               rw: ExprRewriter) -> tuple[cst.BaseSmallStatement, bool, str | None]:
        """(rewritten, whether written names may now be pending, container filled lazily)."""
        if isinstance(stmt, cst.Assign):
            if all(isinstance(t.target, cst.Name) for t in stmt.targets):
                value = self._settled(rw.lazy(stmt.value), rw)
                return stmt.with_changes(value=value), rw.produced and not self.guarded, None
            if len(stmt.targets) == 1 and subscript_of_name(stmt.targets[0].target):
                target = stmt.targets[0].target
                assert isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
                new_target = target.with_changes(slice=[rw.strict(s) for s in target.slice])
                value = self._settled(rw.lazy(stmt.value), rw)
                return (stmt.with_changes(targets=[cst.AssignTarget(new_target)], value=value),
                        False, None if self.guarded else target.value.value)
            return rw.strict(stmt), False, None
        if isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name) and stmt.value:
            value = self._settled(rw.lazy(stmt.value), rw)
            return stmt.with_changes(value=value), rw.produced and not self.guarded, None
        if isinstance(stmt, cst.Return) and stmt.value is not None and not self.guarded:
            return stmt.with_changes(value=rw.lazy(stmt.value)), False, None
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.target, cst.Name) \
                and self._accumulates(stmt.target.value, rw.state):
            made = continuation(rw, stmt, result=stmt.target.value)  # prompt += section
            if made is not None:
                rw.lent.discard(stmt.target.value)  # the next update takes its handle: in order
                return cst.Assign([cst.AssignTarget(stmt.target)], made), True, None
        if isinstance(stmt, cst.Expr):
            container = append_target(stmt.value)
            if container is not None:
                call = stmt.value
                assert isinstance(call, cst.Call)
                args = [a.with_changes(value=self._settled(rw.lazy(a.value), rw))
                        for a in call.args]
                return (stmt.with_changes(value=call.with_changes(args=args)), False,
                        None if self.guarded else container)
            if isinstance(stmt.value, cst.Call) and stmt.value in rw.sites:
                return stmt.with_changes(value=rw.lazy(stmt.value)), False, None
        return rw.strict(stmt), False, None

    def _accumulates(self, name: str, state: State) -> bool:
        """Whether an update of ``name`` (``prompt += section``, ``if leaf > best: best =
        leaf``) may run later as a continuation: a bound local, not in a ``try``/``with``, whose
        object nothing else may reach (a str or number; or an object no other name and no
        running call holds, so updating it in place later is seen by no one)."""
        if self.guarded or name not in state.bound:
            return False
        if name in state.aliases.immutable:
            return True
        return name not in state.lent and not any(
            name in inside for inside in state.aliases.inside.values())

    def _settled(self, value: cst.BaseExpression, rw: ExprRewriter) -> cst.BaseExpression:
        """Inside ``try``/``with``, a name is bound only once its calls succeeded (as in eager
        code, where a failed call leaves the old value for the ``except`` block): the calls
        still start together, and the value is waited for before it is stored."""
        if not (self.guarded and rw.produced):
            return value
        if (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and value.func.attr.value == "submit"):
            return value.with_changes(func=_attr(self.run, "call"))  # wait(submit(..)) reads worse
        return _call(_attr(self.run, "wait"), value)

    # -- compound statements -----------------------------------------------------------------

    def compound(self, stmt: cst.BaseCompoundStatement, state: State) -> list[cst.BaseStatement]:
        if isinstance(stmt, cst.If):
            return self._if(stmt, state)
        if isinstance(stmt, cst.For):
            rw = self.rewriter(state)
            iter_ = rw.strict(stmt.iter)
            out = self._prelude(rw, state)
            self._record(rw, state, control=True)
            early = [] if self.guarded else hoistable(
                stmt, self.sites, self.sk.effects, self.local_names, self.self_name,
                self.namespace)
            if early and not self._body_waits(stmt, state):
                early = []  # its iterations never wait: nothing to start early
            target: cst.BaseAssignTargetExpression = stmt.target
            if early:
                iter_, target = self._start_early(stmt, iter_, early, state, out)
            for name in target_names(stmt.target):
                state.pending.discard(name)
                state.bound.add(name)
            state.aliases.bind(target_names(stmt.target), None, _reads(stmt.iter))
            body, orelse = self._loop(stmt, state)
            return [*out, stmt.with_changes(iter=iter_, target=target, body=body,
                                            orelse=orelse)]
        if isinstance(stmt, cst.While):
            rw = self.rewriter(state)
            rw.in_loop_test = True
            body, orelse = self._loop(stmt, state)
            rw.state = state
            test = rw.strict(stmt.test)
            self._record(rw, state, control=True)
            if rw.barrier:  # every evaluation of the test waits: `while run.barrier() or t:`
                test = cst.BooleanOperation(_call(_attr(self.run, "barrier")), cst.Or(),
                                            test)
            return [stmt.with_changes(test=test, body=body, orelse=orelse)]
        if isinstance(stmt, cst.With) and stmt in self.sk.contexts:  # it orders nothing
            rw = self.rewriter(state)
            items = [rw.strict(i) for i in stmt.items]
            out = self._prelude(rw, state)
            return [*out, stmt.with_changes(items=items, body=self._suite(stmt.body, state))]
        if isinstance(stmt, cst.With | cst.Try):
            return self._guarded(stmt, state)
        # nested def / class: not rewritten; wait for the pending names it refers to
        rw = self.rewriter(state)
        rw.strict(stmt)
        out = self._prelude(rw, state)
        return [*out, stmt]

    def _body_waits(self, stmt: cst.For, state: State) -> bool:
        """Whether the loop's body, written as is, waits on the plan's thread (a barrier, a
        wait, a result needed at once): a dry run whose output is dropped."""
        kept = (self.waits, len(self.entries), len(self.barrier_lines), len(self.notes),
                set(self._then_names))
        self._loop(stmt, state.copy())
        waits = self.waits > kept[0] or any(e.at_once or e.guard for e in self.entries[kept[1]:])
        self.waits, self._then_names = kept[0], kept[4]
        del self.entries[kept[1]:], self.barrier_lines[kept[2]:], self.notes[kept[3]:]
        return waits

    def _start_early(self, stmt: cst.For, iter_: cst.BaseExpression, calls: list[cst.Call],
                     state: State, out: list[cst.BaseStatement]
                     ) -> tuple[cst.BaseExpression, cst.BaseAssignTargetExpression]:
        """``_items_L46 = list(iter)``, then one ``_calls_L46 = [run.early(op, x) for t in
        _items_L46]`` per call that starts before the loop (see :mod:`.hoist`); returns the
        loop's new iterable and target: ``for t, _call_L46 in zip(_items_L46, _calls_L46)``."""
        line = self._line_of(stmt)
        items = free_name(f"_items_L{line}", self.sk.source_text)
        out.append(_line(cst.Assign([cst.AssignTarget(cst.Name(items))],
                                    _call(cst.Name("list"), iter_))))
        lists: list[str] = []
        names: list[str] = []
        for i, call in enumerate(calls):
            suffix = f"L{line}" + (f"_{i + 1}" if i else "")
            started_list = free_name(f"_calls_{suffix}", self.sk.source_text)
            name = free_name(f"_call_{suffix}", self.sk.source_text)
            rw = self.rewriter(state)
            rw.early = {}  # (an outer loop writes this one twice: the call is started anew)
            started = rw._special(call, self.sites[call], lazy=True)
            assert isinstance(started, cst.Call) and isinstance(started.func, cst.Attribute)
            started = started.with_changes(func=started.func.with_changes(attr=cst.Name("early")))
            out += self._prelude(rw, state)
            out += rw.defs
            comp = cst.ListComp(started, cst.CompFor(target=stmt.target, iter=cst.Name(items)))
            out.append(_line(cst.Assign([cst.AssignTarget(cst.Name(started_list))], comp)))
            self.early[call] = name
            self.early_lines[call] = line
            lists.append(started_list)
            names.append(name)
        first = stmt.target
        if isinstance(first, cst.Tuple):
            first = first.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        target = cst.Tuple([cst.Element(first), *(cst.Element(cst.Name(n)) for n in names)],
                           lpar=[], rpar=[])
        zipped = _call(cst.Name("zip"), cst.Name(items), *(cst.Name(n) for n in lists))
        return zipped, target

    def _if(self, stmt: cst.If, state: State) -> list[cst.BaseStatement]:
        settled = self._settle_if(stmt, state)
        if settled is not None:
            return settled
        rw = self.rewriter(state)
        test = rw.strict(stmt.test)
        out = self._prelude(rw, state)
        self._record(rw, state, control=True)
        then_state = state.copy()
        body = self._suite(stmt.body, then_state)
        else_state = state.copy()
        orelse: cst.If | cst.Else | None = None
        if isinstance(stmt.orelse, cst.If):
            branch = self._if(stmt.orelse, else_state)
            orelse = branch[-1] if len(branch) == 1 and isinstance(branch[-1], cst.If) else \
                cst.Else(body=cst.IndentedBlock(body=branch))
        elif stmt.orelse is not None:
            orelse = stmt.orelse.with_changes(body=self._suite(stmt.orelse.body, else_state))
        joined = then_state.join(else_state)
        state.assign(joined)
        return [*out, stmt.with_changes(test=test, body=body, orelse=orelse)]

    def _settle_if(self, stmt: cst.If, state: State) -> list[cst.BaseStatement] | None:
        """``if leaf > best: best = leaf`` on a pending value, updating one local: the whole
        statement becomes a continuation, ``best = run.then(_L45, leaf, best)``."""
        name = settles_locally(stmt, self.sites)
        if name is None or not self._accumulates(name, state) or not (
                set(reads(stmt)) & state.pending):
            return None
        rw = self.rewriter(state)
        made = continuation(rw, stmt, result=name)
        if made is None:
            return None
        out = self._prelude(rw, state)
        state.lend(rw.lent - {name})
        state.pending.add(name)
        state.handles.discard(name)
        state.origin[name] = self._line_of(stmt)
        assign = _line(cst.Assign([cst.AssignTarget(cst.Name(name))], made))
        return [*out, *rw.defs, assign]

    def _loop(self, stmt: cst.For | cst.While,
              state: State) -> tuple[cst.BaseSuite, cst.Else | None]:
        trial = state.copy()  # a first pass finds what the body leaves pending for the next turn
        names = set(self._then_names)
        self._suite(stmt.body, trial)
        self._then_names = names  # the pass's output is dropped: so are the names it took
        entry = state.join(trial)
        entry.bound = set(state.bound)
        body = self._suite(stmt.body, entry)
        after = state.join(entry)
        orelse = None
        if stmt.orelse is not None:
            orelse = stmt.orelse.with_changes(body=self._suite(stmt.orelse.body, after))
        after.bound = state.bound
        state.assign(after)
        return body, orelse

    def _guarded(self, stmt: cst.With | cst.Try, state: State) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = [self._barrier()]
        state.lent.clear()
        self.guarded += 1
        self._guard_lines.append(self._line_of(stmt))
        try:
            if isinstance(stmt, cst.With):
                rw = self.rewriter(state)
                items = [rw.strict(i) for i in stmt.items]
                rw.barrier = False  # the block's own barrier above already waited
                out += self._prelude(rw, state)
                self._record(rw, state)
                new: cst.BaseCompoundStatement = stmt.with_changes(
                    items=items, body=self._suite(stmt.body, state, close=True))
            else:
                new = self._try(stmt, state)
        finally:
            self.guarded -= 1
            self._guard_lines.pop()
        return [*out, new]

    def _try(self, stmt: cst.Try, state: State) -> cst.Try:
        """A ``try``: a handler may start after any statement of the body, so it sees the names
        the body may have left pending; after the statement, every path is joined."""
        entry = state.copy()
        body = self._suite(stmt.body, state, close=True)
        paths = [state]
        handlers = []
        for handler in stmt.handlers:
            h_state = entry.join(state)
            handlers.append(handler.with_changes(body=self._suite(handler.body, h_state,
                                                                  close=True)))
            paths.append(h_state)
        orelse = stmt.orelse and stmt.orelse.with_changes(
            body=self._suite(stmt.orelse.body, state, close=True))
        joined = paths[0]
        for other in paths[1:]:
            joined = joined.join(other)
        state.assign(joined)
        finalbody = stmt.finalbody and stmt.finalbody.with_changes(
            body=self._suite(stmt.finalbody.body, state, close=True))
        return stmt.with_changes(body=body, handlers=handlers, orelse=orelse,
                                 finalbody=finalbody)

    def _suite(self, suite: cst.BaseSuite, state: State, close: bool = False) -> cst.BaseSuite:
        stmts: Sequence[cst.BaseStatement]
        if isinstance(suite, cst.SimpleStatementSuite):
            stmts = [cst.SimpleStatementLine(body=list(suite.body))]
        else:
            stmts = [s for s in suite.body if isinstance(s, cst.BaseStatement)]
        body = self.block(stmts, state)
        if close and not (stmts and ends_flow(stmts[-1])):
            body.append(self._barrier())
            # the calls are done, but the names still hold their handles: later reads wait
            # (at no cost); forgetting them would hand a handle to ordinary code
            state.lent.clear()
        return cst.IndentedBlock(body=body or [_line(cst.Pass())])
