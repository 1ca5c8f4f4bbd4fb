"""The first call, in a fresh process (issue 15): the quickstart pipeline (refine, an ensemble of
ten, a vote; 50 ms per model call) eagerly, and jitted: called at once after ``jit``, and called
after half a second of other work (building models, reading data), in which the compiler's import
that ``jit`` started runs in the background. Target: the first jitted call no slower than eager.

    .venv/bin/python -m benchmarks.first_call [--runs 5]

Each run is a new ``python`` process; each row is the median (min) over the runs of the call's
wall time, with the ``compile_seconds`` the jitted ones report, and the time of
``import emberjit`` in that process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from typing import Any

from .harness import print_report

__all__ = ["measure", "table"]

MODULE = textwrap.dedent("""
    from emberjit import Operator
    from emberjit.ops import Ensemble, MostCommon, QuestionRefinement

    class Pipeline(Operator):
        def __init__(self, model, n=10):
            self.refiner = QuestionRefinement(model)
            self.ensemble = Ensemble.of(model, n)   # ten members: a fan-out
            self.vote = MostCommon()

        def forward(self, inputs):
            refined = self.refiner(inputs)
            answers = self.ensemble(refined)
            return self.vote(answers)
""")

PROBE = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    import emberjit
    imported = time.perf_counter() - start
    from emberjit import get_jit_stats, jit
    from emberjit.models import SimulatedModel
    from quickstart import Pipeline
    how = sys.argv[1]
    op = Pipeline(SimulatedModel(latency=0.05))
    if how != "eager":
        op = jit(op)
    if how == "jit, 0.5 s of other work, first call":
        time.sleep(0.5)
    start = time.perf_counter()
    op({"query": "What is machine learning?"})
    seconds = time.perf_counter() - start
    compiled = get_jit_stats(op).compile_seconds if how != "eager" else 0.0
    print(json.dumps({"seconds": seconds, "compile": compiled, "import": imported}))
""")

HOWS = ("eager", "jit, first call at once", "jit, 0.5 s of other work, first call")


def _once(folder: str, how: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [folder, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", PROBE, how], cwd=folder, env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(done.stdout))


def measure(runs: int = 5) -> list[dict[str, Any]]:
    """One row per way of calling: medians and minimums over ``runs`` fresh processes (the ways
    interleaved, so that a noisy moment falls on all of them)."""
    samples: dict[str, list[dict[str, float]]] = {how: [] for how in HOWS}
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "quickstart.py"), "w", encoding="utf-8") as f:
            f.write(MODULE)
        for _ in range(runs):
            for how in HOWS:
                samples[how].append(_once(folder, how))
    rows = []
    for how, got in samples.items():
        seconds = [s["seconds"] for s in got]
        rows.append({"how": how, "median_s": statistics.median(seconds), "min_s": min(seconds),
                     "compile_s": statistics.median(s["compile"] for s in got),
                     "import_s": statistics.median(s["import"] for s in got), "runs": runs})
    return rows


def target(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first jitted call, made at once after ``jit``, no slower than the eager call."""
    by_how = {r["how"]: r["median_s"] for r in rows}
    eager, at_once = by_how.get(HOWS[0]), by_how.get(HOWS[1])
    if not eager or at_once is None:
        return []
    ratio = at_once / eager
    return [{"target": "cold start: first jitted call (at once after jit, fresh process) no "
                       "slower than eager", "met": ratio <= 1.0, "value": ratio,
             "measured": f"{at_once * 1e3:.0f} ms vs eager {eager * 1e3:.0f} ms "
                         f"({ratio:.2f}x)"}]


def table(rows: list[dict[str, Any]]) -> list[str]:
    runs = rows[0]["runs"] if rows else 0
    lines = [f"first call, quickstart pipeline (11 x 50 ms model calls), fresh process, median "
             f"(min) of {runs}:",
             f"  {'how':<40} {'first call':>18} {'compile_seconds':>16} {'import emberjit':>16}"]
    for r in rows:
        lines.append(f"  {r['how']:<40} {r['median_s'] * 1e3:9.0f} ms ({r['min_s'] * 1e3:4.0f})"
                     f" {r['compile_s'] * 1e3:13.0f} ms {r['import_s'] * 1e3:13.0f} ms")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    rows = measure(args.runs)
    return print_report(table(rows), target(rows))


if __name__ == "__main__":
    raise SystemExit(main())
