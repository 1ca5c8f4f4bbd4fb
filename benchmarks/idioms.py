"""The idiom suite in the bench: every program in ``fixtures.idioms`` beside its hand-written
versions, side by side in one run.

Contenders per program: eager, emberjit (``jit(program)``, default mode, thread scheduler), and
``by_hand`` on the three executors of ``fixtures.idioms._executors`` (threads: the hand-written
optimal version; a level-by-level superstep executor; dask.delayed). Every model call takes
``LATENCY`` seconds. A sample runs the program on ``INPUTS_PER_SAMPLE`` inputs one after another;
after a warm-up round (the first jitted call compiles) the rounds rotate the contenders' order,
and the figure is the median over the timed rounds. Every result is checked against eager's.

``python -m benchmarks.idioms [NAME ...]`` runs some programs alone (for trying things out).
"""

from __future__ import annotations

import gc
import importlib
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from emberjit import execution_options, jit
from fixtures.idioms import _executors, names

from .harness import print_report

__all__ = ["EMBERJIT", "LATENCY", "measure_program", "rows", "targets"]

LATENCY = 0.02
INPUTS_PER_SAMPLE = 2
EMBERJIT = "emberjit"
TARGET_EACH, TARGET_GEOMEAN = 1.10, 1.03


def _contenders(module: Any, xs: list[Any], latency: float) -> tuple[dict[str, Callable[[], Any]],
                                                      list[_executors.Executor]]:
    eager = module.build(latency)
    fast = jit(module.build(latency))
    calls: dict[str, Callable[[], Any]] = {
        "eager": lambda: [eager(x) for x in xs],
        EMBERJIT: lambda: [fast(x) for x in xs],
    }
    executors = []
    for name, make in _executors.EXECUTORS.items():
        ex = make()
        executors.append(ex)
        program = module.build(latency)
        calls[name] = (lambda p, e: lambda: [module.by_hand(p, x, e) for x in xs])(program, ex)
    return calls, executors


def measure_program(name: str, rounds: int = 3, latency: float = LATENCY) -> dict[str, Any]:
    """Median seconds per sample of every contender on ``fixtures.idioms.<name>``."""
    module = importlib.import_module(f"fixtures.idioms.{name}")
    xs = list(module.INPUTS[:INPUTS_PER_SAMPLE])
    calls, executors = _contenders(module, xs, latency)
    times: dict[str, list[float]] = {c: [] for c in calls}
    order = list(calls)
    try:
        with execution_options(scheduler="threads"):
            expected = calls["eager"]()
            for c in order:  # the warm-up round: compiles, pools
                if calls[c]() != expected:
                    raise AssertionError(f"{c} on idiom {name} differs from eager")
            for round_ in range(rounds):
                gc.collect()
                shift = round_ % len(order)
                for c in order[shift:] + order[:shift]:
                    start = time.perf_counter()
                    value = calls[c]()
                    times[c].append(time.perf_counter() - start)
                    if value != expected:
                        raise AssertionError(f"{c} on idiom {name} differs from eager")
    finally:
        for ex in executors:
            ex.close()
    medians = {c: statistics.median(t) for c, t in times.items()}
    return {"program": name, "doc": (module.__doc__ or "").strip().splitlines()[0],
            "median_s": medians,
            "ratio": medians[EMBERJIT] / medians[_executors.Threads.name]}


def rows(quick: bool = False, only: Sequence[str] = (), log: Callable[[str], None] = print
         ) -> list[dict[str, Any]]:
    found = []
    for name in only or names():
        log(f"idiom {name} ...")
        found.append(measure_program(name, rounds=2 if quick else 3))
    return found


def geomean(values: Sequence[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def targets(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 13's two targets for the suite, measured in this run."""
    if not found:
        return []
    ratios = [r["ratio"] for r in found]
    missed = [f"{r['program']} {r['ratio']:.2f}x" for r in found if r["ratio"] > TARGET_EACH]
    worst = max(found, key=lambda r: r["ratio"])
    mean = geomean(ratios)
    return [
        {"target": f"idioms: every program within {TARGET_EACH:.2f}x of hand-written threads",
         "met": not missed, "value": worst["ratio"],
         "measured": f"worst {worst['program']} {worst['ratio']:.3f}x"
                     + (f"; missed: {', '.join(missed)}" if missed else "")},
        {"target": f"idioms: geometric mean within {TARGET_GEOMEAN:.2f}x of hand-written threads",
         "met": mean <= TARGET_GEOMEAN, "value": mean,
         "measured": f"{mean:.3f}x over {len(found)} programs"},
    ]


def format_table(found: list[dict[str, Any]]) -> list[str]:
    if not found:
        return []
    contenders = list(found[0]["median_s"])
    head = f"{'idiom program':28}" + "".join(f" {c[:22]:>22}" for c in contenders) + \
        f" {'emberjit/threads':>17}"
    lines = [f"idiom suite: {INPUTS_PER_SAMPLE} inputs a sample, {LATENCY * 1e3:g} ms a call "
             "(median ms)", head]
    for r in found:
        cells = "".join(f" {r['median_s'][c] * 1e3:22.1f}" for c in contenders)
        lines.append(f"{r['program']:28}{cells} {r['ratio']:16.3f}x")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    found = rows(only=list(argv if argv is not None else sys.argv[1:]))
    return print_report(format_table(found), targets(found))


if __name__ == "__main__":
    raise SystemExit(main())
