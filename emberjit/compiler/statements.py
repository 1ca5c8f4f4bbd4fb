"""Small questions codegen asks about one libcst statement: what it binds, deletes or may
mutate, whether it ends the flow of its block, whether it fills a container."""

from __future__ import annotations

import libcst as cst

from ..analysis.skeleton import CallSite

__all__ = ["StripAnnotations", "append_target", "deleted", "ends_flow", "is_docstring",
           "mutated", "subscript_of_name", "target_names", "written"]

_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "update",
                       "setdefault", "sort", "reverse", "add", "discard", "popitem", "write"})
_PURE_BUILTINS = frozenset({"len", "str", "repr", "int", "float", "bool", "list", "dict", "tuple",
                            "set", "sorted", "sum", "min", "max", "any", "all", "print",
                            "isinstance", "enumerate", "zip", "range", "format", "hash", "id",
                            "type", "abs", "round", "frozenset", "reversed", "iter"})



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
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [n for el in target.elements for n in target_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return []


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


class _Mutations(cst.CSTVisitor):
    def __init__(self, sites: dict[cst.Call, CallSite]) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.sites = sites

    def visit_Call(self, node: cst.Call) -> None:
        if node in self.sites:
            return  # operator calls are pure functions of their inputs (the contract, point 3)
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value in _MUTATORS:
            self.names.add(func.value.value)
        if not (isinstance(func, cst.Name) and func.value in _PURE_BUILTINS):
            for arg in node.args:
                if isinstance(arg.value, cst.Name):
                    self.names.add(arg.value.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        target: cst.BaseExpression = node.target
        while isinstance(target, cst.Subscript | cst.Attribute):
            target = target.value
        if isinstance(target, cst.Name) and target is not node.target:
            self.names.add(target.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.names.update(target_names(node.target))


def mutated(stmt: cst.CSTNode, sites: dict[cst.Call, CallSite]) -> set[str]:
    """Names whose objects ``stmt`` may change in place (so calls holding them must finish)."""
    finder = _Mutations(sites)
    stmt.visit(finder)
    return finder.names
