"""Which local names are bound to operators, and which calls are operator calls.

A local name is an operator name when *every* binding of it in the function binds an operator:
``for m in self.members``, ``[m(x) for m in self.members]``, ``for i, m in enumerate(...)``,
``for k, m in self.ops.items()``, ``m = self.judge``, ``m = self.members[0]``. One other binding
(``m = something_else``) and it is an ordinary name: never guess.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from .env import OP, OP_DICT, OP_LIST, OperatorEnv
from .skeleton import HELPER, OPAQUE, OPERATOR

__all__ = ["Bindings", "classify_callee", "op_collection"]


def _self_attr(expr: cst.BaseExpression) -> str | None:
    if (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)
            and expr.value.value == "self"):
        return expr.attr.value
    return None


def op_collection(expr: cst.BaseExpression, env: OperatorEnv) -> tuple[str, str] | None:
    """``(attr, how)`` when ``expr`` iterates the operators of a collection attribute.

    ``how`` is "items" (elements are operators), "enumerate" (pairs ``(i, op)``), or "pairs"
    (``.items()``: pairs ``(key, op)``).
    """
    attr = _self_attr(expr)
    if attr is not None and env.attrs.get(attr) == OP_LIST:
        return attr, "items"
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name) and func.value == "enumerate" and len(expr.args) == 1:
            inner = _self_attr(expr.args[0].value)
            if inner is not None and env.attrs.get(inner) == OP_LIST:
                return inner, "enumerate"
        if isinstance(func, cst.Attribute) and not expr.args:
            inner = _self_attr(func.value)
            if inner is not None and env.attrs.get(inner) == OP_DICT:
                if func.attr.value == "values":
                    return inner, "items"
                if func.attr.value == "items":
                    return inner, "pairs"
    return None


def _target_names(target: cst.BaseExpression) -> Iterator[cst.Name]:
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, cst.Tuple | cst.List):
        for el in target.elements:
            yield from _target_names(el.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


class Bindings(cst.CSTVisitor):
    """Collects, for every name bound in the function, whether each binding binds an operator."""

    def __init__(self, env: OperatorEnv, params: tuple[str, ...],
                 self_name: str | None = None) -> None:
        super().__init__()
        self.env = env
        self.self_name = self_name
        self.op_bound: dict[str, str] = {}  # name -> what it holds ("members[*]")
        self.other: set[str] = set(params)
        self.fanout_vars: dict[str, str] = {}  # loop/comprehension variable -> collection attr

    @property
    def operator_names(self) -> dict[str, str]:
        return {k: v for k, v in self.op_bound.items() if k not in self.other}

    def _bind_loop(self, target: cst.BaseExpression, iter_: cst.BaseExpression) -> None:
        coll = op_collection(iter_, self.env)
        names = list(_target_names(target))
        if coll is None:
            self.other.update(n.value for n in names)
            return
        attr, how = coll
        if how == "items" and isinstance(target, cst.Name):
            self.op_bound[target.value] = f"{attr}[*]"
            self.fanout_vars[target.value] = attr
        elif how in ("enumerate", "pairs") and isinstance(target, cst.Tuple) \
                and len(target.elements) == 2 \
                and isinstance(target.elements[1].value, cst.Name):
            op_name = target.elements[1].value.value
            self.op_bound[op_name] = f"{attr}[*]"
            self.fanout_vars[op_name] = attr
            self.other.update(n.value for n in _target_names(target.elements[0].value))
        else:
            self.other.update(n.value for n in names)

    def visit_For(self, node: cst.For) -> None:
        self._bind_loop(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        """A comprehension's variables are its own (Python 3 scoping): they bind nothing in
        the function, so ``r`` of ``(r["text"] for r in answers)`` leaves a loop's ``r``
        an operator name. The call finder scopes them."""

    def visit_Assign(self, node: cst.Assign) -> None:
        what = self._operator_value(node.value)
        for target in node.targets:
            if isinstance(target.target, cst.Name) and what is not None:
                self.op_bound[target.target.value] = what
            else:
                self.other.update(n.value for n in _target_names(target.target))

    def _operator_value(self, value: cst.BaseExpression) -> str | None:
        attr = _self_attr(value)
        if attr is not None and self.env.attrs.get(attr) == OP:
            return attr
        if isinstance(value, cst.Subscript):
            attr = _self_attr(value.value)
            if attr is not None and self.env.attrs.get(attr) in (OP_LIST, OP_DICT):
                return f"{attr}[...]"
        if isinstance(value, cst.Name) and value.value in self.env.global_ops:
            return value.value
        return None

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.other.update(n.value for n in _target_names(node.target))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.other.update(n.value for n in _target_names(node.target))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.other.update(n.value for n in _target_names(node.target))

    def visit_AsName(self, node: cst.AsName) -> None:
        self.other.update(n.value for n in _target_names(node.name))

    def visit_Param(self, node: cst.Param) -> None:
        self.other.add(node.name.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.other.add(node.name.value)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.other.add(node.name.value)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        name = node.asname.name if node.asname else node.name
        if isinstance(name, cst.Name):
            self.other.add(name.value)


def classify_callee(func: cst.BaseExpression, env: OperatorEnv, op_names: dict[str, str],
                    local_names: set[str]) -> tuple[str, str] | None:
    """``(kind, target)`` for a callee expression, or None for an ordinary call."""
    attr = _self_attr(func)
    if attr is not None:
        if env.attrs.get(attr) == OP:
            return OPERATOR, attr
        if attr in env.helpers and attr not in env.attrs:
            return HELPER, attr
        if attr in env.opaque_methods:
            return OPAQUE, attr
        return None
    if isinstance(func, cst.Subscript):
        attr = _self_attr(func.value)
        if attr is not None and env.attrs.get(attr) in (OP_LIST, OP_DICT):
            return OPERATOR, f"{attr}[...]"
        return None
    if isinstance(func, cst.Name):
        if func.value in op_names:
            return OPERATOR, op_names[func.value]
        if func.value in env.global_ops and func.value not in local_names:
            return OPERATOR, func.value
    return None
