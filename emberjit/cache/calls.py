"""The result cache in the call path: what ``op(x)`` and ``await op.acall(x)`` do while a cache is
on (``execution_options(cache=...)`` or ``EMBERJIT_CACHE=path``).

Each hook is ``hook(op, inputs, run)``, where ``run(op, inputs)`` makes the call. For each call:
if the call may be reused (:mod:`emberjit.cache.policy`), its key is made; a
stored result is returned (a fresh copy); otherwise the call runs, merged with an equal call
already in flight (:mod:`emberjit.cache.inflight`), and its result is stored. A call that may
not be reused runs as it would with no cache, and the reason is counted
(:func:`skipped`). ``operator.register(result_calls=...)`` puts these two functions on every
operator call, so this module is the only place that decides.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import operator_name
from ..operator import register
from ..options import CACHE_ENV, current, environ
from ..profiling import hooks
from .inflight import flights
from .policy import decide
from .store import ResultCache, open_cache

__all__ = ["CACHE_ENV", "Setting", "acall", "call", "setting", "skipped"]


_lock = threading.Lock()
_skipped: Counter[tuple[str, str]] = Counter()
#: called with (op, "hit" | "merged") for each call served without running (the jit layer
#: counts them in the operator's stats)
on_served: list[Callable[[object, str], None]] = []


class Setting:
    """The cache in force: a store (None: merge in flight only)."""

    __slots__ = ("store",)

    def __init__(self, store: ResultCache | None) -> None:
        self.store = store


_MERGE_ONLY = Setting(None)


def setting() -> Setting | None:
    """The cache in force in this context, or None (off)."""
    chosen = current().cache
    if chosen is None:
        path = environ(CACHE_ENV)
        if not path:
            return None
        chosen = path
    if chosen is False:
        return None
    if chosen is True:
        return _MERGE_ONLY
    if isinstance(chosen, ResultCache):
        return Setting(chosen)
    return Setting(open_cache(Path(chosen)))


class _Miss(NamedTuple):
    """Where a call's result goes once it ran."""

    store: ResultCache | None
    key: str
    name: str

    def keep(self, value: Any) -> Any:
        if self.store is not None:
            self.store.put(self.key, value, self.name)  # False for a value pickle cannot copy
        return value


def _look_up(op: object, inputs: Any) -> tuple[Any, _Miss | None] | None:
    """None: run the call as if no cache were on; ``(value, None)``: served from the file;
    ``(None, miss)``: run it (merged with an equal call in flight) and keep the result."""
    chosen = setting()
    if chosen is None:
        return None
    key, reason = decide(op, inputs)
    if key is None:
        skipped(op, reason or "")
        return None
    miss = _Miss(chosen.store, key, operator_name(op))
    if miss.store is not None:
        found, value = miss.store.get(key, operator=miss.name)
        if found:
            _served(op, "hit")
            return value, None
    return None, miss


def call(op: object, inputs: Any, run: Callable[[Any, Any], Any]) -> Any:
    """``run(op, inputs)``, through the cache in force (if any)."""
    looked = _look_up(op, inputs)
    if looked is None:
        return run(op, inputs)
    value, miss = looked
    if miss is None:
        return value
    value, merged = flights.run(miss.key, lambda: miss.keep(run(op, inputs)))
    if merged:
        _served(op, "merged")
    return value


async def acall(op: object, inputs: Any,
                run: Callable[[Any, Any], Coroutine[Any, Any, Any]]) -> Any:
    """:func:`call` for ``await op.acall(inputs)``: ``await run(op, inputs)``."""
    looked = _look_up(op, inputs)
    if looked is None:
        return await run(op, inputs)
    value, miss = looked
    if miss is None:
        return value

    async def execute() -> Any:
        assert miss is not None
        return miss.keep(await run(op, inputs))

    value, merged = await flights.arun(miss.key, execute)
    if merged:
        _served(op, "merged")
    return value


def _served(op: object, how: str) -> None:
    if hooks.active:  # a profile is open: its record of this call says so
        hooks.served(op, how)
    for listener in on_served:
        listener(op, how)


def skipped(op: object | None = None, reason: str = "") -> dict[tuple[str, str], int]:
    """Count a call not served from the cache (``op``, why); with no arguments, the counts by
    (operator, reason) so far."""
    with _lock:
        if op is not None:
            _skipped[operator_name(op), reason] += 1
        return dict(_skipped)


register(result_calls=(call, acall))
