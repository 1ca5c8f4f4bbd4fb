"""Small questions codegen asks about one libcst statement: what it binds (surely, on every
path that completes), deletes or may mutate, whether it ends the flow of its block, whether it
fills a container."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import libcst as cst

from ..analysis.effects import PURE_BUILTINS, READERS
from ..analysis.skeleton import CallSite
from ..analysis.walk import Visitor, bound_names
from .aliases import Mutations

__all__ = [
    "StripAnnotations",
    "append_target",
    "deleted",
    "ends_flow",
    "is_docstring",
    "mutated",
    "root_name",
    "stored_outside",
    "subscript_of_name",
    "suite_statements",
    "surely_bound",
    "target_names",
    "written",
]

#: builtins that do not change their arguments (they may still read them)
_PURE_BUILTINS = PURE_BUILTINS | {"print"}
#: methods that read or store their arguments without changing them (``notes.append(r)``
#: changes ``notes``, not ``r``)
_KEEPS_ARGUMENTS = READERS | {"append", "extend", "insert", "add", "update", "setdefault",
                              "appendleft", "extendleft", "put", "put_nowait", "index",
                              "count", "remove", "discard"}


class StripAnnotations(cst.CSTTransformer):
    def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
        return updated.with_changes(annotation=None)


def is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString))


def ends_flow(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(
        stmt.body[-1], cst.Return | cst.Raise | cst.Continue | cst.Break)


def target_names(target: cst.BaseExpression) -> list[str]:
    """The names an assignment target binds (see :func:`emberjit.analysis.walk.bound_names`)."""
    return [n.value for n in bound_names(target)]


def written(stmt: cst.BaseSmallStatement) -> list[str]:
    if isinstance(stmt, cst.Assign):
        return [n for t in stmt.targets for n in target_names(t.target)]
    if isinstance(stmt, cst.AnnAssign | cst.AugAssign):
        return target_names(stmt.target)
    return []


def deleted(stmt: cst.Del) -> set[str]:
    return set(target_names(stmt.target))


def subscript_of_name(target: cst.BaseExpression) -> bool:
    return isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)


def append_target(expr: cst.BaseExpression) -> str | None:
    """``xs.append(v)`` / ``xs.extend(v)`` with ``xs`` a plain name: the name."""
    if (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
            and isinstance(expr.func.value, cst.Name)
            and expr.func.attr.value in ("append", "extend") and len(expr.args) == 1):
        return expr.func.value.value
    return None


def root_name(expr: cst.BaseExpression) -> str | None:
    """The name an attribute chain or subscript starts from: ``box`` of ``box["n"][0].x``."""
    while isinstance(expr, cst.Subscript | cst.Attribute):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else None


class _Mutations(Visitor):
    """The roots a statement may mutate: directly (``xs.append(v)``, ``box[k] = v``, ``del
    xs[0]``) or deeply (``box["l"].append(v)``, ``box[k] += v``, ``f(box)``)."""

    def __init__(self, sites: dict[cst.Call, CallSite],
                 effects: Mapping[cst.Call, str], self_name: str | None) -> None:
        super().__init__()
        self.self_name = self_name
        self.direct: set[str] = set()
        self.deep: set[str] = set()
        self.sites = sites
        self.effects = effects

    def _add(self, expr: cst.BaseExpression, deep: bool = False) -> None:
        """``expr`` is changed in place: its root directly when ``expr`` is the root itself
        (a method or item of a plain name), else deeply."""
        name = root_name(expr)
        if name is None or name in ("True", "False", "None"):
            return
        (self.deep if deep or not isinstance(expr, cst.Name) else self.direct).add(name)

    def visit_Call(self, node: cst.Call) -> None:
        if node in self.sites:
            return  # operator calls are pure functions of their inputs (the contract, point 3)
        func = node.func
        # self.score(v): a method analysis showed pure (else it would be an effect)
        pure_method = isinstance(func, cst.Attribute) and node not in self.effects and \
            root_name(func.value) == self.self_name
        if isinstance(func, cst.Attribute) and func.attr.value not in READERS and \
                not pure_method:
            self._add(func.value)  # xs.append(v), box["l"].sort(), obj.set(v)
        # a pure builtin, a pure stdlib function, a function whose own source is pure
        pure = pure_method or (isinstance(func, cst.Name) and (func.value in _PURE_BUILTINS
                                                              or node not in self.effects))
        keeps_args = pure or (isinstance(func, cst.Attribute)
                              and func.attr.value in _KEEPS_ARGUMENTS)
        if not keeps_args:
            for arg in node.args:
                self._add(arg.value, deep=True)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Subscript | cst.Attribute):
            self._add(node.target.value)  # box["k"] = v, obj.x = v, box["a"]["b"] = v

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        target = node.target  # xs += [v] extends xs in place; box[k] += v may extend box[k]
        self._add(target, deep=not isinstance(target, cst.Name))

    def visit_Del(self, node: cst.Del) -> None:
        targets = node.target.elements if isinstance(node.target, cst.Tuple) else [
            cst.Element(node.target)]
        for el in targets:
            if isinstance(el.value, cst.Subscript | cst.Attribute):
                self._add(el.value.value)  # del box["m"], del xs[0]: `del x` only unbinds


def stored_outside(stmt: cst.BaseSmallStatement, local_names: Collection[str],
                   self_name: str | None) -> list[str]:
    """The names that are not the function's own (a module's global, an enclosing scope's)
    into which ``stmt`` stores: ``CONFIG["t"] = 0.7``, ``STATS.calls += 1``, ``del CACHE[k]``."""
    targets: list[cst.BaseExpression] = []
    if isinstance(stmt, cst.Assign):
        targets = [t.target for t in stmt.targets]
    elif isinstance(stmt, cst.AugAssign | cst.AnnAssign):
        targets = [stmt.target]
    elif isinstance(stmt, cst.Del):
        targets = [el.value for el in stmt.target.elements] if isinstance(
            stmt.target, cst.Tuple) else [stmt.target]
    found = {root_name(t) for t in targets if isinstance(t, cst.Subscript | cst.Attribute)}
    return sorted(n for n in found if n is not None and n not in local_names and n != self_name)


def mutated(stmt: cst.CSTNode, sites: dict[cst.Call, CallSite],
            effects: Mapping[cst.Call, str], self_name: str | None = None) -> Mutations:
    """What ``stmt`` may change in place (so calls holding those objects must finish);
    ``effects``: the ordinary calls that may act beyond the plan's locals (the others, called
    by name, leave their arguments as they are)."""
    finder = _Mutations(sites, effects, self_name)
    finder.walk(stmt)
    return Mutations(frozenset(finder.direct), frozenset(finder.deep))


def suite_statements(suite: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of a block (a one-line suite's as one line)."""
    if isinstance(suite, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=list(suite.body))]
    return [s for s in suite.body if isinstance(s, cst.BaseStatement)]


def _binds(stmts: Sequence[cst.BaseStatement]) -> set[str] | None:
    """The names ``stmts`` surely bind when they complete normally (None: they never do)."""
    out: set[str] = set()
    for stmt in stmts:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Raise):
                    return None
                if not isinstance(small, cst.AnnAssign) or small.value is not None:
                    out.update(written(small))
            continue
        got: set[str] | None = set()
        if isinstance(stmt, cst.If):
            orelse = stmt.orelse
            other = _binds([orelse]) if isinstance(orelse, cst.If) else _binds(
                suite_statements(orelse.body)) if orelse is not None else set()
            got = _meet([_binds(suite_statements(stmt.body)), other])
        elif isinstance(stmt, cst.Try | cst.With):
            got = surely_bound(stmt)
        if got is None:
            return None
        out |= got
    return out


def surely_bound(stmt: cst.Try | cst.With) -> set[str] | None:
    """The names a ``try`` or ``with`` surely binds when it completes normally (None: it never
    does). A ``with``'s manager may swallow what its body raised: only its ``as`` names."""
    if isinstance(stmt, cst.With):  # its manager may swallow what the body raised
        return {n for i in stmt.items if i.asname is not None
                for n in target_names(i.asname.name)}
    body = _binds(suite_statements(stmt.body))
    if body is not None and stmt.orelse is not None:
        orelse = _binds(suite_statements(stmt.orelse.body))
        body = None if orelse is None else body | orelse
    got = _meet([body, *(_binds(suite_statements(h.body)) for h in stmt.handlers)])
    if stmt.finalbody is not None:
        final = _binds(suite_statements(stmt.finalbody.body))
        return None if final is None or got is None else got | final
    return got


def _meet(paths: Sequence[set[str] | None]) -> set[str] | None:
    """What every path that completes binds (None: none completes)."""
    done = [p for p in paths if p is not None]
    if not done:
        return None
    return set.intersection(*done)
