"""Rows for the async and dask schedulers (issue 8), beside their hand-written twins.

``python -m benchmarks.async_dask [--quick]`` prints the rows and returns them from :func:`rows`.
Workloads come from :mod:`benchmarks.workloads` (``Leaf`` has an async ``acall``, which the async
scheduler awaits on the loop):

* ``fanout``: 10 members x 50 ms: eager, emberjit threads, emberjit async (``acall``),
  ``asyncio.gather``
* ``wide``: 10,000 members x 10 ms on the async scheduler (no concurrency bound), beside
  ``asyncio.gather`` over the members' ``acall`` and emberjit threads (64 workers)
* ``fanout`` on dask: emberjit ``scheduler="dask"`` and ``dask.delayed`` on the same
  ``LocalCluster`` (2 worker processes x 2 threads, 127.0.0.1)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emberjit import execution_options, jit

from .workloads import Fanout, fanout

__all__ = ["main", "rows"]

ROOT = Path(__file__).resolve().parent.parent


def _time(fn: Callable[[], Any], expected: int, repeats: int) -> float:
    assert fn() == expected  # warm-up, and a check that the answer is right
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        samples.append(time.perf_counter() - start)
        assert value == expected
    return statistics.median(samples)


def _row(workload: str, contender: str, seconds: float) -> dict[str, Any]:
    return {"workload": workload, "contender": contender, "seconds": round(seconds, 4)}


def _local_rows(n_wide: int, repeats: int) -> list[dict[str, Any]]:
    out = []
    wl = fanout(10, 0.05)
    op = wl.make()
    fast = jit(op, mode="structural")
    out.append(_row("fanout", "eager", _time(lambda: op(1), wl.expected, repeats)))
    with execution_options(scheduler="threads"):
        out.append(_row("fanout", "emberjit threads", _time(lambda: fast(1), wl.expected,
                                                               repeats)))
    out.append(_row("fanout", "emberjit async (acall)",
                    _time(lambda: asyncio.run(fast.acall(1)), wl.expected, repeats)))
    out.append(_row("fanout", "asyncio.gather (hand-written)",
                    _time(lambda: asyncio.run(wl.aio(op, 1, 64)), wl.expected, repeats)))
    wide = Fanout(n_wide, 0.01)
    expected = n_wide + n_wide * (n_wide - 1) // 2
    fast_wide = jit(wide, mode="structural")
    name = f"wide {n_wide}"
    out.append(_row(name, "emberjit async (acall)",
                    _time(lambda: asyncio.run(fast_wide.acall(1)), expected, repeats)))
    out.append(_row(name, "asyncio.gather (hand-written)",
                    _time(lambda: asyncio.run(wl.aio(wide, 1, n_wide)), expected, repeats)))
    with execution_options(scheduler="threads", max_workers=64):
        out.append(_row(name, "emberjit threads (64)",
                        _time(lambda: fast_wide(1), expected, max(1, repeats // 2))))
    return out


def _dask_rows(repeats: int) -> list[dict[str, Any]]:
    try:
        from distributed import LocalCluster
    except ImportError:
        return [_row("fanout (dask)", "skipped: pip install 'emberjit[dask]'", float("nan"))]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), old) if p)
    out = []
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, cluster.get_client() as client:
        wl = fanout(10, 0.05)
        op = wl.make()
        fast = jit(op, mode="structural")
        with execution_options(scheduler="dask", client=client):
            out.append(_row("fanout (dask)", "emberjit dask",
                            _time(lambda: fast(1), wl.expected, repeats)))
        out.append(_row("fanout (dask)", "dask.delayed",
                        _time(lambda: client.compute(wl.dask(op, 1)).result(), wl.expected,
                              repeats)))
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old
    return out


def rows(quick: bool = False) -> list[dict[str, Any]]:
    """Every row: ``{"workload", "contender", "seconds"}`` (median of the timed runs)."""
    repeats = 3 if quick else 7
    return _local_rows(1000 if quick else 10_000, repeats) + _dask_rows(repeats)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    table = rows(quick="--quick" in args)
    width = max(len(r["contender"]) for r in table)
    for r in table:
        print(f"{r['workload']:<16} {r['contender']:<{width}}  {r['seconds'] * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
