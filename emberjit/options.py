"""``execution_options``: how plans run, chosen per call, held in a context variable.

Context variables make the options thread- and asyncio-safe; they nest and restore, and the
schedulers copy the caller's context into worker threads, so options reach nested plans too.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import Any

from .errors import InvalidOptionError

__all__ = ["SCHEDULERS", "ExecutionOptions", "current", "execution_options"]

#: Scheduler names accepted by ``execution_options(scheduler=...)``; "parallel" is an alias of
#: "threads".
SCHEDULERS = ("auto", "sequential", "threads", "parallel", "async", "dask")


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionOptions:
    """The frozen options in force; see :func:`execution_options` for what each means."""

    scheduler: str = "auto"
    max_workers: int | None = None
    timeout: float | None = None
    max_concurrency: int | None = None
    retries: int = 0
    client: Any = None


_FIELDS = tuple(f.name for f in dataclasses.fields(ExecutionOptions))
_DEFAULT = ExecutionOptions()
_current: contextvars.ContextVar[ExecutionOptions] = contextvars.ContextVar(
    "emberjit_execution_options", default=_DEFAULT
)


def current() -> ExecutionOptions:
    """The options in force in this context (thread, task, or plan call)."""
    return _current.get()


def _validate(changes: dict[str, Any]) -> dict[str, Any]:
    for key in changes:
        if key not in _FIELDS:
            raise InvalidOptionError("execution option", key, _FIELDS)
    if "scheduler" in changes:
        name = changes["scheduler"]
        if name not in SCHEDULERS:
            raise InvalidOptionError("scheduler", name, SCHEDULERS)
        if name == "parallel":
            changes["scheduler"] = "threads"
    for key in ("max_workers", "max_concurrency"):
        value = changes.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise InvalidOptionError(key, value, ["a positive int", "None"])
    timeout = changes.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not 0 < timeout < float("inf")):
        raise InvalidOptionError("timeout", timeout, ["a positive number of seconds", "None"])
    retries = changes.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidOptionError("retries", retries, ["an int >= 0"])
    return changes


@contextlib.contextmanager
def execution_options(**options: Any) -> Iterator[ExecutionOptions]:
    """Set how plans run inside the ``with`` block; nests, and restores on exit.

    ``scheduler``: ``"auto"`` (threads when the plan has concurrent calls, else sequential),
    ``"sequential"``, ``"threads"`` (alias ``"parallel"``), ``"async"``, ``"dask"``.
    ``max_workers``: size of the thread pool (default 64: calls are I/O-bound).
    ``timeout``: seconds one operator call may take before ``ExecutionTimeoutError``.
    ``max_concurrency``: bound on calls in flight. ``retries``: retries of a failed call (dask).
    ``client``: a ``distributed.Client`` for the dask scheduler.

    Unknown names and invalid values raise ``ValueError`` listing the valid ones.
    """
    changes = _validate(dict(options))
    new = dataclasses.replace(_current.get(), **changes)
    token = _current.set(new)
    try:
        yield new
    finally:
        _current.reset(token)
