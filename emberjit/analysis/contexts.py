"""Context managers that only set context variables: ``with`` blocks that order nothing.

``with settings.context(temperature=0.9): answer = self.devil(question=q)`` (DSPy's settings,
a tracing span, a request-scoped option) changes what the calls inside it read, through a
:class:`contextvars.ContextVar`, and restores it on exit. Every scheduler copies the context
where a call is submitted (threads: ``contextvars.copy_context()``; asyncio tasks copy it when
created), so a call submitted inside the block sees the block's values however late it runs:
such a block needs no barrier before it and need not wait for its calls at exit.

A context manager qualifies when it is a ``@contextlib.contextmanager`` generator of the user's
whose source does nothing but compute locals, ``set``/``reset``/``get`` context variables, and
``yield`` once (a ``try``/``finally`` around the yield is fine; an ``except`` is not: it would
see the block's failures, which a plan raises later).
"""

from __future__ import annotations

import contextvars
import inspect
import types
from collections.abc import Mapping
from typing import Any

import libcst as cst

from .effects import PURE_BUILTINS, READERS
from .walk import Visitor

__all__ = ["sets_only_context"]

_cache: dict[types.CodeType, bool] = {}


def _resolve(expr: cst.BaseExpression, namespace: Mapping[str, Any]) -> Any:
    """The value of a name or attribute chain, read from ``namespace`` (None when unknown)."""
    if isinstance(expr, cst.Name):
        return namespace.get(expr.value)
    if isinstance(expr, cst.Attribute):
        owner = _resolve(expr.value, namespace)
        if owner is None:
            return None
        try:
            return inspect.getattr_static(owner, expr.attr.value)
        except AttributeError:
            return None
    return None


def sets_only_context(call: cst.BaseExpression,
                      namespace: Mapping[str, Any]) -> types.CodeType | None:
    """The code of the generator behind ``call`` (a ``with`` item) when it makes a context
    manager that only sets context variables (see the module docstring), else None: what the
    plan's guard checks the callee still runs. ``namespace``: what forward's free names refer
    to (a callee reached through ``self`` is not taken: the instance may hold another)."""
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Name | cst.Attribute):
        return None
    owner = _resolve(call.func.value, namespace) if isinstance(call.func, cst.Attribute) else None
    factory = _resolve(call.func, namespace)
    wrapped = getattr(factory, "__wrapped__", None)
    if not (isinstance(wrapped, types.FunctionType) and inspect.isgeneratorfunction(wrapped)):
        return None
    code = wrapped.__code__
    if code not in _cache:
        _cache[code] = False  # until shown
        _cache[code] = _only_sets(wrapped, owner)
    return code if _cache[code] else None


def _only_sets(fn: types.FunctionType, owner: Any) -> bool:
    from .source import function_source  # local: reads files

    try:
        node = function_source(fn).node
    except Exception:  # no source: unknown code
        return False
    scope: dict[str, Any] = dict(fn.__globals__)
    params = [p.name.value for p in node.params.params]
    if owner is not None and params:  # a method: its self is the object called
        scope[params[0]] = owner
    check = _SetsOnly(scope)
    check.walk(node.body)
    return check.ok and check.yields == 1


class _SetsOnly(Visitor):
    def __init__(self, scope: Mapping[str, Any]) -> None:
        super().__init__()
        self.scope = scope
        self.ok = True
        self.yields = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.ExceptHandler | cst.Global | cst.Nonlocal | cst.Del
                      | cst.FunctionDef | cst.ClassDef | cst.Lambda | cst.Await
                      | cst.For | cst.While | cst.With):
            self.ok = False
        elif isinstance(node, cst.Yield):
            self.yields += 1
            self.ok &= node.value is None
        elif isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign):
            self.ok &= isinstance(node.target, cst.Name)
        elif isinstance(node, cst.Call):
            self.ok &= self._allowed(node)
        return self.ok

    def _allowed(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Name):
            return func.value in PURE_BUILTINS
        if isinstance(func, cst.Attribute):
            if func.attr.value in ("set", "reset"):
                return isinstance(_resolve(func.value, self.scope), contextvars.ContextVar)
            return func.attr.value in READERS  # var.get(), overrides.get(k)
        return False
