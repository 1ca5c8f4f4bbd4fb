"""Rows for the async and dask schedulers (issue 8), beside their hand-written twins.

``python -m benchmarks.async_dask [--quick]`` prints the rows and returns them from :func:`rows`.
Workloads come from :mod:`benchmarks.workloads` (``Leaf`` has an async ``acall``, which the async
scheduler awaits on the loop):

* ``fanout``: 10 members x 50 ms: eager, emberjit threads, emberjit async (``acall``),
  ``asyncio.gather``
* ``wide``: 10,000 members x 10 ms on the async scheduler (no concurrency bound), beside
  ``asyncio.gather`` over the members' ``acall`` and emberjit threads (64 workers)
* ``helper leaves`` (issue 15): four leaves whose ``forward`` calls a helper method of their own
  and which have an ``async def acall``, x 50 ms: emberjit threads, emberjit async (``acall``) in
  auto and in trace mode, eager; the async rows are to be within 1.10x of threads
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

from emberjit import Operator, execution_options, jit

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


class Tagged(Operator[str, str]):
    """A leaf: its ``forward`` calls a helper method (which calls no operator), and it has an
    async form. The async scheduler awaits ``acall``; a sync ``forward`` never runs on the loop."""

    def __init__(self, latency: float, tag: str) -> None:
        self.latency, self.tag = latency, tag

    def _prompt(self, question: str) -> str:
        return f"[{self.tag}] {question.strip()}"

    def forward(self, question: str) -> str:
        prompt = self._prompt(question)
        time.sleep(self.latency)
        return prompt

    async def acall(self, question: str) -> str:
        prompt = self._prompt(question)
        await asyncio.sleep(self.latency)
        return prompt


class FourTagged(Operator[str, list[str]]):
    """Four :class:`Tagged` leaves on one question (their answers as they are: a trace plan
    replays calls, not the glue code a join would be)."""

    def __init__(self, latency: float) -> None:
        self.leaves = [Tagged(latency, f"t{i}") for i in range(4)]

    def forward(self, question: str) -> list[str]:
        return [leaf(question) for leaf in self.leaves]


def _helper_leaf_rows(repeats: int) -> list[dict[str, Any]]:
    name, op = "helper leaves", FourTagged(0.05)
    expected = op(" q ")
    auto, traced = jit(FourTagged(0.05)), jit(FourTagged(0.05), mode="trace")
    out = [_row(name, "eager", _time(lambda: op(" q "), expected, repeats))]
    with execution_options(scheduler="threads"):
        out.append(_row(name, "emberjit threads", _time(lambda: auto(" q "), expected, repeats)))
    out.append(_row(name, "emberjit async (acall)",
                    _time(lambda: asyncio.run(auto.acall(" q ")), expected, repeats)))
    traced(" q ")  # the first call of trace mode is untraced; the _time warm-up traces
    out.append(_row(name, "emberjit async (acall), trace mode",
                    _time(lambda: asyncio.run(traced.acall(" q ")), expected, repeats)))
    return out


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
    return (_local_rows(1000 if quick else 10_000, repeats) + _helper_leaf_rows(repeats)
            + _dask_rows(repeats))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    table = rows(quick="--quick" in args)
    width = max(len(r["contender"]) for r in table)
    for r in table:
        print(f"{r['workload']:<16} {r['contender']:<{width}}  {r['seconds'] * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
