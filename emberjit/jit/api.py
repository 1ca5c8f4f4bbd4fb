"""``jit``, ``get_jit_stats``, ``reset_jit_stats``, ``explain_jit_selection``.

``@jit`` / ``@jit(...)`` on an operator class, ``jit(instance)``, ``jit(function)``. The decorator
composes the stages (analysis, compiler, runtime); it holds no compiler logic of its own.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .. import operator as _operator_module
from ..cache import calls as _cache_calls
from ..compiler.plan import no_plan
from ..errors import InvalidOptionError
from ..inputs import inputs_of
from ..operator import Operator
from ..options import cache_possible
from ..profiling import hooks as _profile
from .preload import preload_compiler
from .specialize import specialize
from .state import MODES, JitConfig, JitState
from .stats import JitStats, registry

__all__ = ["JitFunction", "JitOperator", "get_jit_stats", "jit", "reset_jit_stats"]

T = TypeVar("T")


def state_of(op: Any) -> JitState | None:
    if isinstance(op, JitFunction | JitOperator):
        return op._emberjit_state
    if isinstance(op, Operator):
        state = vars(op).get("_emberjit_state")
        if state is None and type(op)._emberjit_config is not None:
            state = attach(op, type(op)._emberjit_config)
        return state
    return None


_operator_module.register(jit_state_of=state_of)  # how instances of @jit classes are called


def attach(op: Operator[Any, Any], config: JitConfig) -> JitState:
    state = JitState(op, config)
    vars(op).setdefault("_emberjit_state", state)
    return vars(op)["_emberjit_state"]  # type: ignore[no-any-return]


class JitFunction:
    """A jitted plain function: call it like the function; ``.plan`` is its plan."""

    def __init__(self, fn: types.FunctionType, config: JitConfig) -> None:
        functools.update_wrapper(self, fn)
        self._emberjit_state = JitState(fn, config)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._emberjit_state.call_function(args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """``await f.acall(...)``: the plan as a coroutine (``scheduler="async"`` by default)."""
        return await self._emberjit_state.acall_function(args, kwargs)

    @property
    def plan(self) -> Any:
        return _plan_of(self._emberjit_state)

    def __repr__(self) -> str:
        return f"<jit {self._emberjit_state.root} mode={self._emberjit_state.config.mode}>"


def _plan_of(state: JitState) -> Any:
    """The current plan, compiling it (without running anything) if needed; where there is no
    plan to run (eager, or not traced yet), one whose source says why."""
    spec = _spec_of(state)
    if spec.plan is not None:
        return spec.plan
    location = getattr(getattr(state.owner, "__code__", None), "co_filename", "")
    return no_plan(state.root, spec.mode, location, spec.reasons)


def _spec_of(state: JitState) -> Any:
    guard_args = () if state.is_function else (state.owner,)
    spec = state.spec
    if spec is None or spec.guard(*guard_args) is not None:
        spec = specialize(state, guard_args)
    return spec


def _plan_property(self: Operator[Any, Any]) -> Any:
    state = state_of(self)
    assert state is not None
    return _plan_of(state)


def _config(options: dict[str, Any]) -> JitConfig:
    valid = [f.name for f in dataclasses.fields(JitConfig) if f.name != "child"]
    for key in options:
        if key not in valid:
            raise InvalidOptionError("jit option", key, valid)
    mode = options.get("mode", "auto")
    if mode not in MODES:
        raise InvalidOptionError("mode", mode, MODES)
    for flag in ("force_trace", "recursive", "preserve_stochasticity", "strict"):
        if flag in options and not isinstance(options[flag], bool):
            raise InvalidOptionError(flag, options[flag], ["True", "False"])
    limit = options.get("recompile_limit", 8)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidOptionError("recompile_limit", limit, ["an int >= 0"])
    threshold = options.get("inline_threshold", 50e-6)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not (
            0 <= threshold < float("inf")):
        raise InvalidOptionError("inline_threshold", threshold,
                                 ["a number of seconds >= 0 (default 50e-6; 0 inlines nothing)"])
    return JitConfig(**options)


@overload
def jit(target: T, /, **options: Any) -> T: ...
@overload
def jit(target: None = None, /, **options: Any) -> Callable[[T], T]: ...


def jit(target: Any = None, /, **options: Any) -> Any:
    """Compile an operator class, an operator instance, or a function into a plan.

    ``jit(Cls)`` (or ``@jit`` on the class) returns ``Cls`` itself, now jitted: every instance,
    made before or after, runs its plan. ``jit(instance)`` returns a wrapper and leaves the
    instance as it was (calling it still runs eagerly). ``jit(function)`` returns a
    :class:`JitFunction`. To run everything eagerly on purpose, use :func:`emberjit.disabled`
    or ``EMBERJIT_DISABLE=1``.

    Options: ``mode`` ("auto", "structural", "trace", "enhanced"), ``sample_input``,
    ``force_trace``, ``recursive`` (default True: sub-operators run their own plans),
    ``preserve_stochasticity``, ``strict`` (every fallback is an error), ``aot_dir``,
    ``recompile_limit`` (default 8), ``inline_threshold`` (enhanced mode: operators whose traced
    calls all took less, in seconds, run inline; default 50e-6). Unknown options raise
    ``ValueError`` listing the valid ones.
    """
    config = _config(options)
    if target is None:
        return lambda t: _apply(t, config)
    return _apply(target, config)


def _apply(target: Any, config: JitConfig) -> Any:
    jitted = _jitted(target, config)
    preload_compiler(getattr(target, "__module__", None), config.aot_dir)  # see jit/preload.py
    return jitted


#: ``(test, adapt)``: what integrations jit: ``adapt(program)`` is the operator that runs it
_adapters: list[tuple[Callable[[Any], bool], Callable[[Any], Operator[Any, Any]]]] = []


def register_adapter(test: Callable[[Any], bool],
                     adapt: Callable[[Any], Operator[Any, Any]]) -> None:
    """``jit(x)`` for an ``x`` of another library (``test(x)``) jits ``adapt(x)``, an operator
    that runs it (see ``emberjit.integrations``)."""
    if (test, adapt) not in _adapters:
        _adapters.append((test, adapt))


def _jitted(target: Any, config: JitConfig) -> Any:
    if isinstance(target, type) and issubclass(target, Operator):
        target._emberjit_config = config
        if not isinstance(getattr(target, "plan", None), property):
            target.plan = property(_plan_property)  # type: ignore[attr-defined]
        return target
    if isinstance(target, JitOperator):
        target = target.original
    if isinstance(target, Operator):
        return JitOperator(target, config)
    if isinstance(target, JitFunction):
        return target
    if isinstance(target, types.FunctionType):
        if inspect.iscoroutinefunction(target) or inspect.isgeneratorfunction(target):
            kind = "an async function" if inspect.iscoroutinefunction(target) else "a generator"
            raise TypeError(f"jit() cannot compile {target.__qualname__}: it is {kind}; jit "
                            "takes plain functions that call operators and return a value")
        return JitFunction(target, config)
    for test, adapt in _adapters:  # an integration's program (a DSPy module)
        if test(target):
            return JitOperator(adapt(target), config)
    if isinstance(target, type):  # a class of another library's programs (a dspy.Module)
        raise TypeError(f"jit() takes a class only when it subclasses emberjit.Operator, and "
                        f"{target.__qualname__} does not; jit an instance instead: "
                        f"fast = jit({target.__qualname__}(...))")
    kind = type(target).__name__
    raise TypeError(f"jit() takes an Operator class, an Operator instance, a function or a "
                    f"dspy.Module instance, not {kind} ({target!r:.60}); wrap the callable in "
                    "an Operator subclass or a function")


class JitOperator(Operator[Any, Any]):
    """``jit(instance)``: calls run through the plan; the original instance is unchanged (so it
    still runs eagerly when called itself). Attributes are read from the original."""

    _emberjit_wraps = "original"

    def __init__(self, original: Operator[Any, Any], config: JitConfig) -> None:
        vars(self)["original"] = original
        vars(self)["_emberjit_state"] = JitState(original, config)
        #: an integration's ``(around, aaround)``: what its library does around a call of the
        #: program (``around(program_operator, inputs, run)``; a DSPy module's callbacks)
        vars(self)["_around"] = getattr(type(original), "_emberjit_around", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inputs = inputs_of(args, kwargs)
        hook = _operator_module._trace_hook  # called from here: it reads the caller's frame
        if _profile.active:  # a profile is open: the call is recorded, as Operator's are
            with _profile.entered(self):
                return hook(self, inputs) if hook is not None else self._call(inputs)
        if hook is not None:  # a trace records: this call is one call (call_untraced -> forward)
            return hook(self, inputs)
        return self._call(inputs)

    def _call(self, inputs: Any) -> Any:
        cached = _operator_module._result_calls
        if cached is not None and cache_possible():  # emberjit.cache.calls decides
            return cached[0](self, inputs, _run_plan)
        return _run_plan(self, inputs)

    def forward(self, inputs: Any) -> Any:
        return self._emberjit_state.call(inputs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """``await jitted.acall(x)``: the plan as a coroutine; under the default scheduler
        (``auto``) and ``async`` its calls are asyncio tasks on the running loop."""
        inputs = inputs_of(args, kwargs)
        if _profile.active:
            with _profile.entered(self):
                return await self._acall(inputs)
        return await self._acall(inputs)

    async def _acall(self, inputs: Any) -> Any:
        cached = _operator_module._result_calls
        if cached is not None and cache_possible():
            return await cached[1](self, inputs, _arun_plan)
        return await _arun_plan(self, inputs)

    @property
    def plan(self) -> Any:
        return _plan_of(self._emberjit_state)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as ``jit(original, ...)`` (scheduler="dask" ships operators to workers)."""
        return (JitOperator, (self.original, self._emberjit_state.config))

    def sub_operators(self, recursive: bool = False) -> Any:
        return self.original.sub_operators(recursive)

    def __getattr__(self, name: str) -> Any:
        return getattr(vars(self)["original"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Set on the instance it runs (``fast.judge = other``), as reading reads it: an
        attribute of the wrapper would shadow it and change nothing the plan does."""
        setattr(vars(self)["original"], name, value)

    def __delattr__(self, name: str) -> None:
        delattr(vars(self)["original"], name)

    def __repr__(self) -> str:
        return f"jit({self.original!r}, mode={self._emberjit_state.config.mode!r})"


def _run_plan(op: JitOperator, inputs: Any) -> Any:
    around = vars(op)["_around"]
    if around is not None:
        return around[0](op.original, inputs, lambda: op._emberjit_state.call(inputs))
    return op._emberjit_state.call(inputs)


async def _arun_plan(op: JitOperator, inputs: Any) -> Any:
    around = vars(op)["_around"]
    if around is not None:
        return await around[1](op.original, inputs, lambda: op._emberjit_state.acall(inputs))
    return await op._emberjit_state.acall(inputs)


def _count_served(op: object, how: str) -> None:
    """A call of a jitted operator served by the result cache: counted in its stats."""
    state = vars(op).get("_emberjit_state") if hasattr(op, "__dict__") else None
    if state is not None:
        with registry.lock:
            if how == "hit":
                state.stats.result_hits += 1
            else:
                state.stats.result_merged += 1


_cache_calls.on_served.append(_count_served)


def get_jit_stats(op: Any = None) -> JitStats:
    """Stats of one jitted operator or function, or the totals over all of them.

    An operator's ``compiles`` and ``compile_seconds`` include the plans of the sub-operators it
    runs through plans of their own (``recursive=True``): its calls made them. ``compile_seconds``
    is everything those calls paid to get a plan (importing the compiler where it was not yet
    imported, reading the source, analysis, code generation, linking). The totals count each
    plan once."""
    if op is None:
        return registry.total()
    state = state_of(op)
    if state is None:
        raise TypeError(f"{type(op).__qualname__} is not jitted: call jit() on it first")
    with registry.lock:
        stats = dataclasses.replace(state.stats, fallbacks=list(state.stats.fallbacks))
        for sub in _routed(state):  # its sub-operators' plans: its calls compiled them
            stats.compiles += sub.stats.compiles
            stats.compile_seconds += sub.stats.compile_seconds
    return stats


def _routed(state: JitState) -> list[JitState]:
    """The states of every sub-operator ``state`` routes to, at any depth."""
    found: dict[int, JitState] = {}
    todo = list(state.route.values())
    while todo:
        sub = todo.pop()
        if id(sub) not in found and sub is not state:
            found[id(sub)] = sub
            todo.extend(sub.route.values())
    return list(found.values())


def reset_jit_stats() -> None:
    """Zero every counter (the plans and caches stay)."""
    registry.reset()
