"""The compile cache: plans keyed weakly by class (or function), then by what they were
specialized on. Bounded: at most ``MAX_PER_OWNER`` specializations per class, oldest dropped."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["MAX_PER_OWNER", "PlanCache", "plan_cache"]

MAX_PER_OWNER = 16


class PlanCache:
    def __init__(self) -> None:
        self._by_owner: weakref.WeakKeyDictionary[Any, OrderedDict[Hashable, Any]] = (
            weakref.WeakKeyDictionary())
        self.lock = threading.RLock()

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

    def clear(self) -> None:
        with self.lock:
            self._by_owner.clear()

    def __len__(self) -> int:
        with self.lock:
            return sum(len(v) for v in self._by_owner.values())


plan_cache = PlanCache()
