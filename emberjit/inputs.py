"""What an operator's call takes, and how it reaches ``forward``.

An operator is called with one input, ``op(x)`` or ``op(inputs=x)``; an operator whose
``forward`` names its inputs (``def forward(self, question, context=None)``) is called as
``op(question=q)``, ``op(q, context=c)`` or ``op(*xs)``. :class:`CallArgs` carries such inputs as
one value (plans submit it as a call's input); :func:`forward_arguments` is the one binding
policy: the arguments ``forward`` receives for a call, or the error that names why it cannot take
them. The eager call, the plan's entry (``emberjit.jit.state``) and trace replays all use it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import OperatorCallError

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["CallArgs", "call_forward", "describe_forward_signature", "forward_arguments"]

POSITIONAL = "positional"
KEYWORD = "keyword"


def describe_forward_signature(forward: Callable[..., Any]) -> str:
    """``"positional"``, ``"keyword"``, or why forward cannot be called with one input."""
    try:
        params = list(inspect.signature(forward).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return POSITIONAL
    required = [p for p in params if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not params:
        return "forward takes no input: define it as forward(self, inputs)"
    first = params[0]
    if first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD, first.VAR_POSITIONAL):
        extra = [p.name for p in required if p is not first]
        if extra:
            return f"forward requires more than one input ({', '.join(extra)})"
        return POSITIONAL
    if any(p.kind == p.KEYWORD_ONLY and p.name == "inputs" for p in params):
        extra = [p.name for p in required if p.name != "inputs"]
        if extra:
            return f"forward requires more than one input ({', '.join(extra)})"
        return KEYWORD
    return "forward must take one input: forward(self, inputs) or forward(self, *, inputs)"


class CallArgs:
    """The inputs of a call with named or several inputs (``op(question=q, context=c)``,
    ``op(a, b)``, ``op(*xs)``), carried as one value: plans submit it as a call's input, and
    :func:`call_forward` spreads it over ``forward``'s parameters."""

    __slots__ = ("args", "kwargs")

    def __init__(self, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
        self.args, self.kwargs = args, kwargs if kwargs is not None else {}

    def one_input(self) -> tuple[bool, Any]:
        """``(True, x)`` when these are the one-input form after all (``op(*[x])``,
        ``op(inputs=x)``): every operator takes them as ``op(x)``."""
        return _one_input(self.args, self.kwargs)

    @classmethod
    def of(cls, *args: Any, **kwargs: Any) -> CallArgs:
        """``run.args(q, context=c)`` in a plan: the inputs of ``op(q, context=c)``."""
        return cls(args, kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallArgs) and (self.args, self.kwargs) == (other.args,
                                                                            other.kwargs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"CallArgs({', '.join(parts)})"


def _one_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    if len(args) == 1 and not kwargs:
        return True, args[0]
    if not args and len(kwargs) == 1 and "inputs" in kwargs:
        return True, kwargs["inputs"]
    return False, None


def inputs_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What ``op(*args, **kwargs)`` takes: its one input (``op(x)``, ``op(inputs=x)``), else the
    named or several inputs as one :class:`CallArgs` (the one rule every way of calling an
    operator parses its arguments by)."""
    one, value = _one_input(args, kwargs)
    return value if one else CallArgs(args, kwargs)


_signatures: dict[type, inspect.Signature | None] = {}


def call_forward(op: Operator[Any, Any], inputs: Any) -> Any:
    """``op.forward`` called as ``op(inputs)`` would call it (see :func:`forward_arguments`)."""
    args, kwargs = forward_arguments(op, inputs)
    return op.forward(*args, **kwargs)


def forward_arguments(op: Operator[Any, Any], inputs: Any
                      ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments ``op(inputs)`` passes to ``forward`` after ``self``: one input,
    positional or as ``inputs=``; a :class:`CallArgs` spread over its parameters. Raises
    :class:`OperatorCallError` when forward cannot take them."""
    if type(inputs) is CallArgs:
        one, value = inputs.one_input()
        if one:
            return forward_arguments(op, value)
        _check_binding(op, inputs)
        return inputs.args, inputs.kwargs
    style = op._forward_style
    if style == POSITIONAL:
        return (inputs,), {}
    if style == KEYWORD:
        return (), {"inputs": inputs}
    raise OperatorCallError(f"{type(op).__qualname__} cannot be called: {style}")


def _check_binding(op: Operator[Any, Any], inputs: CallArgs) -> None:
    cls = type(op)
    if cls not in _signatures:
        try:
            _signatures[cls] = inspect.signature(cls.forward)
        except (TypeError, ValueError):
            _signatures[cls] = None
    sig = _signatures[cls]
    if sig is None:
        return
    try:
        sig.bind(op, *inputs.args, **inputs.kwargs)
    except TypeError as exc:
        if cls._forward_style in (POSITIONAL, KEYWORD) and len(sig.parameters) <= 2:
            raise _one_input_error(op, inputs.args, inputs.kwargs) from None
        params = ", ".join(str(p.replace(annotation=p.empty))
                           for p in list(sig.parameters.values())[1:])
        raise OperatorCallError(f"{cls.__qualname__}({params}) cannot take these "
                                f"inputs: {exc}") from None


def _one_input_error(op: object, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> OperatorCallError:
    got = ", ".join([*(type(a).__name__ for a in args), *(f"{k}=..." for k in kwargs)]) or "nothing"
    name = type(op).__qualname__
    return OperatorCallError(
        f"{name} takes exactly one input: call it as {name}(x) or {name}(inputs=x), not with "
        f"{got}")
