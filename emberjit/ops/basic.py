"""General-purpose operators: :class:`MapOperator`, :class:`SequenceOperator` and
:func:`compose` (:class:`Composed`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from ..operator import Operator

__all__ = ["Composed", "MapOperator", "SequenceOperator", "compose"]

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")


class MapOperator(Operator[InputT, OutputT], Generic[InputT, OutputT]):
    """Wrap a plain function as an operator: ``MapOperator(fn)(x) == fn(x)``.

    Input and output are whatever ``fn`` takes and returns.
    """

    def __init__(self, fn: Callable[[InputT], OutputT]) -> None:
        if not callable(fn):
            raise TypeError(f"MapOperator needs a callable, got {type(fn).__name__}")
        self.fn = fn

    def forward(self, inputs: InputT) -> OutputT:
        """Return ``fn(inputs)``."""
        return self.fn(inputs)


class SequenceOperator(Operator[Any, Any]):
    """Apply operators in order: ``SequenceOperator([a, b])(x) == b(a(x))``.

    Input is the first operator's input; output is the last operator's output (the input itself
    when ``ops`` is empty).
    """

    def __init__(self, ops: Iterable[Callable[[Any], Any]]) -> None:
        self.ops = list(ops)
        for i, op in enumerate(self.ops):
            if not callable(op):
                raise TypeError(
                    f"SequenceOperator ops[{i}] is {type(op).__name__}, not an operator or callable"
                )

    def forward(self, inputs: Any) -> Any:
        """Feed ``inputs`` through every operator of ``self.ops`` in turn."""
        value = inputs
        for op in self.ops:
            value = op(value)
        return value


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
