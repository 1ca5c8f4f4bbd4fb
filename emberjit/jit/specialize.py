"""How a jit state gets what it runs: guards that fail, specializing, the compile cache,
ahead-of-time plans, and routes to sub-operators' own plans. Plain functions over a
:class:`~emberjit.jit.state.JitState` (whose state its module docstring describes); every mode
takes the same path when a guard fails.
"""

from __future__ import annotations

import dataclasses
import time
import types
from typing import TYPE_CHECKING, Any

from ..errors import JitFallbackError, StructuralAnalysisError
from ..operator import Operator, has_async_forward
from ..runtime import SequentialRun
from .cache import plan_cache
from .limit import give_up
from .select import decide, is_leaf
from .specialization import Specialization
from .stats import registry

if TYPE_CHECKING:
    from .state import JitState

__all__ = ["NO_INPUT", "route_children", "specialization_for", "specialize"]

#: a call whose input the plan's input guard does not read (a function's, or named inputs)
NO_INPUT: Any = object()
_FORCED = "force_trace=True: every call is traced again"


def specialization_for(state: JitState, guard_args: tuple[Any, ...],
                       inputs: Any = NO_INPUT) -> tuple[Specialization, bool]:
    """The specialization this call runs, and whether it was a hit (its guards held)."""
    spec = state.spec
    if spec is not None and misfit(state, spec, guard_args, inputs) is None:
        return spec, True
    return specialize(state, guard_args, inputs), False


def misfit(state: JitState, spec: Specialization, guard_args: tuple[Any, ...],
           inputs: Any) -> str | None:
    """Why ``spec`` does not fit this call (None: it does)."""
    reason = spec.guard(*guard_args)
    if reason is not None or spec.trace is None or inputs is NO_INPUT:
        return reason
    if state.config.force_trace:
        return _FORCED
    if spec.input_guard is None:
        return None
    try:
        return spec.input_guard(state.owner, inputs)
    except Exception as exc:  # a sub-operator path no longer exists
        return f"{type(exc).__name__}: {exc}"


def specialize(state: JitState, guard_args: tuple[Any, ...],
               inputs: Any = NO_INPUT) -> Specialization:
    """A new specialization for the state (compiled, from the cache or ahead of time), after
    the current one's guard failed (counted; past the recompile limit: eager from now on)."""
    with state.lock:
        spec = state.spec
        if spec is not None:
            reason = misfit(state, spec, guard_args, inputs)
            if reason is None:  # another thread specialized meanwhile: this call hits
                with registry.lock:
                    state.stats.cache_hits += 1
                return spec
            if reason != _FORCED:
                _guard_failed(state, spec, reason)
            if state.spec is not None and state.spec.fallback:
                return state.spec
        start = time.perf_counter()  # all the call pays to get a plan: imports, analysis, links
        spec = _lookup_or_compile(state)
        state.spec = spec
        if spec.plan is not None and state.config.recursive:
            route_children(state)
        elapsed = time.perf_counter() - start
        with registry.lock:
            state.stats.compile_seconds += elapsed
        return spec


def _guard_failed(state: JitState, spec: Specialization, reason: str) -> None:
    state.guard_failures += 1
    state.last_failure = reason
    with registry.lock:
        state.stats.guard_failures += 1
    if state.guard_failures <= state.config.recompile_limit:
        return
    message = give_up(state.root, state.config, reason, state.stats, warn=not state.warned,
                      mode=spec.mode if spec.learner is not None else None)
    state.warned = True
    state.spec = Specialization.eager(state.root, [message], fallback=True)


def _lookup_or_compile(state: JitState) -> Specialization:
    aot = _aot_plan(state)
    if aot is not None:
        return aot
    owner = _cache_owner(state)
    if owner is None:  # traced per instance: nothing shared to wait for
        return _compile_once(state, None, ())
    shape = _shape_of(state)
    with plan_cache.compiling(owner, (state.config, shape)):  # one compile, even when racing
        return _compile_once(state, owner, shape)


def _compile_once(state: JitState, owner: Any, shape: tuple[tuple[str, str], ...]
                  ) -> Specialization:
    guard_args = () if state.is_function else (state.owner,)

    def fits(spec: Specialization) -> bool:  # what the cached one assumes holds here
        return spec.assumed_shape == shape and spec.guard(*guard_args) is None

    cached = plan_cache.find(owner, state.config, fits) if owner is not None else None
    stats = state.stats
    with registry.lock:
        if state.spec is not None:
            stats.recompiles += 1 if cached is None else 0
        if cached is not None:  # another instance compiled it: same mode, same origin
            stats.mode, stats.plan_origin = cached.mode, cached.origin
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        spec = _async_eager(state.owner, state.root) or decide(state.owner, state.config)
    except StructuralAnalysisError as exc:
        if state.config.child and not state.config.strict:
            spec = Specialization.eager(state.root, [f"kept eager: {exc}"], owner=state.owner)
        else:
            raise
    if spec.plan is None:
        spec = dataclasses.replace(spec, shape=shape)  # an eager decision assumes the shape
    with registry.lock:
        stats.cache_misses += 1
        if spec.plan is not None or spec.learner is not None:  # a plan was made (or will be)
            stats.compiles += 1
        stats.mode = spec.mode
        stats.plan_origin = spec.origin
        if spec.fallback_reasons:
            stats.fallbacks.extend(spec.fallback_reasons)
    if state.config.strict and spec.fallback_reasons:
        raise JitFallbackError("; ".join(spec.fallback_reasons))
    if owner is not None and spec.learner is None:  # a trace's plan is per instance
        plan_cache.put(owner, state.config, spec)
    return spec


def _aot_plan(state: JitState) -> Specialization | None:
    """An ahead-of-time plan matching the current source (``emberjit.aot``), or None. Checked
    before the cache key, so running from AOT plans imports no libcst."""
    from .aot_plans import aot_specialization

    spec = aot_specialization(state.owner, state.config)
    if spec is None or spec.guard(*(() if state.is_function else (state.owner,))) is not None:
        return None
    with registry.lock:
        state.stats.mode, state.stats.plan_origin = spec.mode, spec.origin
    return spec


def _cache_owner(state: JitState) -> Any:
    """Whose plans another instance may share (its class, or the function), or None: traced
    plans are per instance (and ``sample_input`` may not be hashable)."""
    config = state.config
    if config.mode in ("trace", "enhanced") or config.force_trace \
            or config.sample_input is not None:
        return None
    return state.owner if state.is_function else type(state.owner)


def _shape_of(state: JitState) -> tuple[tuple[str, str], ...]:
    """The kinds of the instance's operator attributes, as the compiler sees them."""
    from ..analysis.env import operator_kind  # local: imports libcst (see _aot_plan)

    if state.is_function:
        return ()
    return tuple(sorted((k, kind) for k, v in vars(state.owner).items()
                        if (kind := operator_kind(v)) is not None))


def route_children(state: JitState) -> None:
    """``recursive=True``: calls to composite sub-operators go through their own plans.
    The sub-operators themselves are not changed (their own calls stay eager)."""
    child_config = dataclasses.replace(state.config, child=True, sample_input=None)
    route: dict[int, Any] = {}
    for sub in _direct_children(state):
        own = vars(sub).get("_emberjit_state") if hasattr(sub, "__dict__") else None
        old = state.route.get(id(sub))
        if own is not None or is_leaf(sub):
            continue  # jitted on its own already, or nothing to compile: called directly
        if old is not None and old.owner is sub:
            route[id(sub)] = old
        else:
            route[id(sub)] = type(state)(sub, child_config)
    # swapped whole, never edited in place: calls running on other threads keep reading the
    # table they started with
    state.route = route
    state.sequential = SequentialRun(state.root, state.path_of, route)
    state.direct = state.sequential.direct()


def _direct_children(state: JitState) -> list[Operator[Any, Any]]:
    if state.is_function:
        fn = state.owner
        cells = [c.cell_contents for c in fn.__closure__ or () if _filled(c)]
        values = [*cells, *fn.__globals__.values()]
        return [v for v in values if isinstance(v, Operator)]
    return [sub for _, sub in state.owner.sub_operators()]


def _async_eager(owner: Any, root: str) -> Specialization | None:
    """An ``async def forward`` is its own schedule: it runs as written, never compiled."""
    if isinstance(owner, types.FunctionType) or not has_async_forward(type(owner)):
        return None
    return Specialization.eager(root, [
        "forward is `async def`: it runs as written (its awaits are its own schedule); "
        "`await op.acall(x)` awaits it, a sync call runs it on a private event loop"],
        owner=owner)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
