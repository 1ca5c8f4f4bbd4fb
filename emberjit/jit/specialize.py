"""How a jitted operator gets what it runs: specializing, guards that fail, recompiles, the
compile cache, ahead-of-time plans, and routes to sub-operators' own plans.

:class:`Specializer` is the half of :class:`~emberjit.jit.state.JitState` that decides; the other
half (dispatch, in ``state.py``) runs what was decided.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import JitFallbackError, StructuralAnalysisError
from ..operator import Operator, has_async_forward
from ..runtime import SequentialRun
from .cache import plan_cache
from .limit import give_up
from .select import Specialization, decide, is_leaf
from .stats import JitStats, registry

if TYPE_CHECKING:
    from .state import JitConfig

__all__ = ["Specializer"]


class Specializer:
    """The deciding half of a jit state (see the module docstring)."""

    owner: Any
    config: JitConfig
    is_function: bool
    root: str
    stats: JitStats
    spec: Specialization | None
    lock: threading.RLock
    guard_failures: int
    warned: bool
    route: dict[int, Any]
    _sequential: SequentialRun
    _direct: SequentialRun

    def path_of(self, op: object) -> str:
        raise NotImplementedError  # JitState names sub-operators

    def child(self, sub: Operator[Any, Any], config: JitConfig) -> Any:
        raise NotImplementedError  # JitState makes the state of a routed sub-operator

    # -- specializing --------------------------------------------------------------------------

    def _specialize(self, guard_args: tuple[Any, ...]) -> Specialization:
        with self.lock:
            spec = self.spec
            if spec is not None:
                reason = spec.guard(*guard_args)
                if reason is None:  # another thread specialized meanwhile: this call hits
                    with registry.lock:
                        self.stats.cache_hits += 1
                    return spec
                self._guard_failed(reason)
                if self.spec is not None and self.spec.fallback:
                    return self.spec
            spec = self._lookup_or_compile()
            self.spec = spec
            if spec.plan is not None and self.config.recursive:
                self._route_children()
            return spec

    def _route_children(self) -> None:
        """``recursive=True``: calls to composite sub-operators go through their own plans.
        The sub-operators themselves are not changed (their own calls stay eager)."""
        child_config = dataclasses.replace(self.config, child=True, sample_input=None)
        route: dict[int, Any] = {}
        for sub in self._direct_children():
            own = vars(sub).get("_emberjit_state") if hasattr(sub, "__dict__") else None
            old = self.route.get(id(sub))
            if own is not None or is_leaf(sub):
                continue  # jitted on its own already, or nothing to compile: called directly
            if old is not None and old.owner is sub:
                route[id(sub)] = old
            else:
                route[id(sub)] = self.child(sub, child_config)
        # swapped whole, never edited in place: calls running on other threads keep reading the
        # table they started with
        self.route = route
        self._sequential = SequentialRun(self.root, self.path_of, route)
        self._direct = self._sequential.direct()

    def _direct_children(self) -> list[Operator[Any, Any]]:
        if self.is_function:
            fn = self.owner
            cells = [c.cell_contents for c in fn.__closure__ or () if _filled(c)]
            values = [*cells, *fn.__globals__.values()]
            return [v for v in values if isinstance(v, Operator)]
        return [sub for _, sub in self.owner.sub_operators()]

    def _guard_failed(self, reason: str) -> None:
        self.guard_failures += 1
        with registry.lock:
            self.stats.guard_failures += 1
        if self.guard_failures <= self.config.recompile_limit:
            return
        message = give_up(self.root, self.config, reason, self.stats, warn=not self.warned,
                          stacklevel=5)
        self.warned = True
        self.spec = Specialization.eager(self.root, [message], fallback=True)

    def _lookup_or_compile(self) -> Specialization:
        aot = self._aot_plan()
        if aot is not None:
            return aot
        key_owner, key = self._cache_key()
        if key_owner is None:  # traced per instance: nothing shared to wait for
            return self._compile_once(None, None)
        with plan_cache.compiling(key_owner, key):  # one compile per key, even when racing
            return self._compile_once(key_owner, key)

    def _compile_once(self, key_owner: Any, key: Any) -> Specialization:
        cached = plan_cache.get(key_owner, key) if key_owner is not None else None
        if cached is not None and cached.guard(*(() if self.is_function else (self.owner,))):
            cached = None  # an equal key (code objects compare by value) whose guard fails
        with registry.lock:
            if self.spec is not None:
                self.stats.recompiles += 1 if cached is None else 0
            if cached is not None:  # another instance compiled it: same mode, same origin
                self.stats.mode, self.stats.plan_origin = cached.mode, cached.origin
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        start = time.perf_counter()
        try:
            spec = _async_eager(self.owner, self.root) or decide(self.owner, self.config)
        except StructuralAnalysisError as exc:
            if self.config.child and not self.config.strict:
                spec = Specialization.eager(self.root, [f"kept eager: {exc}"])
            else:
                raise
        if spec.bind is not None:  # trace mode: the runner counts its re-traces
            spec.bind(self.stats)
        elapsed = time.perf_counter() - start
        with registry.lock:
            self.stats.cache_misses += 1
            self.stats.compiles += 1
            self.stats.compile_seconds += elapsed
            self.stats.mode = spec.mode
            self.stats.plan_origin = spec.origin
            if spec.fallback_reasons:
                self.stats.fallbacks.extend(spec.fallback_reasons)
        if self.config.strict and spec.fallback_reasons:
            raise JitFallbackError("; ".join(spec.fallback_reasons))
        if key_owner is not None and spec.mode not in ("trace", "enhanced"):  # per instance
            plan_cache.put(key_owner, key, spec)
        return spec

    def _aot_plan(self) -> Specialization | None:
        """An ahead-of-time plan matching the current source (``emberjit.aot``), or None. Checked
        before the cache key, so running from AOT plans imports no libcst."""
        from .aot_plans import aot_specialization

        spec = aot_specialization(self.owner, self.config)
        if spec is None or spec.guard(*(() if self.is_function else (self.owner,))) is not None:
            return None
        with registry.lock:
            self.stats.mode, self.stats.plan_origin = spec.mode, spec.origin
        return spec

    def _cache_key(self) -> tuple[Any, Any]:
        from ..analysis.env import operator_kind  # local: imports libcst (see _aot_plan)

        config = self.config
        if config.mode in ("trace", "enhanced") or config.force_trace \
                or config.sample_input is not None:
            return None, None  # traced per instance (and sample_input may not be hashable)
        if self.is_function:
            return self.owner, (self.owner.__code__, self.config)
        cls = type(self.owner)
        forward: Callable[..., Any] | None = getattr(cls, "forward", None)
        attrs = tuple(sorted((k, kind) for k, v in vars(self.owner).items()
                             if (kind := operator_kind(v)) is not None))
        return cls, (getattr(forward, "__code__", None), attrs, self.config)


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
