"""The ``Operator`` base class, sub-operator discovery, and ``compose``.

An operator is a class with a ``forward(self, inputs)`` method (or Ember's keyword form
``forward(self, *, inputs)``); it is called as ``op(x)`` or ``op(inputs=x)``. Operators hold
other operators as attributes, in lists, tuples and dicts; :meth:`Operator.sub_operators` finds
them by looking at the instance, never by running anything.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from .errors import OperatorCallError

__all__ = ["Composed", "Operator", "compose", "describe_forward_signature"]

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")

_POSITIONAL = "positional"
_KEYWORD = "keyword"


def describe_forward_signature(forward: Callable[..., Any]) -> str:
    """``"positional"``, ``"keyword"``, or why forward cannot be called with one input."""
    try:
        params = list(inspect.signature(forward).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return _POSITIONAL
    required = [p for p in params if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not params:
        return "forward takes no input: define it as forward(self, inputs)"
    first = params[0]
    if first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD, first.VAR_POSITIONAL):
        extra = [p.name for p in required if p is not first]
        if extra:
            return f"forward requires more than one input ({', '.join(extra)})"
        return _POSITIONAL
    if any(p.kind == p.KEYWORD_ONLY and p.name == "inputs" for p in params):
        extra = [p.name for p in required if p.name != "inputs"]
        if extra:
            return f"forward requires more than one input ({', '.join(extra)})"
        return _KEYWORD
    return "forward must take one input: forward(self, inputs) or forward(self, *, inputs)"


class Operator(Generic[InputT, OutputT]):
    """Base class of every operator. Subclasses define ``forward``.

    ``pure`` (default True) promises that a call depends only on its input and the operator's own
    state; an operator with outside effects (writes a file, appends to a shared list) sets
    ``pure = False`` and plans keep its calls in program order relative to other impure calls.
    """

    pure: ClassVar[bool] = True
    #: set by ``@jit`` on a class: its instances run through their plans
    _emberjit_config: ClassVar[Any] = None
    _forward_style: ClassVar[str] = "forward is not defined: subclasses of Operator define forward"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is not None:
            cls._forward_style = describe_forward_signature(forward)

    def forward(self, inputs: InputT) -> OutputT:
        name = type(self).__qualname__
        raise NotImplementedError(f"{name} does not define forward(self, inputs)")

    def __call__(self, *args: Any, **kwargs: Any) -> OutputT:
        if len(args) == 1 and not kwargs:
            inputs = args[0]
        elif not args and len(kwargs) == 1 and "inputs" in kwargs:
            inputs = kwargs["inputs"]
        else:
            raise _call_error(self, args, kwargs)
        if self._emberjit_config is not None:  # this class was decorated with @jit
            state = self.__dict__.get("_emberjit_state") or _jit_state(self)
            return state.call(inputs)  # type: ignore[no-any-return]
        style = self._forward_style
        if style == _POSITIONAL:
            return self.forward(inputs)
        if style == _KEYWORD:
            return self.forward(inputs=inputs)
        raise OperatorCallError(f"{type(self).__qualname__} cannot be called: {style}")

    # -- structure -----------------------------------------------------------------------------

    def sub_operators(self, recursive: bool = False) -> Iterator[tuple[str, Operator[Any, Any]]]:
        """Yield ``(path, operator)`` for every operator held by this one.

        Attributes, lists, tuples and dicts (nested too) are searched; paths read like Python:
        ``refiner``, ``members[2]``, ``ops['judge']``. With ``recursive=True`` the sub-operators'
        own sub-operators follow, with dotted paths (``ensemble.members[0]``). Each operator is
        visited once, so cycles end.
        """
        seen: set[int] = {id(self)}
        yield from _walk(self, "", recursive, seen)

    def __repr__(self) -> str:
        return _repr(self, set())


def _jit_state(op: Operator[Any, Any]) -> Any:
    from .jit.api import state_of  # the jit layer builds on this module, not the reverse

    return state_of(op)


def _call_error(op: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> OperatorCallError:
    got = ", ".join([*(type(a).__name__ for a in args), *(f"{k}=..." for k in kwargs)]) or "nothing"
    name = type(op).__qualname__
    return OperatorCallError(
        f"{name} takes exactly one input: call it as {name}(x) or {name}(inputs=x), not with {got}"
    )


def _children(value: object, path: str) -> Iterator[tuple[str, object]]:
    """The (path, value) pairs inside a container attribute, depth-first, in order."""
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield f"{path}[{i}]", item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}[{key!r}]", item


def _walk(op: Operator[Any, Any], prefix: str, recursive: bool,
          seen: set[int]) -> Iterator[tuple[str, Operator[Any, Any]]]:
    for name, value in vars(op).items():
        if name.startswith("_emberjit"):
            continue
        stack: list[tuple[str, object]] = [(prefix + name, value)]
        while stack:
            path, item = stack.pop()
            if isinstance(item, Operator):
                if id(item) in seen:
                    continue
                seen.add(id(item))
                yield path, item
                if recursive:
                    yield from _walk(item, path + ".", recursive, seen)
            elif isinstance(item, list | tuple | dict) and id(item) not in seen:
                seen.add(id(item))
                stack.extend(reversed(list(_children(item, path))))


def _repr(op: Operator[Any, Any], seen: set[int]) -> str:
    name = type(op).__qualname__
    if id(op) in seen:
        return f"<{name} (cycle)>"
    seen = seen | {id(op)}
    parts = []
    for key, value in vars(op).items():
        if key.startswith("_"):
            continue
        parts.append(f"{key}={_repr_value(value, seen)}")
    return f"{name}({', '.join(parts)})"


def _repr_value(value: object, seen: set[int]) -> str:
    if isinstance(value, Operator):
        return _repr(value, seen)
    if isinstance(value, list | tuple) and value and all(isinstance(v, Operator) for v in value):
        types = {type(v).__qualname__ for v in value}
        if len(value) > 3 and len(types) == 1:
            open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
            return f"{open_}{types.pop()} x {len(value)}{close}"
        inner = ", ".join(_repr(v, seen) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict) and value and all(isinstance(v, Operator) for v in value.values()):
        return "{" + ", ".join(f"{k!r}: {_repr(v, seen)}" for k, v in value.items()) + "}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Composed(Operator[Any, Any]):
    """``compose(f, g, h)``: an operator computing ``f(g(h(x)))``."""

    def __init__(self, *ops: Callable[[Any], Any]) -> None:
        if not ops:
            raise TypeError("compose() needs at least one operator")
        for i, op in enumerate(ops):
            if not callable(op):
                raise TypeError(f"compose() argument {i} is {type(op).__name__}, not callable")
        self.ops = list(ops)

    def forward(self, inputs: Any) -> Any:
        value = inputs
        for op in reversed(self.ops):
            value = op(value)
        return value


def compose(*ops: Callable[[Any], Any]) -> Composed:
    """Compose operators right to left: ``compose(a, b)(x) == a(b(x))``. The result is an
    :class:`Operator` (so it can be jitted)."""
    return Composed(*ops)
