"""Rewriting expressions of ``forward`` into plan expressions.

An operator call becomes ``run.submit(op, arg)`` where its result may stay pending (assigned to
a name, put in a list or dict display, returned, passed to another operator) and
``run.call(op, arg)`` where the value is needed at once. A name that may hold a pending result is
waited for where non-operator code reads it: hoisted before the statement as
``name = run.wait(name)`` when the name is surely bound, wrapped in place otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import libcst as cst

from ..analysis.skeleton import FUNCTION, HELPER, OPAQUE, OPERATOR, CallSite
from ..analysis.walk import Visitor, comprehension_names
from .continuations import continuation, reads
from .state import State

__all__ = ["ExprRewriter"]


def _call(func: cst.BaseExpression, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(func=func, args=[cst.Arg(a) for a in args])


def _attr(obj: str, name: str) -> cst.Attribute:
    return cst.Attribute(value=cst.Name(obj), attr=cst.Name(name))


_DISPLAYS = (cst.List, cst.Tuple, cst.Dict, cst.ListComp, cst.DictComp)


class ExprRewriter:
    """Rewrites the expressions of one statement; collects the names to wait for before it."""

    def __init__(self, sites: dict[cst.Call, CallSite], run: str, state: State,
                 helper_name: dict[str, str], self_name: str | None,
                 effects: Mapping[cst.Call, str] | None = None,
                 local_names: Collection[str] = ()) -> None:
        self.sites, self.run, self.state = sites, run, state
        self.local_names = local_names
        #: ordinary code reading pending values may become a continuation (``run.then``):
        #: set by codegen where a pending result may stand (an assignment, an append)
        self.then_ok = False
        #: ...and in a comprehension's elements (also where the value is returned: the calls
        #: of ``return [m(x)["text"] for m in ms]`` overlap only so)
        self.then_in_elements = False
        self.defs: list[cst.FunctionDef] = []  # the continuations, defined before the statement
        #: call site -> (whether its result is needed at once, the pending names it reads):
        #: what codegen reports for explain (shared with the rewriters of nested arguments)
        self.report: dict[cst.Call, tuple[bool, tuple[str, ...]]] = {}
        self.namer: Callable[[], str] = lambda: "_then"
        self.effects = effects if effects is not None else {}
        self.helper_name, self.self_name = helper_name, self_name
        self.hoist: list[str] = []  # names to wait for before the statement
        self.ready: list[str] = []  # names to wait for, but not for what they hold
        self.produced = False  # the rewritten (lazy) value may hold pending results
        self.lent: set[str] = set()  # names passed to operator calls
        self.barrier = False  # an opaque method of self is called: wait for everything first
        self.held = ""  # why the statement waits for every earlier call (explain says it)
        self.in_loop_test = False  # while tests: wait in place, every evaluation
        #: call sites started before their loop -> the loop variable holding their handle
        self.early: Mapping[cst.Call, str] = {}
        self.chained: Collection[cst.Call] = ()  # of those, started after the calls they read

    # -- entry points ------------------------------------------------------------------------

    def lazy(self, expr: cst.BaseExpression) -> cst.BaseExpression:
        """Rewrite ``expr`` whose value may stay pending (assigned to a plain name, returned)."""
        if isinstance(expr, cst.Call):
            site = self.sites.get(expr)
            if site is not None and site.kind in (OPERATOR, HELPER, FUNCTION):
                self.produced = True
                return self._special(expr, site, lazy=True)
        if isinstance(expr, cst.Name):
            if expr.value in self.state.pending:
                self.produced = True
            return expr
        if isinstance(expr, cst.List | cst.Tuple):
            return expr.with_changes(elements=[self._element(e) for e in expr.elements])
        if isinstance(expr, cst.Dict):
            return expr.with_changes(elements=[self._dict_element(e) for e in expr.elements])
        if isinstance(expr, cst.ListComp):
            return expr.with_changes(elt=self._element_of(expr.elt, expr.for_in),
                                     for_in=self.strict(expr.for_in))
        if isinstance(expr, cst.DictComp):
            return expr.with_changes(key=self.strict(expr.key),
                                     value=self._element_of(expr.value, expr.for_in),
                                     for_in=self.strict(expr.for_in))
        if self.then_ok:
            made = self._then(expr)
            if made is not None:
                return made
        return self.strict(expr)

    def _element_of(self, expr: cst.BaseExpression, for_in: cst.CompFor) -> cst.BaseExpression:
        """A comprehension's element: lazy, and a continuation where allowed (which takes the
        comprehension's variables as arguments, like the function's locals)."""
        top, local_names = self.then_ok, self.local_names
        self.then_ok = top or self.then_in_elements
        self.local_names = set(local_names) | comprehension_names(for_in)
        try:
            return self.lazy(expr)
        finally:
            self.then_ok, self.local_names = top, local_names

    def _then(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """``run.then(_L12, ...)`` for ordinary code that would wait for pending values (see
        :mod:`.continuations`), or None when it need not or may not."""
        return continuation(self, expr)

    def strict(self, node: cst.CSTNodeT) -> cst.CSTNodeT:
        """Rewrite ``node`` whose values are used at once by ordinary Python code."""
        touches = _Touches(self)
        touches.walk(node)
        if not touches.found:  # nothing pending read, no call to start: as written
            return node
        return node.visit(_Strict(self))  # type: ignore[return-value]

    # -- pieces ------------------------------------------------------------------------------

    def _element(self, el: cst.BaseElement) -> cst.BaseElement:
        if isinstance(el, cst.StarredElement):
            return el.with_changes(value=self.strict(el.value))
        return el.with_changes(value=self.lazy(el.value))

    def _dict_element(self, el: cst.BaseDictElement) -> cst.BaseDictElement:
        if isinstance(el, cst.DictElement):
            return el.with_changes(key=self.strict(el.key), value=self.lazy(el.value))
        return el.with_changes(value=self.strict(el.value))

    def wait_name(self, name: cst.Name) -> cst.BaseExpression:
        """A read of ``name`` by ordinary code: hoist a wait, or wait in place."""
        if name.value not in self.state.pending:
            return name
        if name.value in self.state.bound and not self.in_loop_test:
            if name.value not in self.hoist:
                self.hoist.append(name.value)
            return name
        return _call(_attr(self.run, "wait"), name)

    def _special(self, call: cst.Call, site: CallSite, lazy: bool) -> cst.BaseExpression:
        early = self.early.get(call)
        if early is not None:  # started before its loop: take its result (or failure) here
            self.report[call] = (False, ())
            if call in self.chained:  # made here if it could not start early: its input here
                return _call(_attr(self.run, "take"), cst.Name(early), cst.Lambda(
                    cst.Parameters(), self._input(call)))
            return _call(_attr(self.run, "take"), cst.Name(early))
        reads: set[str] = set()
        for arg in call.args:
            reads |= _pending_names(arg.value, self.state.pending)
        self.report[call] = (not lazy, tuple(sorted(reads)))
        if site.kind == OPERATOR:
            return self._operator(call, lazy)
        return self._helper(call, site, lazy)

    def _callee(self, call: cst.Call) -> cst.BaseExpression:
        """The callee as the plan passes it: ``run.leaf(self.model.generate)`` for a leaf that
        is not an operator (see emberjit.leaves), else as written."""
        callee = self.strict(call.func)
        site = self.sites.get(call)
        return _call(_attr(self.run, "leaf"), callee) if site is not None and site.leaf else callee

    def _operator(self, call: cst.Call, lazy: bool) -> cst.BaseExpression:
        site = self.sites[call]
        if not _single_input(call) or (site.leaf and call.args[0].keyword is not None):
            return self._named(call, lazy)
        callee = self._callee(call)
        arg = call.args[0].value
        after: list[cst.BaseExpression] = []
        self._note_lent(arg)
        if isinstance(arg, cst.Name):
            new_arg: cst.BaseExpression = arg  # a pending handle is waited for by the call itself
            if arg.value in self.state.pending and arg.value not in self.state.handles:
                after = [arg]  # it may be a list/dict holding pending calls
        elif isinstance(arg, _DISPLAYS):
            sub = ExprRewriter(self.sites, self.run, self.state, self.helper_name, self.self_name,
                               self.effects)
            sub.report = self.report
            new_arg = sub.lazy(arg)
            if sub.hoist and self.then_in_elements:  # {"text": hits["text"].strip()}: glue
                made = self._then(arg)  # on a pending result becomes the argument's own task
                if made is not None:
                    return self._submit(call, callee, made, [], lazy)
            self.hoist += [n for n in sub.hoist if n not in self.hoist]
            self.barrier |= sub.barrier
            if sub.nested_calls(arg):
                # operator calls inside the display: they start at once, the call waits for them
                new_arg = _call(_attr(self.run, "wait"), new_arg)
            else:
                waited = set(sub.hoist)
                after = [cst.Name(n) for n in sorted(_pending_names(arg, self.state.pending))
                         if n not in waited]
        elif isinstance(arg, cst.Call) and self._is_operator_call(arg):
            # self.a(self.b(x)): b's handle is a's argument, so neither blocks the plan's thread
            new_arg = self._special(arg, self.sites[arg], lazy=True)
        else:
            made = self._then(arg) if self.then_in_elements else None  # f(r["text"]), x + 1
            new_arg = made if made is not None else self.strict(arg)
        return self._submit(call, callee, new_arg, after, lazy)

    def _submit(self, call: cst.Call, callee: cst.BaseExpression, new_arg: cst.BaseExpression,
                after: list[cst.BaseExpression], lazy: bool) -> cst.BaseExpression:
        method = "submit" if lazy else "call"
        args = [cst.Arg(callee), cst.Arg(new_arg)] + [cst.Arg(a) for a in after]
        site = self.sites.get(call)
        if site is not None and site.dynamic:  # enhanced: the callee may not be an operator
            any_call = cst.Call(func=_attr(self.run, "submit_any"), args=args)
            return any_call if lazy else _call(_attr(self.run, "wait"), any_call)
        return cst.Call(func=_attr(self.run, method), args=args)

    def _named(self, call: cst.Call, lazy: bool) -> cst.BaseExpression:
        """``op(question=q, context=c)`` (any shape but one input): ``run.submit(op,
        run.args(question=q, context=c))``; a pending name is passed as it is (the scheduler
        finds it among the inputs), anything else is ordinary code, waited for here."""
        callee = self._callee(call)
        args = []
        for arg in call.args:
            self._note_lent(arg.value)
            plain = isinstance(arg.value, cst.Name) and not arg.star
            args.append(arg if plain else arg.with_changes(value=self.strict(arg.value)))
        inputs = cst.Call(func=_attr(self.run, "args"), args=args)
        return cst.Call(func=_attr(self.run, "submit" if lazy else "call"),
                        args=[cst.Arg(callee), cst.Arg(inputs)])

    def _input(self, call: cst.Call) -> cst.BaseExpression:
        """The input of an operator call as ordinary code computes it: ``x`` of ``op(x)``,
        ``run.args(q, context=c)`` of ``op(q, context=c)``."""
        if _single_input(call):
            return self.strict(call.args[0].value)
        return cst.Call(func=_attr(self.run, "args"),
                        args=[a.with_changes(value=self.strict(a.value)) for a in call.args])

    def _is_operator_call(self, call: cst.Call) -> bool:
        site = self.sites.get(call)
        return site is not None and site.kind == OPERATOR

    def nested_calls(self, expr: cst.CSTNode) -> bool:
        finder = _FindSites(self.sites)
        finder.walk(expr)
        return finder.found

    def _note_lent(self, arg: cst.BaseExpression) -> None:
        self.lent |= set(reads(arg))

    def _helper(self, call: cst.Call, site: CallSite, lazy: bool) -> cst.BaseExpression:
        args = [a.with_changes(value=self.lazy(a.value)) if not a.star
                else a.with_changes(value=self.strict(a.value)) for a in call.args]
        for arg in call.args:  # the helper's calls may read them while they run
            self._note_lent(arg.value)
        me = [] if site.kind == FUNCTION else [cst.Arg(cst.Name(self.self_name or "self"))]
        run_arg = cst.Arg(cst.Name(self.run), keyword=cst.Name(self.run),
                          equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                                cst.SimpleWhitespace("")))
        new: cst.BaseExpression = cst.Call(func=cst.Name(self.helper_name[site.target]),
                                           args=[*me, *args, run_arg])
        if not lazy:
            new = _call(_attr(self.run, "wait"), new)
        return new


def _single_input(call: cst.Call) -> bool:
    """``op(x)`` or ``op(inputs=x)``: the one-input form every operator takes."""
    if len(call.args) != 1:
        return False
    arg = call.args[0]
    return not arg.star and (arg.keyword is None or arg.keyword.value == "inputs")


def _pending_names(expr: cst.CSTNode, pending: set[str]) -> set[str]:
    if not pending:
        return set()
    if isinstance(expr, cst.Name):
        return {expr.value} & pending
    return set(reads(expr)) & pending


class _FindSites(Visitor):
    """Whether an expression holds a call whose rewritten value may be pending: an operator
    call, or a helper's or function's sub-plan (which returns its result lazily)."""

    def __init__(self, sites: dict[cst.Call, CallSite]) -> None:
        super().__init__()
        self.sites = sites
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        site = self.sites.get(node)
        if site is not None and site.kind in (OPERATOR, HELPER, FUNCTION):
            self.found = True


class _Touches(Visitor):
    """Whether :class:`_Strict` would change anything: a call site or a call kept in program
    order, or a name that may be pending (a cheap look before the rebuilding rewrite)."""

    def __init__(self, owner: ExprRewriter) -> None:
        self.owner, self.found = owner, False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Name):
            self.found |= node.value in self.owner.state.pending
        elif isinstance(node, cst.Call):
            self.found |= node in self.owner.sites or node in self.owner.effects
        return not self.found


class _Strict(cst.CSTTransformer):
    """Ordinary code: operator calls are awaited at once, pending names are waited for."""

    def __init__(self, owner: ExprRewriter) -> None:
        super().__init__()
        self.owner = owner
        self.skip: set[int] = set()  # Name nodes that are not reads (attribute names, keywords)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.skip.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_CompFor(self, node: cst.CompFor) -> None:
        _skip_targets(node.target, self.skip)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        _skip_targets(node.target, self.skip)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return True

    def visit_Param(self, node: cst.Param) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        site = self.owner.sites.get(node)
        if site is None:
            sized = _len_of_filled(node, self.owner)
            if sized is not None:  # len(out): the list exists; its elements may stay pending
                self.skip.add(id(sized))
                if sized.value not in self.owner.ready:
                    self.owner.ready.append(sized.value)
            if node in self.owner.effects:  # it runs once every earlier call returned
                self.owner.barrier = True
                self.owner.held = self.owner.held or (
                    f"its line {self.owner.effects[node]}, so it runs after every earlier call "
                    "returned")
            return True
        if site.kind == OPAQUE:
            self.owner.barrier = True
            self.owner.held = self.owner.held or "its line calls a method of self without source"
            return True
        return False  # rewritten whole in leave_Call, with its own rules for the arguments

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        site = self.owner.sites.get(original)
        if site is None or site.kind == OPAQUE:
            return updated
        return self.owner._special(original, site, lazy=False)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if id(original) in self.skip:
            return updated
        return self.owner.wait_name(updated)


def _len_of_filled(call: cst.Call, rw: ExprRewriter) -> cst.Name | None:
    """The name in ``len(name)`` when ``name`` surely holds a real list or dict whose elements
    only may be pending (its length is known without them), else None."""
    if not (isinstance(call.func, cst.Name) and call.func.value == "len"
            and "len" not in rw.local_names and len(call.args) == 1):
        return None
    arg = call.args[0]
    if arg.star or arg.keyword is not None or not isinstance(arg.value, cst.Name):
        return None
    return arg.value if arg.value.value in rw.state.filled else None


def _skip_targets(target: cst.BaseExpression, skip: set[int]) -> None:
    if isinstance(target, cst.Name):
        skip.add(id(target))
    elif isinstance(target, cst.Tuple | cst.List):
        for el in target.elements:
            _skip_targets(el.value, skip)
    elif isinstance(target, cst.StarredElement):
        _skip_targets(target.value, skip)
