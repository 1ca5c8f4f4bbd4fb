"""Timing: every contender runs the same workload in this process, interleaved, after a warm-up.

One round runs each contender once (the order rotates by one each round, so no contender is
always first or last); the reported figure is the median over the timed rounds. A sample repeats
the call until it takes at least ``workload.min_sample`` seconds (cheap workloads such as the
chain) and is recorded per call. Every result is checked against the workload's expected value.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from typing import Any

from .contenders import Contender, Prepared
from .workloads import Workload

__all__ = ["BenchError", "check_once", "measure", "print_report", "target_line"]


class BenchError(AssertionError):
    """A contender returned a wrong result."""


def _check(wl: Workload, name: str, value: Any) -> None:
    if value != wl.expected:
        raise BenchError(f"{name} on {wl.name}: got {value!r}, expected {wl.expected!r}")


def _sample(wl: Workload, name: str, prepared: Prepared, inner: int) -> float:
    """Seconds per call, over ``inner`` calls inside the contender's context."""
    call = prepared.call
    with prepared.context():
        start = time.perf_counter()
        for _ in range(inner):
            value = call()
        elapsed = time.perf_counter() - start
    _check(wl, name, value)
    return elapsed / inner


def check_once(wl: Workload, contender: Contender) -> Any:
    """Run ``wl`` once through ``contender`` and check the result (the smoke test's path)."""
    prepared = contender.prepare(wl)
    try:
        with prepared.context():
            value = prepared.call()
        _check(wl, contender.name, value)
        return value
    finally:
        prepared.close()


def measure(wl: Workload, contenders: list[Contender], repeats: int | None = None,
            warmup: int = 1) -> dict[str, Any]:
    """Time ``wl`` under every contender; returns the figures as plain data (for the JSON)."""
    repeats = wl.repeats if repeats is None else repeats
    prepared = {c.name: c.prepare(wl) for c in contenders}
    inner = dict.fromkeys(prepared, 1)
    runs: dict[str, list[float]] = {name: [] for name in prepared}
    try:
        for _ in range(warmup):  # warm-up: pools, caches, plans (the first call compiles)
            for name, p in prepared.items():
                _sample(wl, name, p, 1)
        if wl.min_sample:  # size cheap samples from one call after the warm-up
            for name, p in prepared.items():
                took = _sample(wl, name, p, 1)
                inner[name] = max(1, math.ceil(wl.min_sample / max(took, 1e-7)))
        names = list(prepared)
        for round_ in range(repeats):
            gc.collect()
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(_sample(wl, name, prepared[name], inner[name]))
    finally:
        for p in prepared.values():
            p.close()
    return {
        "workload": wl.name,
        "description": wl.description,
        "workers": wl.workers,
        "per_node": wl.per_node,
        "contenders": {
            name: {"median_s": statistics.median(times), "runs_s": times,
                   "calls_per_sample": inner[name]}
            for name, times in runs.items()
        },
    }


def target_line(target: dict[str, Any]) -> str:
    """``MET    <target>: <measured>`` (or ``MISSED``), as the report prints a target."""
    return f"{'MET   ' if target['met'] else 'MISSED'} {target['target']}: {target['measured']}"


def print_report(lines: list[str], targets: list[dict[str, Any]]) -> int:
    """What a bench module run on its own prints: its table, then its targets; returns 0."""
    print("\n".join(lines))
    for target in targets:
        print(target_line(target))
    return 0
