"""The ``Operator`` base class, how an operator is called (eagerly, traced, cached, profiled: the
hooks the layers above register), and sub-operator discovery.

An operator is a class with a ``forward(self, inputs)`` method (or Ember's keyword form
``forward(self, *, inputs)``); it is called as ``op(x)`` or ``op(inputs=x)``. Operators hold
other operators as attributes, in lists, tuples and dicts; :meth:`Operator.sub_operators` finds
them by looking at the instance, never by running anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from .errors import AsyncContextError
from .executors import helper_thread, off_loop_executor
from .inputs import (  # re-exported: the operator module has always offered them
    CallArgs,
    call_forward,
    describe_forward_signature,
    forward_arguments,
    inputs_of,
)
from .options import cache_possible
from .profiling import hooks

__all__ = [
    "CallArgs",
    "Operator",
    "call_eager",
    "call_forward",
    "container_kind",
    "describe_forward_signature",
    "forward_arguments",
    "has_async_forward",
    "holds_operators",
    "impure_reason",
    "is_pure",
    "run_on_private_loop",
]

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")

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
    #: ``async def forward``: ``await op.acall(x)`` awaits it; ``op(x)`` runs it on a private loop
    _async_forward: ClassVar[bool] = False
    #: ``jit(instance)``'s wrapper class names the attribute holding the operator it wraps
    _emberjit_wraps: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is not None:
            cls._forward_style = describe_forward_signature(forward)
            cls._async_forward = inspect.iscoroutinefunction(forward)

    def forward(self, inputs: InputT) -> OutputT:
        name = type(self).__qualname__
        raise NotImplementedError(f"{name} does not define forward(self, inputs)")

    def __call__(self, *args: Any, **kwargs: Any) -> OutputT:
        inputs = inputs_of(args, kwargs)  # named or several: forward(self, question, context)
        # the trace hook is called from here, never deeper: it finds the caller's line two
        # frames up (emberjit.tracing.recorder)
        if hooks.active:  # an emberjit.profile is open: every operator call is recorded
            with hooks.entered(self):
                if _trace_hook is not None:
                    return _trace_hook(self, inputs)  # type: ignore[no-any-return]
                return call_cached(self, inputs)  # type: ignore[no-any-return]
        if _trace_hook is not None:  # only while emberjit.tracing records a run
            return _trace_hook(self, inputs)  # type: ignore[no-any-return]
        if _result_calls is not None and cache_possible():  # call_cached, inlined (hot path)
            return _result_calls[0](self, inputs, call_untraced)  # type: ignore[no-any-return]
        return call_untraced(self, inputs)  # type: ignore[no-any-return]

    async def acall(self, *args: Any, **kwargs: Any) -> OutputT:
        """``await op.acall(x)``: an ``async def forward`` (or a jitted plan) is awaited on the
        running loop; a sync forward runs off the loop on a thread, so the loop never blocks."""
        inputs = inputs_of(args, kwargs)
        if hooks.active:  # an emberjit.profile is open: every operator call is recorded
            with hooks.entered(self):
                return await self._acall(inputs)
        return await self._acall(inputs)

    async def _acall(self, inputs: Any) -> OutputT:
        if _result_calls is not None and _trace_hook is None and cache_possible():
            return await _result_calls[1](self, inputs, acall_uncached)  # type: ignore
        return await acall_uncached(self, inputs)  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (scheduler="dask" ships operators to workers) without its jit state, which
        the copy rebuilds on first call."""
        state = dict(self.__dict__)
        state.pop("_emberjit_state", None)
        return state

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

    # -- batches -------------------------------------------------------------------------------

    def map(self, inputs: Iterable[InputT], *, max_concurrency: int | None = None,
            errors: str = "raise", progress: bool | None = None) -> list[Any]:
        """``[self(x) for x in inputs]``, run concurrently, results in input order; see
        :func:`emberjit.vmap` for the options (``errors="return"`` puts exceptions in place)."""
        assert _map_inputs is not None, "emberjit.batch registers itself (the package imports it)"
        return _map_inputs(self, inputs, max_concurrency=max_concurrency,
                           errors=errors, progress=progress)

    def __repr__(self) -> str:
        return _repr(self, set())


# -- what the layers above register (this module imports none of them) -----------------------

#: Set by :mod:`emberjit.tracing` while any trace is recording (else None, so an eager call
#: pays one global read): ``hook(op, inputs)`` records the call and runs :func:`call_untraced`.
_trace_hook: Callable[[Operator[Any, Any], Any], Any] | None = None
#: Set by :mod:`emberjit.jit` (before any class can be decorated): ``state_of(op)``, the jit
#: state that runs the plans of an instance of a ``@jit`` class (``_emberjit_config`` set).
_jit_state_of: Callable[[Operator[Any, Any]], Any] | None = None
#: Set by :mod:`emberjit.batch`: what :meth:`Operator.map` runs.
_map_inputs: Callable[..., list[Any]] | None = None
#: Set by :mod:`emberjit.cache`: ``(call, acall)``, each ``(op, inputs, run)`` running the call
#: (``run(op, inputs)``) through the result cache in force, if any (emberjit.cache.calls).
_result_calls: tuple[Callable[..., Any], Callable[..., Any]] | None = None


def register(*, jit_state_of: Callable[[Operator[Any, Any]], Any] | None = None,
             map_inputs: Callable[..., list[Any]] | None = None,
             result_calls: tuple[Callable[..., Any], Callable[..., Any]] | None = None) -> None:
    """How the layers above say how operators are called (``@jit`` classes), mapped
    (``Operator.map``) and cached, so that this module stays on the floor and imports none."""
    global _jit_state_of, _map_inputs, _result_calls
    if jit_state_of is not None:
        _jit_state_of = jit_state_of
    if map_inputs is not None:
        _map_inputs = map_inputs
    if result_calls is not None:
        _result_calls = result_calls


def call_cached(op: Operator[Any, Any], inputs: Any) -> Any:
    """``op(inputs)`` once its arguments are parsed and no trace records it: through the result
    cache when one may be on, else :func:`call_untraced`."""
    if _result_calls is not None and cache_possible():
        return _result_calls[0](op, inputs, call_untraced)
    return call_untraced(op, inputs)


async def acall_uncached(op: Operator[Any, Any], inputs: Any) -> Any:
    """What ``await op.acall(inputs)`` does once no cache serves it: its jit plan (``@jit`` on
    the class), its ``async def forward``, or its sync forward off the event loop."""
    if op._emberjit_config is not None:  # this class was decorated with @jit
        state = op.__dict__.get("_emberjit_state") or _jit_state(op)
        return await state.acall(inputs)
    if op._async_forward:
        return await call_forward(op, inputs)
    return await run_off_loop(op, inputs)


def call_untraced(op: Operator[Any, Any], inputs: Any) -> Any:
    """What ``op(inputs)`` does once the call is parsed: its jit plan (``@jit`` on the class) or
    ``forward``."""
    if op._emberjit_config is not None:  # this class was decorated with @jit
        state = op.__dict__.get("_emberjit_state") or _jit_state(op)
        return state.call(inputs)
    return call_eager(op, inputs)


def call_eager(op: Operator[Any, Any], inputs: Any) -> Any:
    """``op.forward`` on ``inputs``, bound as ``op(inputs)`` binds them, bypassing any jit state
    and trace hook (an ``async def forward`` runs on a private event loop)."""
    if op._async_forward:
        return run_on_private_loop(lambda: call_forward(op, inputs), type(op).__qualname__)
    return call_forward(op, inputs)


def has_async_forward(cls: type) -> bool:
    """Whether instances of ``cls`` have an ``async def forward``."""
    return bool(getattr(cls, "_async_forward", False))


#: True while an async plan's own code runs: an operator called there synchronously (code the
#: analyzer kept as written) blocks the loop, as that code would eagerly, instead of failing.
blocking_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "emberjit_blocking_allowed", default=False)


def run_on_private_loop(make: Callable[[], Coroutine[Any, Any, Any]], name: str) -> Any:
    """Run the coroutine ``make()`` to completion on a new event loop of this thread (other
    threads, and their loops, go on). Inside a running loop that would block it: an error that
    points to ``acall`` (inside an async plan's own code: a loop on a helper thread)."""
    if asyncio._get_running_loop() is not None:
        if blocking_allowed.get():
            ctx = contextvars.copy_context()
            with helper_thread() as helper:
                return helper.submit(ctx.run, run_on_private_loop, make, name).result()
        raise AsyncContextError(
            f"{name} was called synchronously inside a running event loop, which would block "
            f"the loop; use `await {name}.acall(x)` instead (or call it from a thread, e.g. "
            "asyncio.to_thread)")
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(make())
    finally:
        loop.close()


async def run_off_loop(fn: Callable[[Any], Any], arg: Any) -> Any:
    """``await``-able ``fn(arg)`` on emberjit's off-loop thread pool, in the caller's context.

    A thread cannot be stopped: when the awaiting task is cancelled (a sibling failed) while
    ``fn`` runs, the cancellation waits for ``fn`` to return (up to the ``timeout`` option)
    before it goes on, so no call outlives the plan that started it."""
    from .options import current

    options = current()
    ctx = contextvars.copy_context()
    future = off_loop_executor(options.max_workers).submit(ctx.run, fn, arg)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        if not future.done():  # running (one not yet started was cancelled with the task)
            waited = asyncio.wrap_future(future)
            loop = asyncio.get_running_loop()
            end = None if options.timeout is None else loop.time() + options.timeout
            while not waited.done() and (end is None or loop.time() < end):
                with contextlib.suppress(asyncio.CancelledError):  # cancelled again: wait on
                    await asyncio.wait({waited}, timeout=None if end is None else
                                       max(0.0, end - loop.time()))
            if waited.done() and not waited.cancelled():
                waited.exception()  # settled, not raised: the task was cancelled
        raise


def _jit_state(op: Operator[Any, Any]) -> Any:
    assert _jit_state_of is not None, "emberjit.jit registers itself before it decorates a class"
    return _jit_state_of(op)


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


def impure_reason(op: object) -> str | None:
    """Why calls of ``op`` have effects that keep program order, or None for a pure operator:
    it says ``pure = False``, or (derived) it holds an operator that does, so its own calls
    may reach that operator's effects. A callable that is not an Operator is what it says
    (``pure`` attribute, default pure)."""
    if not getattr(op, "pure", True):
        return f"{type(op).__qualname__} says pure = False"
    if not isinstance(op, Operator) or not _holds_operators(op):
        return None
    for path, sub in op.sub_operators(recursive=True):
        if not getattr(sub, "pure", True):
            return (f"{type(op).__qualname__} holds {path} ({type(sub).__qualname__}), which "
                    "says pure = False")
    return None


def is_pure(op: object) -> bool:
    """``impure_reason(op) is None``: what schedulers ask before letting a call overlap the
    calls around it (cheap for a leaf: one look at its attributes)."""
    if not getattr(op, "pure", True):
        return False
    if not isinstance(op, Operator) or not _holds_operators(op):
        return True
    return impure_reason(op) is None


def _holds_operators(op: Operator[Any, Any]) -> bool:
    """Cheap first look: an attribute that is an operator or a container (which may hold one).
    (A loop, not a generator: every call a plan starts asks this.)"""
    for key, value in vars(op).items():
        if isinstance(value, _HOLDERS) and not key.startswith("_emberjit"):
            return True
    return False


_HOLDERS = (Operator, list, tuple, dict)


def holds_operators(owner: object) -> bool:
    """Whether ``owner`` (an operator) holds any operator: an attribute, or inside a list,
    tuple or dict attribute (what :meth:`Operator.sub_operators` finds)."""
    return isinstance(owner, Operator) and _holds_operators(owner) and any(
        True for _ in owner.sub_operators())


def container_kind(value: object, is_target: Callable[[object], bool] | None = None
                   ) -> str | None:
    """"operator", "list" or "dict" for a value that is a call target (an operator, unless
    ``is_target`` says otherwise) or a non-empty list, tuple or dict of them; else None."""
    test = is_target or (lambda v: isinstance(v, Operator))
    if test(value):
        return "operator"
    if isinstance(value, list | tuple) and value and all(map(test, value)):
        return "list"
    if isinstance(value, dict) and value and all(map(test, value.values())):
        return "dict"
    return None


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
