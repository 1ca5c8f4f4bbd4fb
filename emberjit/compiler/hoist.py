"""Which calls of a ``for`` loop start before the loop (``run.ahead``/``run.early``; see
:mod:`emberjit.runtime.early`).

A loop whose body waits for its own call before going on (inside a ``try`` or ``with``, or
before an ``if`` on the result) runs its iterations one after another. When the call's callee
and input depend only on the loop's variables, on names the body never changes, and on
assignments of the body before it (``q = f"facts about {e['name']}"``), every iteration's call
can start before the loop: a small function of the loop's variables computes those assignments
and starts the call (an error computing them is kept), and the body, run as written, takes each
result where it used the call; a failure is raised there, inside the ``try`` that handles it.

Only a body with a block in it (``if``, ``try``, ``with``, a loop) may wait inside an
iteration; a body of simple statements submits its calls and goes on. A call qualifies when it
is an operator call site at the top of the body, of a ``try`` block (not its handlers) or of a
``with`` block in it that sets no context variable, outside conditional parts of its
statement, and no ``continue`` or ``raise`` comes before it (eager makes every call it starts);
its callee, input and the assignments they read are plain expressions (no other call site,
nothing that may act beyond the plan's locals) reading only names the body does not rebind,
fill or mutate (a loop variable: not before the call), each assignment the only binding of its
name. The body has no ``break``, ``return`` or ``yield`` (every iteration runs, as eagerly) and
no effect a call may see (see :mod:`.loopbody`); the loop's iterable is evaluated once to a
list without changing what the body sees (a name, an attribute, ``.items()``, ``range``,
``enumerate``, ``zip``, ``sorted``, or a call of a function that is not a generator).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst

from ..analysis.skeleton import OPERATOR, CallSite
from ..analysis.walk import Visitor
from .continuations import Continuable, reads
from .loopbody import Changes, Exits, skips
from .signature import free_name
from .state import State
from .statements import target_names

if TYPE_CHECKING:
    from .codegen import PlanWriter

__all__ = ["Early", "body_waits", "hoistable", "start_early"]

_SAFE_BUILTINS = frozenset({"range", "enumerate", "zip", "sorted", "reversed", "list", "tuple",
                            "dict", "set"})
_VIEWS = frozenset({"items", "keys", "values"})


@dataclasses.dataclass(frozen=True)
class Early:
    """A call of a loop that starts before it, and the assignments of the body its input
    reads (``q = f"facts about {e}"``), in body order: they run again, for each iteration,
    in the function that starts its call."""

    call: cst.Call
    needs: tuple[cst.Assign, ...] = ()
    #: the earlier early calls whose results its input reads (``r = self.search(e)`` before
    #: ``self.summarize(r["text"])``), and the names holding those results: it starts when they
    #: have finished, its input computed then (a chained call)
    after: tuple[Early, ...] = ()
    results: tuple[str, ...] = ()
    #: ``if not e: continue`` before it, with the assignments their tests read, in body order:
    #: an iteration they skip starts no call
    skips: tuple[cst.Assign | cst.If, ...] = ()


def hoistable(loop: cst.For, sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
              local_names: Collection[str], self_name: str | None,
              namespace: Mapping[str, Any], contexts: Collection[cst.With] = ()) -> list[Early]:
    """The call sites of ``loop`` that may start before it (see the module docstring);
    ``contexts``: the ``with`` blocks that set context variables, whose calls must run inside
    them."""
    body = loop.body
    if not isinstance(body, cst.IndentedBlock) or loop.orelse is not None or not any(
            isinstance(s, cst.If | cst.Try | cst.With | cst.For | cst.While) for s in body.body):
        return []  # simple statements submit their calls and go on: nothing to start early
    exits = Exits(sites, effects, namespace)
    exits.walk(body)
    if exits.found:
        return []
    changes = Changes(body, sites, effects, self_name, namespace)
    if not _safe_iterable(loop.iter, namespace, changes.all):
        return []
    once = changes.bound_once(body)
    check = functools.partial(_needs, sites=sites, effects=effects, local_names=local_names,
                              self_name=self_name)
    loop_vars = set(target_names(loop.target))
    found: list[Early] = []
    prefix: dict[str, cst.Assign] = {}  # name -> the assignment binding it, before the call
    results: dict[str, Early] = {}  # name -> the early call whose result it holds
    guards: list[cst.If] = []  # if not e: continue, before the call
    tops = _top_statements(body.body, contexts)
    position = {id(node): i for i, node in enumerate(tops)}
    for stmt in tops:
        # a loop variable changed after the call is fine: each call got its own value first
        changed = (changes.all - loop_vars) | (loop_vars & (changes.bound | changes.before(stmt)))
        if isinstance(stmt, cst.If):
            got = check((stmt.test,), prefix, changed, results)
            if got is None or got[1]:
                break  # it may skip what follows for reasons not known before the loop
            guards.append(stmt)
            continue
        target = stmt.targets[0].target if isinstance(stmt, cst.Assign) and len(
            stmt.targets) == 1 else None
        name = target.value if isinstance(target, cst.Name) and target.value in once else None
        for call in _calls_at_depth_zero(stmt, sites):
            got = check((call.func, *(a.value for a in call.args)), prefix, changed, results,
                        own=call)
            skips = check(tuple(g.test for g in guards), prefix, changed, results)
            if got is not None and skips is not None:
                needs, after = got
                steps: list[cst.Assign | cst.If] = sorted(
                    (*skips[0], *guards), key=lambda n: position[id(n)])
                early = Early(call, needs, tuple(results[n] for n in after), after,
                              tuple(steps))
                found.append(early)
                if name is not None and isinstance(stmt, cst.Assign) and stmt.value is call:
                    results[name] = early  # r = self.search(q): later calls may read r
        if name is not None and isinstance(stmt, cst.Assign) and name not in results and check(
                (stmt.value,), prefix, changed, results) is not None:
            prefix[name] = stmt
    return found


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


def _top_statements(stmts: Any, contexts: Collection[cst.With],
                    out: list[cst.BaseSmallStatement | cst.If] | None = None
                    ) -> list[cst.BaseSmallStatement | cst.If]:
    """The simple statements at the top of the body, of its ``try`` blocks and ``with``s
    (not those that set context variables: their calls run inside them), and the ``if <test>:
    continue`` guards among them, up to the first statement after which the rest may not run
    (a ``continue`` or ``raise`` otherwise, or a block holding one): a call after it is not
    made in every iteration eagerly, and must not be made before the loop."""
    out = [] if out is None else out
    for stmt in stmts:
        if _skip_guard(stmt):  # if not e: continue: the iterations it skips start no call
            out.append(stmt)
            continue
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Continue | cst.Raise):
                    out.append(_STOP)
                    return out
                out.append(small)
        elif isinstance(stmt, cst.Try | cst.With) and isinstance(
                stmt.body, cst.IndentedBlock) and stmt not in contexts:
            _top_statements(stmt.body.body, contexts, out)
            if out and out[-1] is _STOP:
                return out
        if not isinstance(stmt, cst.SimpleStatementLine) and skips(stmt):
            out.append(_STOP)
            return out
    return out


_STOP = cst.Pass()  # (marks where _top_statements stopped; a Pass holds no call)


def _skip_guard(stmt: cst.BaseStatement) -> bool:
    """``if <test>: continue`` and nothing else."""
    if not isinstance(stmt, cst.If) or stmt.orelse is not None:
        return False
    body = stmt.body
    if isinstance(body, cst.SimpleStatementSuite):  # if not e: continue
        smalls = list(body.body)
    else:
        lines = list(body.body)
        if len(lines) != 1 or not isinstance(lines[0], cst.SimpleStatementLine):
            return False
        smalls = list(lines[0].body)
    return len(smalls) == 1 and isinstance(smalls[0], cst.Continue)


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


def _needs(parts: tuple[cst.BaseExpression, ...], prefix: Mapping[str, cst.Assign],
           changed: set[str], results: Mapping[str, Early], *,
           sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
           local_names: Collection[str], self_name: str | None, own: cst.Call | None = None
           ) -> tuple[tuple[cst.Assign, ...], tuple[str, ...]] | None:
    """The assignments of ``prefix`` that ``parts`` (a call's callee and input, or a value)
    read, in body order, and the names of ``results`` they read, when they read only names
    not in ``changed``, those assignments and those results, and run no other call site
    (None otherwise)."""
    check = Continuable(sites, effects, local_names, self_name)
    for part in parts:
        check.walk(part)
    if not check.ok or any(c is not own for c in check.calls):
        return None
    names = {n for part in parts for n in reads(part)}
    if (names & changed) - prefix.keys() - results.keys():
        return None
    wanted, todo = set(), [n for n in names if n in prefix]
    after = {n for n in names if n in results}
    while todo:  # what the assignments it reads read in turn
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            read = reads(prefix[name].value)
            todo += [n for n in read if n in prefix]
            after |= {n for n in read if n in results}
    return (tuple(stmt for name, stmt in prefix.items() if name in wanted),
            tuple(n for n in results if n in after))


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


def start_early(w: PlanWriter, stmt: cst.For, iter_: cst.BaseExpression, calls: list[Early],
                state: State, out: list[cst.BaseStatement]
                ) -> tuple[cst.BaseExpression, cst.BaseAssignTargetExpression]:
    """``_items_L46 = list(iter)``, then per call that starts before the loop a function
    starting one iteration's call (``def _start_L46(name, lookup): return run.early(lookup,
    inputs)``, after the assignments its input needs) and ``_calls_L46 = [run.ahead(_start_L46,
    name, lookup) for name, lookup in _items_L46]``; returns the loop's new iterable and
    target: ``for (name, lookup), _call_L46 in zip(_items_L46, _calls_L46)``."""
    line = w.line_of(stmt)
    text = w.sk.source_text
    items = free_name(f"_items_L{line}", text)
    out.append(_assign(items, _call("list", iter_)))
    loop_vars = [cst.Name(n) for n in dict.fromkeys(target_names(stmt.target))]
    lists: dict[cst.Call, str] = {}  # call -> the list of its iterations' handles
    names: list[str] = []
    for i, early in enumerate(calls):
        if any(e.call not in lists for e in early.after):
            continue  # a call it reads was not started early after all
        suffix = f"L{line}" + (f"_{i + 1}" if i else "")
        started_list, name = free_name(f"_calls_{suffix}", text), free_name(f"_call_{suffix}", text)
        rw = w.rewriter(state)
        rw.early = {}  # (an outer loop writes this one twice: the call is started anew)
        needs = [rw.strict(a) for a in early.needs]
        started = rw._special(early.call, w.sites[early.call], lazy=True)
        assert isinstance(started, cst.Call) and isinstance(started.func, cst.Attribute)
        if early.after and (len(started.args) != 2 or rw.hoist or rw.ready
                            or set(early.results) & state.pending):
            continue  # its input would wait for values from before the loop: not chained
        out += w.prelude(rw, state)
        out += rw.defs
        handles = [cst.Name(free_name(f"_h{j + 1}_{suffix}", text))
                   for j in range(len(early.after))]
        starter = free_name(f"_start_{suffix}", text)
        out.append(_starter(starter, loop_vars, handles, needs, started, early,
                            free_name(f"_input_{suffix}", text), w.run))
        first = stmt.target
        if handles:  # for (name, lookup), _h1 in zip(_items_L46, _calls_L46)
            first = cst.Tuple([cst.Element(_parenthesized(first)),
                               *(cst.Element(h) for h in handles)], lpar=[], rpar=[])
        iterable = _call("zip", cst.Name(items), *(cst.Name(lists[e.call]) for e in early.after)
                         ) if handles else cst.Name(items)
        out.append(_assign(started_list, cst.ListComp(
            _call(f"{w.run}.ahead", cst.Name(starter), *loop_vars, *handles),
            cst.CompFor(target=first, iter=iterable))))
        w.early[early.call] = name
        w.early_lines[early.call] = line
        if early.after:
            w.chained.add(early.call)
            w.early_after[early.call] = tuple(w.sites[e.call].line for e in early.after)
        lists[early.call] = started_list
        names.append(name)
    target = cst.Tuple([cst.Element(_parenthesized(stmt.target)),
                        *(cst.Element(cst.Name(n)) for n in names)], lpar=[], rpar=[])
    return _call("zip", cst.Name(items), *(cst.Name(n) for n in lists.values())), target


def _parenthesized(target: cst.BaseAssignTargetExpression) -> cst.BaseAssignTargetExpression:
    """``(name, lookup)`` where a loop's tuple target becomes one element of a bigger one."""
    if isinstance(target, cst.Tuple):
        return target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return target


def _starter(name: str, loop_vars: list[cst.Name], handles: list[cst.Name],
             needs: Sequence[cst.BaseSmallStatement], started: cst.Call, early: Early,
             input_name: str, run: str) -> cst.FunctionDef:
    """``def _start_L46(e): q = ...; return run.early(op, {"query": q})``; for a chained call
    ``def _start_L46_2(e, _h1_L46_2): def _input_L46_2(r): ...; return {...}`` and ``return
    run.early_after(op, _input_L46_2, _h1_L46_2)``: its input is computed from the results of
    the calls it reads, once they have finished."""
    lines = [cst.SimpleStatementLine([a]) for a in needs]
    skips: list[cst.BaseStatement] = [  # an iteration skipped by `continue` starts no call
        step.with_changes(body=cst.IndentedBlock([cst.SimpleStatementLine(
            [cst.Return(cst.Name("None"))])])) if isinstance(step, cst.If)
        else cst.SimpleStatementLine([step]) for step in early.skips]
    if not early.after:
        body: list[cst.BaseStatement] = [*skips, *lines, cst.SimpleStatementLine([cst.Return(
            started.with_changes(func=cst.Attribute(cst.Name(run), cst.Name("early"))))])]
    else:
        callee, arg = started.args[0].value, started.args[1].value
        make = cst.FunctionDef(
            name=cst.Name(input_name),
            params=cst.Parameters([cst.Param(cst.Name(r)) for r in early.results]),
            body=cst.IndentedBlock([*lines, cst.SimpleStatementLine([cst.Return(arg)])]))
        body = [*skips, make, cst.SimpleStatementLine([cst.Return(_call(
            f"{run}.early_after", callee, cst.Name(input_name), *handles))])]
    return cst.FunctionDef(name=cst.Name(name),
                           params=cst.Parameters([cst.Param(n) for n in (*loop_vars, *handles)]),
                           body=cst.IndentedBlock(body))


def _call(name: str, *args: cst.BaseExpression) -> cst.Call:
    owner, _, attr = name.rpartition(".")  # "list", or "run.ahead"
    func = cst.Attribute(cst.Name(owner), cst.Name(attr)) if owner else cst.Name(name)
    return cst.Call(func=func, args=[cst.Arg(a) for a in args])


def _assign(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], value)])
