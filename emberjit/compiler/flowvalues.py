"""What the steering analysis (:mod:`emberjit.compiler.steering`) knows of one value on the
stack or in a local of ``forward`` while it reads the bytecode.

Every :class:`Value` carries its *taint*: the input keys whose values it may depend on. Its
*kind* says what more is known: exactly the input (``INPUTS``) or exactly the value at one of
its keys (``KEY``); ``self`` or an object it holds (``OBJ``, found on the live instance without
running any code); an operator (``OP``: one of several); the result of an operator call
(``RESULT``, which a trace plan replays; or one of several values a plan rebuilds by identity,
depending on the path); a container built in ``forward`` (``BUILT``: its items
by constant key; ``SEQ``: of unknown length, each item like ``elem``); an iterator (``ITER``);
a function defined in ``forward`` (``FUNC``) and the cells it reads (``CELL``); a constant, a
global, a bound method; ``OTHER``: anything else, of which only the taint is known; and
``UNBOUND``, a local no path has set yet (what a value is before the analysis reaches it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

__all__ = ["Value", "built", "elem", "funcs_in", "is_operator_value", "join", "maybe_keys",
           "other", "seq"]

NULL, INPUTS, SELF, KEY, CONST, OBJ, OP, RESULT = (
    "null", "inputs", "self", "key", "const", "obj", "op", "result")
BUILT, SEQ, ITER, FUNC, CELL, GLOBAL, METHOD, OTHER, UNBOUND = (
    "built", "seq", "iter", "func", "cell", "global", "method", "other", "unbound")
_DEPTH = 6  # containers nested deeper are only their taint


@dataclasses.dataclass(frozen=True)
class Value:
    """One abstract value (see the module docstring)."""

    kind: str
    taint: frozenset[Any] = frozenset()
    #: KEY: the key; CONST: (type, value); OBJ: id of the object; OP: all pure; RESULT: the
    #: keys whose value it may be exactly (a join of KEY and other rebuilt values); BUILT/SEQ:
    #: "list", "tuple", "dict"; FUNC: (code, cell references); CELL: its reference;
    #: GLOBAL/METHOD: the name
    data: Any = None
    items: tuple[tuple[Any, Value], ...] = ()  # BUILT: (key, item); SEQ/ITER/METHOD: (None, x)
    alloc: Any = None  # a mutable container: where forward made it
    obj: Any = dataclasses.field(default=None, compare=False, hash=False, repr=False)
    label: str = dataclasses.field(default="", compare=False, hash=False)

    def children(self) -> Iterator[Value]:
        for _, item in self.items:
            yield item


def other(*values: Value) -> Value:
    """A value computed from ``values``: only their taint is known, and the functions defined
    in forward they hold (which it may hold or be, so it may call them)."""
    funcs = tuple(dict.fromkeys(f for v in values for f in funcs_in(v)))
    return Value(OTHER, frozenset().union(*(v.taint for v in values)),
                 items=tuple((None, f) for f in funcs))


def built(container: str, items: tuple[tuple[Any, Value], ...], alloc: Any = None) -> Value:
    taint = frozenset().union(*(v.taint for _, v in items))
    if _depth(items) >= _DEPTH:
        return other(*(v for _, v in items))
    return Value(BUILT, taint, container, items, alloc)


def seq(container: str, item: Value | None, alloc: Any = None) -> Value:
    """A container of unknown length whose items are each like ``item`` (None: empty)."""
    if item is None:
        return Value(BUILT, frozenset(), container, (), alloc)
    if _depth(((None, item),)) >= _DEPTH:
        return other(item)
    return Value(SEQ, item.taint, container, ((None, item),), alloc)


def elem(value: Value) -> Value | None:
    """What one item of a container or iterator may be (None: it has none)."""
    if value.kind in (SEQ, ITER):
        return value.items[0][1]
    if value.kind == BUILT:
        found: Value | None = None
        for item in value.children():
            found = item if found is None else join(found, item)
        return found
    return other(value)


def _depth(items: tuple[tuple[Any, Value], ...]) -> int:
    return 1 + max((_depth(v.items) for _, v in items), default=0)


def is_operator_value(value: Value) -> bool:
    """An operator that is pure (so it leaves its input as it was): a call the trace records
    and the plan replays with the new input."""
    from ..operator import Operator, is_pure
    if value.kind == OP:
        return bool(value.data)
    return value.kind == OBJ and isinstance(value.obj, Operator) and is_pure(value.obj)


def join(a: Value, b: Value) -> Value:
    """What a value may be when it is ``a`` on one path and ``b`` on another."""
    if a == b or b.kind == UNBOUND:
        return a
    if a.kind == UNBOUND:
        return b
    if a.kind == b.kind == BUILT and (a.data, a.alloc) == (b.data, b.alloc) \
            and [k for k, _ in a.items] == [k for k, _ in b.items]:
        return built(a.data, tuple((k, join(x, y)) for (k, x), (_, y)
                                   in zip(a.items, b.items, strict=True)), a.alloc)
    if {a.kind, b.kind} <= {BUILT, SEQ} and (a.data, a.alloc) == (b.data, b.alloc):
        ea, eb = elem(a), elem(b)
        item = eb if ea is None else ea if eb is None else join(ea, eb)
        return seq(a.data, item, a.alloc)
    if a.kind == b.kind == ITER:
        return Value(ITER, a.taint | b.taint, items=((None, join(a.items[0][1],
                                                                   b.items[0][1])),))
    if is_operator_value(a) and is_operator_value(b):
        return Value(OP, data=True, label="an operator")
    if a.kind in _REBUILT and b.kind in _REBUILT:
        return Value(RESULT, a.taint | b.taint, maybe_keys(a) | maybe_keys(b))
    return other(a, b)


#: what a trace plan rebuilds by identity (the input at a key, a result, a constant, an object
#: the operator holds), so a value that is one of them on each path is one of them too
_REBUILT = frozenset([KEY, CONST, RESULT, OBJ, OP, GLOBAL, NULL])


def maybe_keys(value: Value) -> frozenset[Any]:
    """The keys whose value ``value`` may be exactly (on some path)."""
    if value.kind == KEY:
        return frozenset([value.data])
    if value.kind == RESULT and value.data:
        return frozenset(value.data)
    return frozenset()


def funcs_in(value: Value) -> Iterator[Value]:
    """The functions defined in forward that ``value`` holds (they may be called later)."""
    if value.kind == FUNC:
        yield value
    for item in value.children():
        yield from funcs_in(item)
