"""Small functions defined inside ``forward``, inlined where ``forward`` calls them.

``def ask(angle): return self.answer({"query": f"{prefix} {angle}"})["text"]`` followed by
``[ask(a) for a in ANGLES]`` hides the operator call from the plan (a local callable runs in
program order). When the function returns one expression and ``forward`` only ever calls it
directly, each call ``ask(a)`` is the expression with ``angle`` replaced by ``a``: evaluated
where the call is, as the closure would evaluate it (a closure reads the enclosing variables
when it is called). Assignments before the ``return`` are folded into it: ``prompt = f"{topic}:
{angle}"; reply = self.llm(prompt); return reply["text"]`` returns
``self.llm(f"{topic}: {angle}")["text"]``, when each binds a new name used exactly once after it
and the calls stay in their order. The ``def`` itself stays in the plan as written.

A function qualifies when it is defined at the top of ``forward``'s body, takes plain positional
parameters (no defaults, no ``*args``), is not decorated or async, returns one expression (after
foldable assignments) with no lambda or comprehension in it and no call of itself; ``forward``
binds its name once, uses it only in direct calls after the ``def``, with as many arguments, each
a name or a number (or a str, when the expression holds no f-string); and no comprehension of
``forward`` binds a name the expression reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libcst as cst

from .walk import Visitor

__all__ = ["inline_local_functions"]


def inline_local_functions(fnode: cst.FunctionDef,
                           lines: dict[cst.CSTNode, int]) -> cst.FunctionDef:
    """``fnode`` with the calls of its inlinable local functions replaced (see the module
    docstring); ``lines`` (node -> source line) gains the new statements' lines."""
    if not isinstance(fnode.body, cst.IndentedBlock):
        return fnode
    body = list(fnode.body.body)
    found: dict[str, tuple[list[str], cst.BaseExpression]] = {}
    for index, stmt in enumerate(body):
        fn = _simple(stmt) if isinstance(stmt, cst.FunctionDef) else None
        if fn is None:
            continue
        assert isinstance(stmt, cst.FunctionDef)
        strings = not _has_fstring(fn[1])  # a str inside an f-string may clash with its quotes
        if _calls_only_after(fnode, stmt.name.value, index, len(fn[0]), strings) and not (
                (_reads(fn[1]) - set(fn[0])) & _comprehension_names(fnode)):
            found[stmt.name.value] = fn
    if not found:
        return fnode
    new = fnode.visit(_Inline(found, lines))
    assert isinstance(new, cst.FunctionDef)
    return new


def _simple(fn: cst.FunctionDef) -> tuple[list[str], cst.BaseExpression] | None:
    """(parameters, returned expression) of a function that is one ``return``."""
    params = fn.params
    if (fn.decorators or fn.asynchronous or not isinstance(params.star_arg, cst.MaybeSentinel)
            or params.star_kwarg or params.kwonly_params or params.posonly_params
            or any(p.default is not None for p in params.params)):
        return None
    small: list[cst.BaseSmallStatement]
    if isinstance(fn.body, cst.IndentedBlock):
        stmts = list(fn.body.body)
        if stmts and _docstring(stmts[0]):
            stmts = stmts[1:]
        if not all(isinstance(s, cst.SimpleStatementLine) for s in stmts):
            return None
        small = [s for line in stmts for s in line.body]  # type: ignore[attr-defined]
    elif isinstance(fn.body, cst.SimpleStatementSuite):  # def ask(q): return ...
        small = list(fn.body.body)
    else:
        return None
    if not small or not isinstance(small[-1], cst.Return) or small[-1].value is None:
        return None
    names = [p.name.value for p in params.params]
    expr = _fold(small[:-1], small[-1].value, {*names, fn.name.value})
    if expr is None:
        return None
    check = _Plain(fn.name.value)
    check.walk(expr)
    return (names, expr) if check.ok else None


def _fold(assigns: list[cst.BaseSmallStatement], value: cst.BaseExpression,
          reserved: set[str]) -> cst.BaseExpression | None:
    """The returned expression with each local assignment before it substituted at its one
    use (``prompt = f"{topic}: {a}"; reply = self.llm(prompt); return reply["text"]`` is
    ``self.llm(f"{topic}: {a}")["text"]``), or None: every statement must be ``name = value``
    binding a new name used exactly once later, and the calls must keep their order."""
    if not assigns:
        return value
    bound: dict[str, cst.BaseExpression] = {}
    for stmt in assigns:
        if not (isinstance(stmt, cst.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0].target, cst.Name)):
            return None
        name = stmt.targets[0].target.value
        if name in bound or name in reserved:
            return None
        bound[name] = stmt.value
    later = [*(a.value for a in assigns[1:]), value]  # type: ignore[attr-defined]
    for i, name in enumerate(bound):
        if sum(_count(expr, name) for expr in later[i:]) != 1 or any(
                _count(expr, name) for expr in list(bound.values())[:i + 1]):
            return None
    folded = value
    for name, expr in reversed(bound.items()):
        new = folded.visit(_Substitute({name: expr.with_changes(
            lpar=[cst.LeftParen()], rpar=[cst.RightParen()])}))
        assert isinstance(new, cst.BaseExpression)
        folded = new
    order = [c for a in assigns for c in _calls_of(a.value, {})]  # type: ignore[attr-defined]
    return folded if _calls_of(value, bound) == order + _calls_of(value, {}) else None


def _count(expr: cst.CSTNode, name: str) -> int:
    finder = _Reads(name)
    finder.walk(expr)
    return finder.count


class _NotReads:
    """Notes the names that are not reads: an attribute's (``x.name``), a keyword's
    (``f(name=1)``); for visitors and transformers alike (their ``skip``)."""

    skip: set[int]

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.skip.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))


class _Reads(_NotReads, Visitor):
    """How often ``name`` is read."""

    def __init__(self, name: str) -> None:
        self.name, self.count = name, 0
        self.skip = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.count += node.value == self.name and id(node) not in self.skip


def _calls_of(expr: cst.CSTNode, bound: Mapping[str, cst.BaseExpression]) -> list[int]:
    """The calls ``expr`` makes (their nodes' ids) in the order Python makes them (a call after
    its callee and arguments), with each read of a name in ``bound`` making the calls of its
    value there: the order of the folded expression."""
    finder = _CallOrder(bound)
    finder.walk(expr)
    return finder.order


class _CallOrder(_NotReads, Visitor):
    def __init__(self, bound: Mapping[str, cst.BaseExpression]) -> None:
        self.bound, self.order = bound, list[int]()
        self.skip = set()

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.bound and id(node) not in self.skip:
            self.walk(self.bound[node.value])

    def leave_Call(self, original_node: cst.Call) -> None:
        self.order.append(id(original_node))


def _docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString))


class _Plain(Visitor):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.ok = name, True

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Lambda | cst.ListComp | cst.SetComp | cst.DictComp
                      | cst.GeneratorExp | cst.NamedExpr | cst.Yield | cst.Await) or (
                isinstance(node, cst.Name) and node.value == self.name):
            self.ok = False
        return self.ok


def _has_fstring(expr: cst.BaseExpression) -> bool:
    finder = _FString()
    finder.walk(expr)
    return finder.found


class _FString(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.found = True


def _calls_only_after(fnode: cst.FunctionDef, name: str, index: int, arity: int,
                      strings: bool) -> bool:
    """``name`` is bound once (by its ``def``, statement ``index``) and used only in direct
    calls with ``arity`` plain arguments (names, numbers, and strs when ``strings``), in the
    statements after it."""
    check = _Uses(name, arity, strings)
    assert isinstance(fnode.body, cst.IndentedBlock)
    for i, stmt in enumerate(fnode.body.body):
        check.after = i > index
        if i != index:
            check.walk(stmt)
    for p in (*fnode.params.params, *fnode.params.kwonly_params, *fnode.params.posonly_params):
        check.ok &= p.name.value != name
    return check.ok


class _Uses(Visitor):
    def __init__(self, name: str, arity: int, strings: bool) -> None:
        super().__init__()
        self.name, self.arity, self.ok, self.after = name, arity, True, False
        self.plain: tuple[type, ...] = (cst.Name, cst.Integer, cst.Float) + (
            (cst.SimpleString,) if strings else ())
        self.calls: set[int] = set()  # ids of the Name nodes that are direct callees

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == self.name:
            self.calls.add(id(node.func))
            self.ok &= self.after and len(node.args) == self.arity and all(
                a.keyword is None and not a.star and isinstance(a.value, self.plain)
                for a in node.args)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name and id(node) not in self.calls:
            self.ok = False  # bound again, passed on, or read other than as a callee

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.ok &= node.name.value != self.name


class _Names(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _reads(expr: cst.CSTNode) -> set[str]:
    finder = _Names()
    finder.walk(expr)
    return finder.names


def _comprehension_names(fnode: cst.FunctionDef) -> set[str]:
    """Every name a comprehension of ``fnode`` binds."""
    finder = _CompNames()
    finder.walk(fnode.body)
    return finder.names


class _CompNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.names |= _reads(node.target)


class _Inline(cst.CSTTransformer):
    """Replaces ``ask(a)`` by ``ask``'s expression with its parameters replaced."""

    def __init__(self, found: Mapping[str, tuple[list[str], cst.BaseExpression]],
                 lines: dict[cst.CSTNode, int]) -> None:
        super().__init__()
        self.found, self.lines = found, lines

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node.name.value not in self.found  # the def itself stays as written

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = original.func
        if not (isinstance(func, cst.Name) and func.value in self.found):
            return updated
        params, expr = self.found[func.value]
        values = {p: a.value for p, a in zip(params, original.args, strict=True)}
        inlined = expr.deep_clone().visit(_Substitute(values))
        assert isinstance(inlined, cst.BaseExpression)
        return inlined.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        result = super().on_leave(original_node, updated_node)
        line = self.lines.get(original_node)
        if line is not None and isinstance(result, cst.CSTNode) and result is not original_node:
            self.lines[result] = line  # a statement holding an inlined call keeps its line
        return result


class _Substitute(_NotReads, cst.CSTTransformer):
    def __init__(self, values: Mapping[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.values = values
        self.skip = set()

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if id(original) in self.skip or original.value not in self.values:
            return updated
        return self.values[original.value].deep_clone()
