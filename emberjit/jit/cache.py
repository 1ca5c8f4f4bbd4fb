"""The compile cache: specializations held weakly by class (or function), then by the jit's
options. A cached specialization serves another instance when what it assumes holds for that
instance: its guard (the code it was compiled from, the operators it calls) and the kinds of the
instance's operator attributes it was compiled with (``Specialization.shape``). So the key is
the specialization's own record of assumptions (:mod:`emberjit.compiler.assumptions`), not a
second set of facts beside it. Bounded: at most ``MAX_PER_OWNER`` specializations per class,
the least recently used dropped."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any

__all__ = ["MAX_PER_OWNER", "PlanCache", "plan_cache"]

MAX_PER_OWNER = 16
COMPILE_WAIT = 10.0


class PlanCache:
    def __init__(self) -> None:
        #: owner -> [(options, specialization)], least recently used first
        self._by_owner: weakref.WeakKeyDictionary[Any, list[tuple[Hashable, Any]]] = (
            weakref.WeakKeyDictionary())
        self.lock = threading.RLock()
        self._inflight: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()

    def find(self, owner: Any, options: Hashable, fits: Callable[[Any], bool]) -> Any:
        """The most recently used specialization of ``owner`` under ``options`` that ``fits``
        (its assumptions hold for the instance asking), or None."""
        with self.lock:
            entries = self._by_owner.get(owner, [])
            for i in range(len(entries) - 1, -1, -1):
                key, spec = entries[i]
                if key == options and fits(spec):
                    entries.append(entries.pop(i))
                    return spec
            return None

    def put(self, owner: Any, options: Hashable, spec: Any) -> None:
        with self.lock:
            entries = self._by_owner.setdefault(owner, [])
            entries.append((options, spec))
            del entries[:-MAX_PER_OWNER]

    @contextlib.contextmanager
    def compiling(self, owner: Any, key: Hashable) -> Iterator[None]:
        """Hold the compile of ``(owner, key)``: a second thread compiling the same key waits and
        then finds the first one's plan. The wait is bounded (a trace runs user code, which might
        wait for that second thread): after ``COMPILE_WAIT`` seconds both compile."""
        with self.lock:
            lock = self._inflight.setdefault((id(owner), key), threading.Lock())
        acquired = lock.acquire(timeout=COMPILE_WAIT)
        try:
            yield
        finally:
            if acquired:
                lock.release()

    def clear(self) -> None:
        with self.lock:
            self._by_owner.clear()

    def __len__(self) -> int:
        with self.lock:
            return sum(len(v) for v in self._by_owner.values())


plan_cache = PlanCache()
