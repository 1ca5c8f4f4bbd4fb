"""Schedulers: how a plan's calls run. One :class:`Run` per plan invocation.

``sequential``
    every call at once, in program order, on the calling thread (:mod:`.sequential`).
``threads``
    a shared, persistent pool; calls start when their inputs are ready (:mod:`.threads`, on
    :class:`emberjit.executors.Pool`).
``async``
    the plan's ``async def`` variant, its calls ``asyncio`` tasks (:mod:`.async_run`).
``dask``
    each call a ``distributed`` task, results passed as futures (:mod:`.dask_run`).

``new_run`` picks one from :func:`emberjit.options.current`; ``auto`` takes threads for plans
with concurrent calls and sequential for the rest. The concurrent ones (and the batch runner)
raise failures by one program-order policy (:mod:`.order`) and supply only how they wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidOptionError
from ..executors import Pool, get_pool, shutdown_pools
from ..options import ExecutionOptions
from .base import Namer, Run, describe_operator
from .sequential import SequentialRun
from .threads import ThreadRun

__all__ = [
    "Namer",
    "Pool",
    "Run",
    "SequentialRun",
    "ThreadRun",
    "describe_operator",
    "get_pool",
    "new_run",
    "scheduler_for",
    "shutdown_pools",
]

_AVAILABLE = ("auto", "sequential", "threads", "async", "dask")


def scheduler_for(options: ExecutionOptions, concurrent: bool) -> str:
    """The scheduler a plan runs on: ``options.scheduler``, with ``auto`` resolved."""
    name = options.scheduler
    if name == "auto":
        return "threads" if concurrent else "sequential"
    if name not in _AVAILABLE:
        raise InvalidOptionError(f"scheduler (not available in this build: {name!r})", name,
                                 _AVAILABLE)
    return name


def new_run(root: str, namer: Namer, options: ExecutionOptions, concurrent: bool,
            route: Mapping[int, Any] | None = None, owner: Any = None) -> Run:
    """A run for one plan invocation on the scheduler the options (and the plan) call for
    (``async`` plans are run by the jit layer: they need the plan's async variant)."""
    name = scheduler_for(options, concurrent)
    if name == "sequential":
        return SequentialRun(root, namer, route)
    if name == "dask":
        from .dask_run import DaskRun  # imports distributed: only when asked for

        return DaskRun(root, namer, options, owner)
    return ThreadRun(root, namer, get_pool(options.max_workers), options.timeout, route)
