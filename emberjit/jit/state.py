"""The per-operator jit state, and dispatch: what one call of a jitted operator does.

A :class:`JitState` hangs off a jitted operator instance (``_emberjit_state`` in its
``__dict__``; ``Operator.__call__`` hands calls to it) or wraps a jitted function. Each call
checks the guards of the current specialization (a few identity and type checks), picks a run on
the scheduler ``execution_options`` asks for, and runs the plan; a failing guard goes to
:mod:`.specialize`, which changes the state.

State (one per jitted instance or function; ``lock`` guards every change):

- ``owner``, ``config``, ``is_function``, ``root``: what is jitted, how, and its name in errors.
- ``spec``: the current :class:`~.specialization.Specialization` (None before the first call):
  a plan and its guards, or eager. Replaced whole, never edited: a call keeps the one it read.
  An untraced one (trace and enhanced mode) makes the next call the traced run.
- ``guard_failures``, ``last_failure``, ``warned``: how often a guard failed, the last reason,
  whether the recompile limit's warning was given (past the limit ``spec`` is an eager fallback
  and stays so).
- ``route``: ``id(sub-operator) -> JitState`` for sub-operators that run their own plans
  (``recursive=True``), swapped whole on each specialization; ``sequential`` and ``direct`` are
  the sequential runs over it (``direct`` when there is nothing to route or profile).
- ``stats``: the :class:`~.stats.JitStats` every call and compile is counted in (under
  ``registry.lock``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import types
from typing import Any

from ..cache.policy import fresh_draws, fresh_draws_now
from ..errors import (
    AsyncContextError,
)
from ..inputs import POSITIONAL
from ..operator import (
    CallArgs,
    blocking_allowed,
    call_eager,
    call_forward,
    forward_arguments,
    has_async_forward,
    run_off_loop,
    run_on_private_loop,
)
from ..options import current, jit_disabled
from ..profiling import hooks as _profile
from ..runtime import Run, SequentialRun, new_run, scheduler_for
from ..runtime.limits import scope
from .specialization import Specialization
from .specialize import NO_INPUT, route_children, specialization_for, specialize
from .stats import JitStats, registry

__all__ = ["JitConfig", "JitState"]

MODES = ("auto", "structural", "trace", "enhanced")


@dataclasses.dataclass(frozen=True)
class JitConfig:
    """The options of one ``jit(...)``; see :func:`emberjit.jit`."""

    mode: str = "auto"
    sample_input: Any = None
    force_trace: bool = False
    recursive: bool = True
    preserve_stochasticity: bool = False
    strict: bool = False
    aot_dir: str | None = None
    recompile_limit: int = 8
    inline_threshold: float = 50e-6  # enhanced: calls measured under this run inline (seconds)
    child: bool = False  # attached by a parent's recursive=True: never fails, falls back


class JitState:
    """See the module docstring. One per jitted instance or function."""

    def __init__(self, owner: Any, config: JitConfig) -> None:
        self.owner = owner
        self.config = config
        self.is_function = isinstance(owner, types.FunctionType)
        name = owner.__qualname__ if self.is_function else type(owner).__qualname__
        self.root = name
        self.stats: JitStats = registry.new(name, config.mode)
        self.spec: Specialization | None = None
        self.lock = threading.RLock()
        self.guard_failures = 0
        self.last_failure: str | None = None
        self.warned = False
        self.route: dict[int, JitState] = {}  # recursive=True: sub-operators' own states
        self.sequential = SequentialRun(name, self.path_of, self.route)
        self.direct = self.sequential.direct()
        if config.sample_input is not None and not config.child:  # trace at decoration time
            specialize(self, () if self.is_function else (owner,))

    # -- naming operators in errors ------------------------------------------------------------

    def path_of(self, op: object) -> str:
        if self.is_function:
            fn = self.owner
            scopes = [dict(zip(fn.__code__.co_freevars,
                               (c.cell_contents for c in fn.__closure__ or ()), strict=False)),
                      fn.__globals__]
            for scope in scopes:
                for key, value in scope.items():
                    if value is op:
                        return str(key)
            return ""
        for recursive in (False, True):
            for path, sub in self.owner.sub_operators(recursive=recursive):
                if sub is op:
                    return str(path)
        return ""

    # -- dispatch ------------------------------------------------------------------------------

    def call(self, inputs: Any) -> Any:
        """Run the operator's plan on ``inputs`` (an operator's one input).

        The common case, a cached plan that runs sequentially, is served here in about a
        microsecond; everything else (a miss, a failed guard, threads, async) goes through
        :meth:`_dispatch`."""
        if jit_disabled():  # emberjit.disabled() or EMBERJIT_DISABLE: eagerly, on purpose
            return call_eager(self.owner, inputs)
        spec, owner = self.spec, self.owner
        if type(inputs) is CallArgs:  # named inputs: spread over forward's parameters
            one, value = inputs.one_input()
            if not one:
                return self._dispatch((owner, inputs), {})
            inputs = value
        if spec is None or spec.plan is None or spec.learner is not None or (
                spec.guard(owner) is not None) or owner._forward_style != POSITIONAL or (
                self.config.preserve_stochasticity):
            return self._dispatch((owner, inputs), {})
        options = current()
        if options.max_concurrency is not None or not (
                options.scheduler == "sequential"
                or (options.scheduler == "auto" and not spec.plan.concurrent)) or (
                asyncio._get_running_loop() is not None and not blocking_allowed.get()):
            return self._dispatch((owner, inputs), {})
        start = time.perf_counter()
        try:
            if _profile.active:  # a profile is open: its calls in place are named by the plan
                with _profile.plan((self.root, self.path_of)):
                    return spec.plan.fn(owner, inputs, run=self.sequential)
            run = self.sequential if self.route else self.direct
            return spec.plan.fn(owner, inputs, run=run)  # sequential: nothing pending
        finally:
            self._count(start, True)

    def call_function(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if jit_disabled():
            return self.owner(*args, **kwargs)
        return self._dispatch(args, kwargs)

    async def acall(self, inputs: Any) -> Any:
        """``await``: the plan as a coroutine (see :meth:`_adispatch`)."""
        if jit_disabled():
            if has_async_forward(type(self.owner)):
                return await call_forward(self.owner, inputs)
            return await run_off_loop(lambda _: call_eager(self.owner, inputs), None)
        if type(inputs) is CallArgs:
            one, value = inputs.one_input()
            inputs = value if one else inputs
        return await self._adispatch((self.owner, inputs), {})

    async def acall_function(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if jit_disabled():
            return await run_off_loop(lambda _: self.owner(*args, **kwargs), None)
        return await self._adispatch(args, kwargs)

    def _current_spec(self, args: tuple[Any, ...]) -> tuple[Specialization, bool]:
        if self.is_function:
            return specialization_for(self, ())
        one = type(args[1]) is not CallArgs  # named inputs run eagerly in trace mode
        return specialization_for(self, (self.owner,), args[1] if one else NO_INPUT)

    def _learn(self, spec: Specialization, inputs: Any) -> Any:
        """The traced run of an untraced specialization: its result is this call's result."""
        result, learned, seconds = spec.learner.learn(inputs, self.last_failure)
        with self.lock:
            if self.spec is spec:
                self.spec = learned
                if learned.plan is not None and self.config.recursive:
                    route_children(self)  # as for any plan: sub-operators run their own
        with registry.lock:
            self.stats.compile_seconds += seconds
        return result

    def _count(self, start: float, hit: bool) -> None:
        elapsed = time.perf_counter() - start
        stats = self.stats
        with registry.lock:
            stats.calls += 1
            stats.run_seconds += elapsed
            if hit:
                stats.cache_hits += 1

    def _dispatch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.config.preserve_stochasticity and not fresh_draws_now():
            with fresh_draws():  # every call a fresh draw: nothing served from a result cache
                return self._dispatch(args, kwargs)
        if asyncio._get_running_loop() is not None and not blocking_allowed.get():
            raise AsyncContextError(
                f"jit({self.root}) was called synchronously inside a running event loop, which "
                f"would block the loop for the whole plan; use `await {_acall_hint(self)}` "
                "instead (or run the sync call in a thread: asyncio.to_thread)")
        spec, hit = self._current_spec(args)
        start = time.perf_counter()
        try:
            if spec.untraced and type(args[1]) is not CallArgs:
                result = self._learn(spec, args[1])
            elif not self._takes(spec, args):
                result = self._eager(args, kwargs)
            else:
                result = self._run_plan(spec, args, kwargs)
        finally:
            self._count(start, hit)
        return result

    async def _adispatch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``auto`` and ``async`` run the plan's async variant on this loop; any other scheduler
        runs the sync plan off the loop. An eager operator: its async forward is awaited, a
        sync one runs off the loop."""
        if self.config.preserve_stochasticity and not fresh_draws_now():
            with fresh_draws():
                return await self._adispatch(args, kwargs)
        spec, hit = self._current_spec(args)
        start = time.perf_counter()
        try:
            scheduler = current().scheduler
            takes = self._takes(spec, args)
            if spec.untraced and type(args[1]) is not CallArgs:
                result = await run_off_loop(lambda _: self._learn(spec, args[1]), None)
            elif not takes and not self.is_function and has_async_forward(type(self.owner)):
                result = await call_forward(self.owner, args[1])
            elif takes and scheduler in ("auto", "async"):
                result = await self._arun_plan(spec, args, kwargs)
            else:
                sync = self._eager if not takes else \
                    lambda a, k: self._run_plan(spec, a, k, "threads" if scheduler in (
                        "auto", "async") else None)
                result = await run_off_loop(lambda _: sync(args, kwargs), None)
        finally:
            self._count(start, hit)
        return result

    def _takes(self, spec: Specialization, args: tuple[Any, ...]) -> bool:
        """Whether the plan runs this call: named inputs only through a structural plan (a
        trace plan replays the one input it was traced with)."""
        plan = spec.plan
        if plan is None:
            return False
        return self.is_function or type(args[1]) is not CallArgs or plan.mode == "structural"

    def _plan_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The plan function's arguments: an operator's inputs bind to forward's parameters as
        the eager call binds them (see emberjit.compiler.signature)."""
        if self.is_function:
            return args, kwargs
        spread, named = forward_arguments(args[0], args[1])
        return (args[0], *spread), named

    def _eager(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.is_function:
            return self.owner(*args, **kwargs)
        return call_eager(self.owner, args[1])

    def _run_plan(self, spec: Specialization, args: tuple[Any, ...],
                  kwargs: dict[str, Any], scheduler: str | None = None) -> Any:
        plan = spec.plan
        assert plan is not None
        options = current()
        if scheduler is not None:
            options = dataclasses.replace(options, scheduler=scheduler)
        name = scheduler_for(options, plan.concurrent)
        run: Run
        if name == "sequential":
            run = self.sequential
        elif name == "async":  # the async plan, on a private loop of this thread
            return run_on_private_loop(lambda: self._arun_plan(spec, args, kwargs),
                                       f"jit({self.root})")
        else:
            run = new_run(self.root, self.path_of, options, plan.concurrent, self.route,
                          owner=self.owner)
            run.inline = plan.inline  # enhanced: cheap calls run inline
        with scope(options.max_concurrency if name == "threads" else None, "threads"):
            return self._run_sync(plan, run, args, kwargs)

    async def _arun_plan(self, spec: Specialization, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
        from ..compiler.async_plan import async_variant
        from ..runtime.async_run import AsyncRun

        plan = spec.plan
        assert plan is not None
        variant = async_variant(plan)
        if variant is None:  # a wait the transform cannot await: the sync plan, off the loop
            return await run_off_loop(
                lambda _: self._run_plan(spec, args, kwargs, "threads"), None)
        options = current()
        run = AsyncRun(self.root, self.path_of, options.timeout, options.max_workers, self.route)
        allowed = blocking_allowed.set(True)
        with scope(options.max_concurrency, "async"):
            try:
                args, kwargs = self._plan_args(args, kwargs)
                if _profile.active:
                    with _profile.plan((self.root, self.path_of)):
                        result = await variant.fn(*args, run=run, **kwargs)
                else:
                    result = await variant.fn(*args, run=run, **kwargs)
                return await run.finish(result)
            except BaseException as exc:
                chosen = await run.abort(exc)
                if chosen is exc:
                    raise
                raise chosen from None
            finally:
                blocking_allowed.reset(allowed)

    def _run_sync(self, plan: Any, run: Run, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        try:
            args, kwargs = self._plan_args(args, kwargs)
            if _profile.active:  # calls its code makes in place are named by the plan
                with _profile.plan((self.root, self.path_of)):
                    result = plan.fn(*args, run=run, **kwargs)
            else:
                result = plan.fn(*args, run=run, **kwargs)
            return run.finish(result)
        except BaseException as exc:
            chosen = run.abort(exc)
            if chosen is exc:
                raise
            raise chosen from None


def _acall_hint(state: JitState) -> str:
    return f"{state.owner.__name__}.acall(...)" if state.is_function else "jitted.acall(x)"
