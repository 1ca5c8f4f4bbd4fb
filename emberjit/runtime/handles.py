"""Finding and replacing pending results inside a call's argument, for every scheduler.

A plan may pass a handle itself, or lists, tuples and dicts holding handles (``{"answers":
answers}`` where ``answers`` is a list of pending calls). Each scheduler has its own handle type
(a pool ``Task``, an asyncio ``Handle``, a Dask future); these walks are the same for all of
them: a call's inputs are :func:`collect`-ed (what it waits for) and :func:`resolve`-d (what it
gets), and ``run.wait(container)`` waits for each of :func:`pending` (in that order, so the
first failure in program order is raised) before it resolves the container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..operator import CallArgs

__all__ = ["collect", "pending", "resolve"]


def collect(value: Any, handle: type, into: list[Any]) -> None:
    """Append every ``handle`` in ``value`` (nested lists, tuples, dict values) to ``into``."""
    kind = type(value)
    if kind is handle:
        into.append(value)
    elif kind is list or kind is tuple:
        for item in value:
            collect(item, handle, into)
    elif kind is dict:
        for item in value.values():
            collect(item, handle, into)
    elif kind is CallArgs:  # op(question=q, context=c): the named inputs
        collect(value.args, handle, into)
        collect(value.kwargs, handle, into)


def pending(value: Any, handle: type) -> list[Any]:
    """Every ``handle`` in ``value``, in the order of the walk."""
    found: list[Any] = []
    collect(value, handle, found)
    return found


def resolve(value: Any, handle: type, value_of: Callable[[Any], Any]) -> Any:
    """Replace finished handles by ``value_of(handle)``: lists and dicts in place (the plan's own
    containers), tuples rebuilt; anything else is returned as it is."""
    kind = type(value)
    if kind is handle:
        return value_of(value)
    if kind is list:
        for i, item in enumerate(value):
            if type(item) is handle or type(item) in _CONTAINERS:
                value[i] = resolve(item, handle, value_of)
    elif kind is dict:
        for key, item in value.items():
            if type(item) is handle or type(item) in _CONTAINERS:
                value[key] = resolve(item, handle, value_of)
    elif kind is tuple:
        return tuple(resolve(item, handle, value_of) for item in value)
    elif kind is CallArgs:
        return CallArgs(resolve(value.args, handle, value_of),
                        resolve(dict(value.kwargs), handle, value_of))
    return value


_CONTAINERS = frozenset({list, dict, tuple, CallArgs})
