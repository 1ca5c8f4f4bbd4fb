"""``jit(program)`` for a DSPy program (a ``dspy.Module`` instance), unchanged.

The program's own ``forward`` is compiled like an operator's: its calls of sub-modules
(``self.generate(question=q, context=c)``, ``dspy.Predict``, ``dspy.ChainOfThought``,
``dspy.ReAct``, modules of your own) are call sites, started as soon as their inputs exist, in
DSPy's keyword form (a module of your own runs a plan of its own, :func:`_own_plan`);
``dspy.Prediction`` results flow through the glue code between them as they do eagerly. Each
sub-module call is made through the module itself (``module(**kwargs)``, or
``await module.acall(...)`` on the async scheduler), so DSPy's settings, ``dspy.context``
overrides (context variables, which the schedulers carry into every call), callbacks and the
LM's history see each call as they would eagerly.

The program is run through an operator of a class made for its class
(``type(program).__name__``, a subclass of both) sharing the program's attributes: nothing of
the program is changed or copied. DSPy is imported by nothing here; a program is recognized by
the names of its classes.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from ..inputs import CallArgs, describe_forward_signature
from ..jit.api import jit, register_adapter
from ..leaves import register_leaf_kind
from ..operator import Operator

__all__ = ["as_operator", "is_dspy_module"]

_classes: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()


def is_dspy_module(value: object) -> bool:
    """Whether ``value`` is an instance of ``dspy.Module`` (without importing DSPy)."""
    if isinstance(value, type | Operator):
        return False
    return any(c.__name__ in ("Module", "BaseModule") and c.__module__.startswith("dspy.")
               for c in type(value).__mro__)


def as_operator(program: Any) -> Operator[Any, Any]:
    """The operator that runs ``program``'s ``forward`` (its attributes are the program's)."""
    cls = type(program)
    made = _classes.get(cls)
    if made is None:
        forward = getattr(cls, "forward", None)
        if forward is None:
            raise TypeError(f"jit() cannot compile the DSPy module {cls.__qualname__}: it has no "
                            "forward method; jit the program that calls it")
        made = type(cls.__name__, (cls, Operator), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__,
            "__slots__": ("_emberjit_program",), "_emberjit_around": (_around, _aaround),
            "_forward_style": describe_forward_signature(forward),
            # DSPy warns when forward is read off an instance outside __call__; the plan's
            # eager fallback does read it, on purpose
            "__getattribute__": object.__getattribute__,
            "__call__": Operator.__call__, "acall": Operator.acall,
            "__repr__": lambda self: f"jit-run {cls.__qualname__}",
        })
        _classes[cls] = made
    operator: Operator[Any, Any] = object.__new__(made)
    object.__setattr__(operator, "__dict__", program.__dict__)  # the same attributes
    object.__setattr__(operator, "_emberjit_program", program)
    return operator


# -- what DSPy does around a call of the program itself -----------------------------------------

#: the plan run of the call being made (the body DSPy's call machinery wraps)
_body: contextvars.ContextVar[Callable[[], Any]] = contextvars.ContextVar("emberjit_dspy_body")


@functools.cache
def _module_call() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``Module.__call__`` and ``Module.acall`` as DSPy has them (its callbacks, with the
    call's id for the calls made inside, and the caller stack), around the plan instead of
    ``forward``. Made on first use: DSPy is imported then."""
    settings = importlib.import_module("dspy.dsp.utils.settings").settings
    with_callbacks = importlib.import_module("dspy.utils.callback").with_callbacks

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        with settings.context(caller_modules=[*(settings.caller_modules or []), self]):
            return _body.get()()

    async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
        with settings.context(caller_modules=[*(settings.caller_modules or []), self]):
            return await _body.get()()

    return with_callbacks(__call__), with_callbacks(acall)


def _spread(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (inputs.args, inputs.kwargs) if type(inputs) is CallArgs else ((inputs,), {})


def _around(op: Any, inputs: Any, run: Callable[[], Any]) -> Any:
    """A call of the jitted program, as DSPy makes a call of a module: callbacks (with the
    program as the instance), the caller stack, then the plan."""
    args, kwargs = _spread(inputs)
    token = _body.set(run)
    try:
        return _module_call()[0](op._emberjit_program, *args, **kwargs)
    finally:
        _body.reset(token)


async def _aaround(op: Any, inputs: Any, run: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    args, kwargs = _spread(inputs)
    token = _body.set(run)
    try:
        return await _module_call()[1](op._emberjit_program, *args, **kwargs)
    finally:
        _body.reset(token)


def _own_plan(module: Any) -> Any:
    """What runs a call of a sub-module: DSPy's own modules (``Predict``, ``ChainOfThought``,
    ``ReAct``...) as they are; a module of yours, through a plan of its own (made once per
    module object, like ``jit(module)``)."""
    if type(module).__module__.startswith("dspy."):
        return module
    key = id(module)
    found = _plans.get(key)
    if found is None or found[0]() is not module:
        found = (weakref.ref(module, lambda _: _plans.pop(key, None)), jit(module))
        _plans[key] = found
    return found[1]


#: id(module) -> (the module, its jitted form): a sub-module's plan, made on its first call
_plans: dict[int, tuple[weakref.ref[Any], Any]] = {}

register_leaf_kind(is_dspy_module, _own_plan)
register_adapter(is_dspy_module, as_operator)
