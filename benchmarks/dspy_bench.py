"""DSPy programs (issue 17): each of the five programs of ``fixtures/_dspy_programs.py`` eagerly,
jitted unchanged, and hand-parallelized with ``dspy.Parallel`` (what DSPy's users write today),
on DSPy's test LM with 50 ms a call. Target: jitted within 1.10x of the hand-parallelized twin.

    .venv/bin/python -m benchmarks.dspy_bench [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from .harness import print_report

__all__ = ["rows", "table", "target"]

LATENCY = 0.05
QUESTION = "Which year was the tower in Paris finished?"


def _median(fn: Callable[[], Any], want: dict[str, Any], repeats: int) -> float:
    assert fn().toDict() == want  # warm-up (compiles), and the answer is the eager one
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        got = fn()
        samples.append(time.perf_counter() - start)
        assert got.toDict() == want
    return statistics.median(samples)


def rows(repeats: int = 5, latency: float = LATENCY) -> list[dict[str, Any]]:
    """One row per program: eager, emberjit and by-hand median seconds ([] without DSPy)."""
    try:
        import dspy
    except ImportError:
        return []
    from emberjit import jit
    from fixtures._dspy_programs import ANSWERS, BY_HAND, slow_lm

    out = []
    with dspy.context(lm=slow_lm(ANSWERS, latency)):
        for program, by_hand in BY_HAND.items():
            eager = program()
            want = eager(question=QUESTION).toDict()
            row: dict[str, Any] = {"program": program.__name__}
            for key, runner in (("eager_s", eager), ("emberjit_s", jit(program())),
                                ("by_hand_s", by_hand())):
                row[key] = _median(functools.partial(runner, question=QUESTION), want, repeats)
            out.append(row)
    return out


def target(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not found:
        return []
    worst = max(found, key=lambda r: r["emberjit_s"] / r["by_hand_s"])
    ratio = worst["emberjit_s"] / worst["by_hand_s"]
    return [{"target": "dspy: every program, jitted unchanged, within 1.10x of it "
                       "hand-parallelized with dspy.Parallel", "met": ratio <= 1.10,
             "value": ratio, "measured": f"worst {worst['program']} {ratio:.3f}x"}]


def table(found: list[dict[str, Any]]) -> list[str]:
    lines = [f"DSPy programs (DummyLM, {LATENCY * 1e3:g} ms a call; median ms):",
             f"  {'program':<16} {'eager':>9} {'emberjit':>9} {'dspy.Parallel':>14} "
             f"{'emberjit/by hand':>17}"]
    lines += [f"  {r['program']:<16} {r['eager_s'] * 1e3:9.1f} {r['emberjit_s'] * 1e3:9.1f} "
              f"{r['by_hand_s'] * 1e3:14.1f} {r['emberjit_s'] / r['by_hand_s']:16.3f}x"
              for r in found]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    found = rows(parser.parse_args(argv).repeats)
    return print_report(table(found), target(found))


if __name__ == "__main__":
    raise SystemExit(main())
