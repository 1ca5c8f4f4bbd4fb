"""The compile cache: plans keyed weakly by class (or function), then by what they were
specialized on. Bounded: at most ``MAX_PER_OWNER`` specializations per class, oldest dropped."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any

__all__ = ["MAX_PER_OWNER", "PlanCache", "plan_cache"]

MAX_PER_OWNER = 16
COMPILE_WAIT = 10.0


class PlanCache:
    def __init__(self) -> None:
        self._by_owner: weakref.WeakKeyDictionary[Any, OrderedDict[Hashable, Any]] = (
            weakref.WeakKeyDictionary())
        self.lock = threading.RLock()
        self._inflight: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()

    def get(self, owner: Any, key: Hashable) -> Any:
        with self.lock:
            entries = self._by_owner.get(owner)
            if entries is None or key not in entries:
                return None
            entries.move_to_end(key)
            return entries[key]

    def put(self, owner: Any, key: Hashable, value: Any) -> None:
        with self.lock:
            entries = self._by_owner.setdefault(owner, OrderedDict())
            entries[key] = value
            while len(entries) > MAX_PER_OWNER:
                entries.popitem(last=False)

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
