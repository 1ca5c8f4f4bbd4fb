"""``get_jit_stats`` / ``reset_jit_stats``: what really happened, per operator and in total."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

__all__ = ["JitStats", "StatsRegistry", "registry"]


@dataclasses.dataclass
class JitStats:
    """Counts for one jitted operator (or the totals). Readable as attributes or by key:
    ``s.cache_hits == s["cache_hits"]``."""

    name: str = "total"
    mode: str = ""
    plan_origin: str = ""  # "jit" or "aot"
    calls: int = 0
    compiles: int = 0
    compile_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    guard_failures: int = 0
    recompiles: int = 0
    fallbacks: list[str] = dataclasses.field(default_factory=list)
    run_seconds: float = 0.0
    #: its calls served by the result cache: from the file, or an identical call's in flight
    result_hits: int = 0
    result_merged: int = 0

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(f"{key!r}: JitStats has {', '.join(_FIELDS)}")
        return getattr(self, key)

    def keys(self) -> tuple[str, ...]:
        return _FIELDS

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FIELDS}

    def __str__(self) -> str:
        return (f"{self.name} [{self.mode or '-'}, plan from {self.plan_origin or '-'}]: "
                f"{self.calls} calls, {self.compiles} compiles "
                f"({self.compile_seconds * 1e3:.1f} ms)"
                f", {self.cache_hits} hits / {self.cache_misses} misses, "
                f"{self.guard_failures} guard failures, {self.recompiles} recompiles, "
                f"{len(self.fallbacks)} fallbacks, run {self.run_seconds * 1e3:.1f} ms"
                + (f", results {self.result_hits} from the cache / {self.result_merged} merged"
                   if self.result_hits or self.result_merged else ""))


_FIELDS = tuple(f.name for f in dataclasses.fields(JitStats))
_COUNTERS = ("calls", "compiles", "compile_seconds", "cache_hits", "cache_misses",
             "guard_failures", "recompiles", "run_seconds", "result_hits", "result_merged")


class StatsRegistry:
    """Every jitted operator's stats; all updates go through one lock (cheap, and exact under
    many threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._all: list[JitStats] = []

    def new(self, name: str, mode: str) -> JitStats:
        stats = JitStats(name=name, mode=mode)
        with self.lock:
            self._all.append(stats)
        return stats

    def total(self) -> JitStats:
        total = JitStats()
        with self.lock:
            for s in self._all:
                for key in _COUNTERS:
                    setattr(total, key, getattr(total, key) + getattr(s, key))
                total.fallbacks.extend(f"{s.name}: {r}" for r in s.fallbacks)
        return total

    def reset(self) -> None:
        with self.lock:
            for s in self._all:
                for key in _COUNTERS:
                    setattr(s, key, type(getattr(s, key))())
                s.fallbacks.clear()


registry = StatsRegistry()
