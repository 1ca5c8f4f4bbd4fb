"""Leaves that are not operators: plain callables a plan may start as concurrent call sites.

A *leaf* is a call that acts on nothing of the program's but its own inputs and hands back a
value: a model request, a search, a tool. Operators whose ``forward`` reaches no call site are
leaves already; this module is for the rest, the plain objects people hold models in:

- the models emberjit ships (:class:`~emberjit.models.SimulatedModel`,
  :class:`~emberjit.OpenAIModel`: classes that say ``__emberjit_leaf__ = True``) and the official
  ``openai.OpenAI`` client (``client.chat.completions.create(...)``);
- anything the user marks with :func:`leaf`: a class (its instances, called or through any of
  their methods), a function or method, or one instance.

Analysis treats ``self.model(p)``, ``self.model.generate(p, temperature=0.2)``,
``client.chat.completions.create(...)`` and ``search(q)`` on such values as call sites; the plan
starts them with ``run.submit(run.leaf(callee), ...)``, where :class:`LeafCall` makes the callable
an operator to the schedulers (its async twin, ``acall`` or ``a<method>``, is awaited on the
async scheduler).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import EmberJitError
from .operator import CallArgs, Operator

__all__ = ["LeafCall", "is_leaf", "is_leaf_object", "is_leaf_value", "leaf", "register_leaf_kind"]

T = TypeVar("T")
_MARK = "__emberjit_leaf__"
#: classes of the official ``openai`` package whose instances are leaves (by module and name:
#: the package is not imported for the check)
_OPENAI_CLIENTS = frozenset({"OpenAI", "AzureOpenAI"})


def leaf(obj: T) -> T:
    """Mark ``obj`` as a leaf: its calls only read their inputs and return a value, so a plan may
    start them concurrently, as soon as their inputs exist.

    ``@leaf`` on a class marks its instances (calling one, or any of its methods); on a function
    or method, its calls; ``leaf(instance)`` marks one object. Returns ``obj`` itself. Marking
    code that writes shared state, prints or depends on call order is a promise the plan keeps
    you to: its calls may run in any order and at the same time.
    """
    try:
        setattr(obj, _MARK, True)
    except (AttributeError, TypeError):
        raise EmberJitError(
            f"emberjit.leaf cannot mark {type(obj).__qualname__} object {obj!r}: it takes no "
            "attributes. Mark its class with @emberjit.leaf, or wrap the call in a function "
            "marked with @emberjit.leaf") from None
    return obj


def _marked(value: object) -> bool:
    try:
        return getattr(value, _MARK, False) is True
    except Exception:  # a proxy whose getattr raises is not a leaf
        return False


#: what integrations say is a leaf (``emberjit.integrations.dspy``: DSPy's modules), and what
#: runs a call of one (``route(leaf)``: a plan of its own for a module with a forward of yours)
_kinds: list[tuple[Callable[[object], bool], Callable[[Any], Any] | None]] = []


def register_leaf_kind(test: Callable[[object], bool],
                       route: Callable[[Any], Any] | None = None) -> None:
    """Instances for which ``test`` is true are leaves (an integration's call targets); a call
    of one runs ``route(leaf)`` (default: the leaf itself)."""
    if (test, route) not in _kinds:
        _kinds.append((test, route))


def _target(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What runs a call of the leaf ``fn``: an integration's route for it, or ``fn``."""
    for test, route in _kinds:
        if route is not None and test(fn):
            return route(fn)  # type: ignore[no-any-return]
    return fn


def is_leaf_object(value: object) -> bool:
    """Whether ``value`` is a leaf instance: calling it and calling its methods are call sites."""
    if isinstance(value, Operator | type) or inspect.isroutine(value):
        return False
    cls = type(value)
    if cls.__name__ in _OPENAI_CLIENTS and cls.__module__.split(".")[0] == "openai":
        return True
    return _marked(value) or any(test(value) for test, _ in _kinds)


def is_leaf_value(value: object) -> bool:
    """Whether calling ``value`` is a leaf call: a leaf instance, or a marked function (bound to
    any object) or a method of a leaf instance."""
    if is_leaf_object(value):
        return callable(value)
    if inspect.ismethod(value):
        return _marked(value.__func__) or is_leaf_object(value.__self__)
    return inspect.isroutine(value) and _marked(value)


def is_leaf(value: object) -> bool:
    """Whether a plan may call ``value`` (or its methods) as a leaf: what guards check."""
    return is_leaf_object(value) or is_leaf_value(value)


def _async_twin(fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """The coroutine function that does what ``fn`` does: a leaf instance's ``acall``, or for a
    method ``obj.name``, ``obj.aname`` (``generate``/``agenerate``)."""
    if inspect.ismethod(fn):
        twin = getattr(fn.__self__, "a" + fn.__name__, None)
    else:
        twin = getattr(fn, "acall", None) if is_leaf_object(fn) else None
    return twin if twin is not None and inspect.iscoroutinefunction(twin) else None


class LeafCall(Operator[Any, Any]):
    """A leaf callable as the schedulers see an operator: ``run.leaf(self.model.generate)``.

    One input is passed as it is; named or several inputs (``run.args(p, temperature=0.2)``)
    are spread over the callable's parameters, as the source wrote them.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        #: what runs it: ``fn``, or a plan of its own an integration routes it to
        self.target = _target(fn) if _kinds else fn

    @property
    def emberjit_label(self) -> str:
        """How errors name the call (:func:`emberjit.errors.operator_name`): ``SimulatedModel``
        or ``Search.lookup``."""
        fn = self.fn
        if inspect.ismethod(fn):
            return f"{type(fn.__self__).__qualname__}.{fn.__name__}"
        return str(getattr(fn, "__qualname__", type(fn).__qualname__))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and type(args[0]) is CallArgs:  # a scheduler's call
            args, kwargs = args[0].args, args[0].kwargs
        if self.target is not self.fn and isinstance(self.target, Operator):  # its own plan
            return await self.target.acall(*args, **kwargs)
        twin = _async_twin(self.fn)
        if twin is not None:
            return await twin(*args, **kwargs)
        return await super().acall(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LeafCall({self.emberjit_label})"
