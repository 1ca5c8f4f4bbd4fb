"""Which local names are bound to operators, and which calls are operator calls.

A local name is an operator name when *every* binding of it in the function binds an operator:
``for m in self.members``, ``[m(x) for m in self.members]``, ``for i, m in enumerate(...)``,
``for k, m in self.ops.items()``, ``m = self.judge``, ``m = self.members[0]``. One other binding
(``m = something_else``) and it is an ordinary name: never guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import libcst as cst

from .env import OP, OP_DICT, OP_LIST, OperatorEnv
from .skeleton import HELPER, OPAQUE, OPERATOR
from .walk import Visitor, bound_names

__all__ = ["Bindings", "classify_callee", "loop_operators", "op_collection", "target_root"]


def _self_attr(expr: cst.BaseExpression) -> str | None:
    if (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)
            and expr.value.value == "self"):
        return expr.attr.value
    return None


def op_collection(expr: cst.BaseExpression, env: OperatorEnv,
                  aliases: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(attr, how)`` when ``expr`` iterates the operators of a collection attribute (or of a
    local alias of one: ``members = self.members``).

    ``how`` is "items" (elements are operators), "enumerate" (pairs ``(i, op)``), or "pairs"
    (``.items()``: pairs ``(key, op)``).
    """
    attr = _collection(expr, env, aliases)
    if attr is not None and env.attrs.get(attr) == OP_LIST:
        return attr, "items"
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name) and func.value == "enumerate" and len(expr.args) == 1:
            inner = _collection(expr.args[0].value, env, aliases)
            if inner is not None and env.attrs.get(inner) == OP_LIST:
                return inner, "enumerate"
        if isinstance(func, cst.Attribute) and not expr.args:
            inner = _collection(func.value, env, aliases)
            if inner is not None and env.attrs.get(inner) == OP_DICT:
                if func.attr.value == "values":
                    return inner, "items"
                if func.attr.value == "items":
                    return inner, "pairs"
    return None


def _collection(expr: cst.BaseExpression, env: OperatorEnv,
                aliases: Mapping[str, str] | None) -> str | None:
    """The collection attribute ``expr`` names: ``self.members``, or a local alias of it."""
    attr = _self_attr(expr)
    if attr is None and isinstance(expr, cst.Name) and aliases:
        attr = aliases.get(expr.value)
    return attr if attr is not None and env.attrs.get(attr) in (OP_LIST, OP_DICT) else None


def loop_operators(target: cst.BaseExpression, iter_: cst.BaseExpression, env: OperatorEnv,
                   aliases: Mapping[str, str], operators: Mapping[str, str]
                   ) -> dict[str, str] | None:
    """The loop variables of ``for target in iter_`` that hold an operator on every turn, each
    with the collection it ranges over: ``for m in self.members``, ``enumerate(...)``,
    ``.items()``, ``for op, style in [(self.a, "x"), (self.b, "y")]``, ``zip([self.a,
    self.b], styles)``. None when nothing it binds is surely an operator."""
    coll = op_collection(iter_, env, aliases)
    names = list(bound_names(target))
    if coll is not None:
        attr, how = coll
        if how == "items" and isinstance(target, cst.Name):
            return {target.value: attr}
        if how in ("enumerate", "pairs") and len(names) == 2 and isinstance(target, cst.Tuple):
            return {names[1].value: attr}
        return None
    positions = _positions(iter_, env, operators)
    if positions is None:
        return None
    if isinstance(target, cst.Name):
        return {target.value: positions[0]} if len(positions) == 1 and positions[0] else None
    if isinstance(target, cst.Tuple | cst.List) and len(target.elements) == len(positions):
        found = {el.value.value: desc for el, desc in zip(target.elements, positions, strict=True)
                 if desc and isinstance(el.value, cst.Name)}
        return found or None
    return None


def _operator_expr(expr: cst.BaseExpression, env: OperatorEnv,
                   operators: Mapping[str, str]) -> str | None:
    attr = _self_attr(expr)
    if attr is not None and env.attrs.get(attr) == OP:
        return attr
    if isinstance(expr, cst.Name) and expr.value in operators:
        return expr.value
    return None


def _positions(iter_: cst.BaseExpression, env: OperatorEnv,
               operators: Mapping[str, str]) -> list[str | None] | None:
    """For an iterable display (``[self.a, self.b]``, ``((self.a, "x"), (self.b, "y"))``) or a
    ``zip`` of such: per position of an element, the operators found there on every turn
    (``"(a, b)"``), or None where the position is not surely an operator."""
    if isinstance(iter_, cst.Call) and isinstance(iter_.func, cst.Name) \
            and iter_.func.value == "zip" and not any(a.star for a in iter_.args):
        parts = [_positions(a.value, env, operators) for a in iter_.args
                 if a.keyword is None]  # zip(..., strict=True)
        return [p[0] if p is not None and len(p) == 1 else None for p in parts]
    if isinstance(iter_, cst.Name | cst.Attribute):
        coll = _self_attr(iter_)
        if coll is not None and env.attrs.get(coll) == OP_LIST:
            return [coll]
        return None
    if not isinstance(iter_, cst.List | cst.Tuple) or not iter_.elements:
        return None
    rows = [el.value.elements if isinstance(el.value, cst.Tuple) else None
            for el in iter_.elements]
    if all(r is None for r in rows):
        ops = [_operator_expr(el.value, env, operators) for el in iter_.elements]
        return [f"({', '.join(o for o in ops if o)})"] if all(ops) else [None]
    width = {len(r) for r in rows if r is not None}
    if None in rows or len(width) != 1:
        return None
    out: list[str | None] = []
    for i in range(width.pop()):
        ops = [_operator_expr(r[i].value, env, operators) for r in rows if r is not None]
        out.append(f"({', '.join(o for o in ops if o)})" if all(ops) else None)
    return out


class Bindings(Visitor):
    """Collects, for every name bound in the function, whether each binding binds an operator."""

    def __init__(self, env: OperatorEnv, params: tuple[str, ...],
                 self_name: str | None = None) -> None:
        super().__init__()
        self.env = env
        self.self_name = self_name
        self.op_bound: dict[str, str] = {}  # name -> what it holds ("members[*]")
        self.other: set[str] = set(params)
        self.fanout_vars: dict[str, str] = {}  # loop/comprehension variable -> collection attr
        #: local aliases of collections of operators (``members = self.members``), from a
        #: first pass: a name is one when every binding of it binds the same collection
        self.aliases: dict[str, str] = {}
        self.collection_bound: dict[str, set[str]] = {}

    @property
    def operator_names(self) -> dict[str, str]:
        return {k: v for k, v in self.op_bound.items() if k not in self.other}

    def _bind_loop(self, target: cst.BaseExpression, iter_: cst.BaseExpression) -> None:
        found = loop_operators(target, iter_, self.env, self.aliases, self.operator_names) or {}
        for name in bound_names(target):
            coll = found.get(name.value)
            if coll is None:
                self.other.add(name.value)
            else:
                self.op_bound[name.value] = f"{coll}[*]"
                self.fanout_vars[name.value] = coll

    def visit_For(self, node: cst.For) -> None:
        self._bind_loop(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        """A comprehension's variables are its own (Python 3 scoping): they bind nothing in
        the function, so ``r`` of ``(r["text"] for r in answers)`` leaves a loop's ``r``
        an operator name. The call finder scopes them."""

    def visit_Assign(self, node: cst.Assign) -> None:
        what = self._operator_value(node.value)
        coll = _collection(node.value, self.env, None)
        for target in node.targets:
            if isinstance(target.target, cst.Name) and what is not None:
                self.op_bound[target.target.value] = what
            elif isinstance(target.target, cst.Name) and coll is not None:
                self.collection_bound.setdefault(target.target.value, set()).add(coll)
            else:
                self.other.update(n.value for n in bound_names(target.target))

    def collection_aliases(self) -> dict[str, str]:
        """After a pass: names bound only to one collection of operators of ``self``."""
        return {name: next(iter(colls)) for name, colls in self.collection_bound.items()
                if len(colls) == 1 and name not in self.other and name not in self.op_bound}

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
        self.other.update(n.value for n in bound_names(node.target))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.other.update(n.value for n in bound_names(node.target))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.other.update(n.value for n in bound_names(node.target))

    def visit_AsName(self, node: cst.AsName) -> None:
        self.other.update(n.value for n in bound_names(node.name))

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


def target_root(target: str) -> str:
    """The attribute or name a call site's target starts from: ``model`` of ``model.generate``,
    ``members`` of ``members[*]``."""
    return re.split(r"[.\[]", target, maxsplit=1)[0]


def _leaf_method(func: cst.BaseExpression, env: OperatorEnv, op_names: dict[str, str],
                 local_names: set[str]) -> str | None:
    """``model.generate`` for ``self.model.generate``, ``client.chat.completions.create`` for
    ``client.chat.completions.create``: a method of a leaf object (see emberjit.leaves)."""
    path: list[str] = []
    while isinstance(func, cst.Attribute) and _self_attr(func) is None:
        path.append(func.attr.value)
        func = func.value
    if not path:
        return None
    base = _self_attr(func)
    if base is not None and not (env.attrs.get(base) == OP and base in env.leaves):
        return None
    if base is None and isinstance(func, cst.Name):
        name = func.value
        if name in op_names and target_root(op_names[name]) in env.leaves:
            base = op_names[name]
        elif name in env.global_ops and name in env.leaves and name not in local_names:
            base = name
    return ".".join([base, *reversed(path)]) if base is not None else None


def classify_callee(func: cst.BaseExpression, env: OperatorEnv, op_names: dict[str, str],
                    local_names: set[str]) -> tuple[str, str] | None:
    """``(kind, target)`` for a callee expression, or None for an ordinary call."""
    if env.leaves:
        method = _leaf_method(func, env, op_names, local_names)
        if method is not None:
            return OPERATOR, method
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
