"""Schedulers: how a plan's calls run. One :class:`Run` per plan invocation.

``sequential``
    every call at once, in program order, on the calling thread (:mod:`.sequential`).
``threads``
    a shared, persistent pool; calls start when their inputs are ready (:mod:`.threads`,
    :mod:`.pool`).

``new_run`` picks one from :func:`emberjit.options.current`; ``auto`` takes threads for plans
with concurrent calls and sequential for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidOptionError
from ..options import ExecutionOptions
from .base import Namer, Run, describe_operator
from .pool import Pool, get_pool, shutdown_pools
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

_AVAILABLE = ("auto", "sequential", "threads")


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
            route: Mapping[int, Any] | None = None) -> Run:
    """A run for one plan invocation on the scheduler the options (and the plan) call for."""
    if scheduler_for(options, concurrent) == "sequential":
        return SequentialRun(root, namer, route)
    return ThreadRun(root, namer, get_pool(options.max_workers), options.timeout, route)
