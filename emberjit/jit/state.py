"""The per-operator jit state: the chosen specialization, its guard, dispatch and recompiles.

A :class:`JitState` hangs off a jitted operator instance (``_emberjit_state`` in its
``__dict__``; ``Operator.__call__`` hands calls to it) or wraps a jitted function. Each call
checks the guard of the current specialization (a few identity and type checks), picks a run on
the scheduler ``execution_options`` asks for, and runs the plan.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import types
import warnings
from collections.abc import Callable
from typing import Any

from ..analysis.env import operator_kind
from ..errors import GuardLimitError, JitFallbackError, StructuralAnalysisError
from ..operator import Operator
from ..options import current
from ..runtime import Run, SequentialRun, new_run
from .cache import plan_cache
from .select import Specialization, decide
from .stats import JitStats, registry

__all__ = ["JitConfig", "JitState", "eager_call"]

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
    child: bool = False  # attached by a parent's recursive=True: never fails, falls back


def eager_call(op: Operator[Any, Any], inputs: Any) -> Any:
    """Call ``op.forward`` the way ``Operator.__call__`` would, bypassing any jit state."""
    if type(op)._forward_style == "keyword":
        return op.forward(inputs=inputs)
    return op.forward(inputs)


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
        self.warned = False
        self.route: dict[int, JitState] = {}  # recursive=True: sub-operators' own states
        self._sequential = SequentialRun(name, self.path_of, self.route)

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
        """Run the operator's plan on ``inputs`` (an operator's one input)."""
        return self._dispatch((self.owner, inputs), {})

    def call_function(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._dispatch(args, kwargs)

    def _dispatch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        spec = self.spec
        guard_args = () if self.is_function else (self.owner,)
        hit = spec is not None and spec.guard(*guard_args) is None
        if not hit:
            spec = self._specialize(guard_args)
        assert spec is not None
        start = time.perf_counter()
        try:
            if spec.plan is None:
                result = self._eager(args, kwargs)
            else:
                result = self._run_plan(spec, args, kwargs)
        finally:
            elapsed = time.perf_counter() - start
            stats = self.stats
            with registry.lock:
                stats.calls += 1
                stats.run_seconds += elapsed
                if hit:
                    stats.cache_hits += 1
        return result

    def _eager(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.is_function:
            return self.owner(*args, **kwargs)
        return eager_call(self.owner, args[1])

    def _run_plan(self, spec: Specialization, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        plan = spec.plan
        assert plan is not None
        options = current()
        run: Run
        if options.scheduler == "sequential" or (options.scheduler == "auto"
                                                 and not plan.concurrent):
            run = self._sequential
        else:
            run = new_run(self.root, self.path_of, options, plan.concurrent, self.route)
        try:
            if self.is_function:
                result = plan.fn(*args, run=run, **kwargs)
            else:
                result = plan.fn(args[0], args[1], run)
            return run.finish(result)
        except BaseException as exc:
            chosen = run.abort(exc)
            if chosen is exc:
                raise
            raise chosen from None

    # -- specializing --------------------------------------------------------------------------

    def _specialize(self, guard_args: tuple[Any, ...]) -> Specialization:
        with self.lock:
            spec = self.spec
            if spec is not None:
                reason = spec.guard(*guard_args)
                if reason is None:
                    return spec  # another thread re-specialized meanwhile
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
        route: dict[int, JitState] = {}
        for sub in self._direct_children():
            own = vars(sub).get("_emberjit_state") if hasattr(sub, "__dict__") else None
            old = self.route.get(id(sub))
            if own is not None:
                route[id(sub)] = own
            elif old is not None and old.owner is sub:
                route[id(sub)] = old
            else:
                route[id(sub)] = JitState(sub, child_config)
        self.route.clear()
        self.route.update(route)

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
        message = (f"{self.root}: recompile limit ({self.config.recompile_limit}) reached; "
                   f"last guard failure: {reason}. Running it eagerly from now on.")
        if self.config.strict:
            raise GuardLimitError(message + " (strict=True makes this an error)")
        with registry.lock:
            self.stats.fallbacks.append(message)
        if not self.warned:
            self.warned = True
            warnings.warn(message, RuntimeWarning, stacklevel=5)
        self.spec = Specialization.eager(self.root, [message], fallback=True)

    def _lookup_or_compile(self) -> Specialization:
        key_owner, key = self._cache_key()
        cached = plan_cache.get(key_owner, key) if key_owner is not None else None
        with registry.lock:
            if self.spec is not None:
                self.stats.recompiles += 1 if cached is None else 0
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        start = time.perf_counter()
        try:
            spec = decide(self.owner, self.config)
        except StructuralAnalysisError as exc:
            if self.config.child and not self.config.strict:
                spec = Specialization.eager(self.root, [f"kept eager: {exc}"])
            else:
                raise
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
        if key_owner is not None:
            plan_cache.put(key_owner, key, spec)
        return spec

    def _cache_key(self) -> tuple[Any, Any]:
        if self.is_function:
            return self.owner, (self.owner.__code__, self.config)
        cls = type(self.owner)
        forward: Callable[..., Any] | None = getattr(cls, "forward", None)
        attrs = tuple(sorted((k, kind) for k, v in vars(self.owner).items()
                             if (kind := operator_kind(v)) is not None))
        return cls, (getattr(forward, "__code__", None), attrs, self.config)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
