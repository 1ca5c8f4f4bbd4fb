"""``execution_options``: how plans run, chosen per call, held in a context variable; and
``disabled()`` / ``EMBERJIT_DISABLE=1``: every jitted operator and function runs eagerly.

Context variables make the options thread- and asyncio-safe; they nest and restore, and the
schedulers copy the caller's context into worker threads, so options reach nested plans too.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

from .errors import InvalidOptionError

__all__ = ["CACHE_ENV", "DISABLE_ENV", "SCHEDULERS", "ExecutionOptions", "cache_possible",
           "current", "disabled", "environ", "execution_options", "jit_disabled"]

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
    #: the result cache: None (``$EMBERJIT_CACHE`` decides), False (off), True (identical
    #: calls in flight merged, nothing stored), a path, or an ``emberjit.ResultCache``
    cache: Any = None


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
    cache = changes.get("cache")
    if not (cache is None or isinstance(cache, bool | str | os.PathLike)
            or (hasattr(cache, "get") and hasattr(cache, "put"))):
        raise InvalidOptionError("cache", cache, ["None", "False", "True", "a file path",
                                                  "an emberjit.ResultCache"])
    if cache not in (None, False):
        global _cache_named
        _cache_named = True
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
    ``cache``: results of deterministic calls kept in a file (a path, or an
    ``emberjit.ResultCache``) and identical calls in flight run once; ``True``: only the
    merging; ``False``: off, even when ``$EMBERJIT_CACHE`` names a file (see docs/caching.md).

    Unknown names and invalid values raise ``ValueError`` listing the valid ones.
    """
    changes = _validate(dict(options))
    new = dataclasses.replace(_current.get(), **changes)
    token = _current.set(new)
    try:
        yield new
    finally:
        _current.reset(token)


# -- running eagerly on purpose -----------------------------------------------------------------

#: The environment variable that turns every plan off (read at each call): ``1``, ``true``...
DISABLE_ENV = "EMBERJIT_DISABLE"
_OFF_VALUES = ("", "0", "false", "no", "off")
_disabled: contextvars.ContextVar[bool] = contextvars.ContextVar("emberjit_disabled",
                                                                default=False)
try:  # os.environ.get encodes the key on every call (about 0.5 us): read its store directly
    _ENVIRON: Any = os.environ._data  # type: ignore[attr-defined]
    _ENV_KEY: Any = os.environ.encodekey(DISABLE_ENV)
except AttributeError:  # pragma: no cover - another Python's os.environ
    _ENVIRON, _ENV_KEY = os.environ, DISABLE_ENV


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Inside the ``with`` block every jitted operator and function runs its plain ``forward``
    (a function, its own body), eagerly, as if it had never been jitted (``acall``: an async
    forward is awaited, a sync one runs off the event loop, as ``Operator.acall`` does): to
    compare with eager, or to step through your own code in a debugger (like
    ``JAX_DISABLE_JIT``). Nests and restores;
    ``EMBERJIT_DISABLE=1`` in the environment does the same for the whole process, read at
    each call. Calls made while disabled compile nothing and count in no jit stats."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)


def jit_disabled() -> bool:
    """Whether jitted code runs eagerly now (:func:`disabled`, or ``EMBERJIT_DISABLE``)."""
    if _disabled.get():
        return True
    value = _ENVIRON.get(_ENV_KEY)
    if value is None:
        return False
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.strip().lower() not in _OFF_VALUES


_keys: dict[str, Any] = {}

#: the environment variable naming a result cache for the whole process (emberjit.cache)
CACHE_ENV = "EMBERJIT_CACHE"
_cache_named = False  # set once any execution_options(cache=...) names a cache


def _env_key(name: str) -> Any:
    key = _keys.get(name)
    if key is None:
        key = _keys[name] = os.environ.encodekey(name) if _ENVIRON is not os.environ else name
    return key


_CACHE_KEY = _env_key(CACHE_ENV)


def cache_possible() -> bool:
    """False while no result cache can be on: none was ever named in ``execution_options`` and
    ``$EMBERJIT_CACHE`` is not set (so an operator call skips the cache's hook at the cost of
    this check; see emberjit.cache.calls)."""
    return _cache_named or _CACHE_KEY in _ENVIRON


def environ(name: str) -> str | None:
    """``os.environ.get(name)``, read at call time but cheaply (it is read on every call)."""
    value = _ENVIRON.get(_env_key(name))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
