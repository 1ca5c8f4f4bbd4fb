"""The ``async def`` variant of a plan, for the async scheduler.

It is the same plan source with a small libcst transform: every plan function (one that takes the
``run`` parameter) becomes ``async def``; ``run.submit`` stays synchronous (it starts an
``asyncio`` task and returns its handle); ``run.wait``, ``run.call``, ``run.barrier`` and the calls
of the plan's helper functions are awaited. Nothing else changes, so the async plan reads line for
line like the sync one (``async_source(plan)`` shows it).

A wait inside a generator expression, a lambda or a nested ``def`` cannot become an ``await``
(an ``await`` there would change what the code means); such a plan has no async variant and the
async scheduler runs its sync plan off the event loop instead (:func:`async_variant` returns None).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Coroutine
from typing import Any

import libcst as cst

from .plan import Plan, link_variant

__all__ = ["AsyncVariant", "async_source", "async_variant"]

_AWAITED = frozenset({"wait", "call", "barrier", "submit_any", "take", "ready"})
_SUFFIX = "__async"


class AsyncVariant:
    """The async entry function of a plan and its source."""

    __slots__ = ("fn", "source")

    def __init__(self, source: str, fn: Callable[..., Coroutine[Any, Any, Any]]) -> None:
        self.source, self.fn = source, fn


class _Unsupported(Exception):
    pass


def _run_param(fn: cst.FunctionDef) -> str | None:
    """The generated ``run`` parameter's name (``run``, or ``run_`` when forward uses ``run``)."""
    params = fn.params
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    found = [n for n in names if n.rstrip("_") == "run"]
    return max(found, key=len) if found else None


class _Awaiter(cst.CSTTransformer):
    """Inside one plan function: await the run's waits and the helper plan functions."""

    def __init__(self, run: str, helpers: frozenset[str]) -> None:
        super().__init__()
        self.run, self.helpers = run, helpers
        self.opaque = 0  # depth of generator expressions, lambdas and nested defs

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        self.opaque += 1
        return True

    def leave_GeneratorExp(self, original: cst.GeneratorExp,
                           updated: cst.GeneratorExp) -> cst.BaseExpression:
        self.opaque -= 1
        return updated

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self.opaque += 1
        return True

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        self.opaque -= 1
        return updated

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.opaque += 1
        return True

    def leave_FunctionDef(self, original: cst.FunctionDef,
                          updated: cst.FunctionDef) -> cst.FunctionDef:
        self.opaque -= 1
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        awaited = False
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.value.value == self.run and func.attr.value in _AWAITED:
            awaited = True
        elif isinstance(func, cst.Name) and func.value in self.helpers:
            updated = updated.with_changes(func=cst.Name(func.value + _SUFFIX))
            awaited = True
        if not awaited:
            if isinstance(func, cst.Await):  # (await run.call(op, x))(y)
                return updated.with_changes(func=_parenthesized(func))
            return updated
        if self.opaque:
            raise _Unsupported("a wait inside a generator expression, lambda or nested def")
        return cst.Await(expression=updated)

    # ``await`` binds looser than a subscript, an attribute or a call: ``run.call(op, x)["v"]``
    # must become ``(await run.call(op, x))["v"]``, not ``await run.call(op, x)["v"]``.

    def leave_Subscript(self, original: cst.Subscript,
                        updated: cst.Subscript) -> cst.BaseExpression:
        return updated.with_changes(value=_parenthesized(updated.value))

    def leave_Attribute(self, original: cst.Attribute,
                        updated: cst.Attribute) -> cst.BaseExpression:
        return updated.with_changes(value=_parenthesized(updated.value))


def _parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, cst.Await) and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def transform(source: str) -> tuple[str, str] | None:
    """``(async source, suffix)`` for a plan's source, or None when it has no async variant."""
    module = cst.parse_module(source)
    plan_fns = {s.name.value: run for s in module.body
                if isinstance(s, cst.FunctionDef) and (run := _run_param(s)) is not None}
    helpers = frozenset(plan_fns)
    body: list[cst.BaseStatement] = []
    for stmt in module.body:
        if not isinstance(stmt, cst.FunctionDef) or stmt.name.value not in plan_fns:
            continue  # guards and constants stay in the sync plan's namespace
        awaiter = _Awaiter(plan_fns[stmt.name.value], helpers)
        try:
            new_body = stmt.body.visit(awaiter)
        except _Unsupported:
            return None
        body.append(stmt.with_changes(name=cst.Name(stmt.name.value + _SUFFIX),
                                      asynchronous=cst.Asynchronous(), body=new_body))
    header = [line for line in source.splitlines() if line.startswith("#")][:1]
    text = module.with_changes(body=body, header=[]).code
    return "\n".join(header) + "\n# async variant (scheduler='async')\n" + text, _SUFFIX


_lock = threading.Lock()


def async_variant(plan: Plan) -> AsyncVariant | None:
    """The compiled async variant of ``plan``, or None (see the module docstring): made on
    first use and kept with the plan (``plan.variants["async"]``). Plans of every mode have
    one: a trace plan is plan source like any other."""
    if not isinstance(plan.fn, types.FunctionType):
        return None
    if "async" in plan.variants:
        return plan.variants["async"]  # type: ignore[no-any-return]
    with _lock:
        if "async" not in plan.variants:
            made = transform(plan.source)
            variant = None
            if made is not None:
                source, suffix = made
                fn = link_variant(plan, source, suffix, plan.qualname + " (async)")
                variant = AsyncVariant(source, fn)
            plan.variants["async"] = variant
        return plan.variants["async"]  # type: ignore[no-any-return]


def async_source(plan: Plan) -> str | None:
    """The source of ``plan``'s async variant (what ``scheduler='async'`` runs), or None."""
    variant = async_variant(plan)
    return variant.source if variant is not None else None
