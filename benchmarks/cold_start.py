"""Cold start: a fresh process imports a module of 20 ``@jit`` operators and makes the first call
of each, with ahead-of-time plans (``emberjit compile``) versus jitting in process.

    .venv/bin/python -m benchmarks.cold_start [--runs 7]

Prints a Markdown table (median and min over the runs, each a new ``python`` process): the wall
time of the whole process, and inside it the time from ``import`` of the module to the end of the
20 first calls; and whether libcst was imported.
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
import time
from typing import Any

N_OPERATORS = 20

LEAVES = '''
from emberjit import Operator, jit


class Step(Operator):
    def __init__(self, tag):
        self.tag = tag

    def forward(self, inputs):
        return {"text": self.tag + "(" + inputs["text"] + ")"}


class Merge(Operator):
    def forward(self, inputs):
        return {"text": "+".join(p["text"] for p in inputs["parts"])}
'''

OPERATOR = '''

@jit
class Op{i}(Operator):
    def __init__(self):
        self.a = Step("a{i}")
        self.b = Step("b{i}")
        self.c = Step("c{i}")
        self.merge = Merge()

    def forward(self, inputs):
        first = self.a(inputs)
        left = self.b(first)
        right = self.c(first)
        both = self.merge({{"parts": [left, right]}})
        return {{"text": both["text"], "n": len(both["text"])}}
'''

PROBE = textwrap.dedent('''
    import json, sys, time
    start = time.perf_counter()
    import cold_ops
    ops = [getattr(cold_ops, f"Op{i}")() for i in range(N_OPERATORS)]
    results = [op({"text": "x"}) for op in ops]
    elapsed = time.perf_counter() - start
    from emberjit import get_jit_stats
    origins = sorted({get_jit_stats(op).plan_origin for op in ops})
    print(json.dumps({"seconds": elapsed, "libcst": "libcst" in sys.modules,
                      "origins": origins, "n": len(results)}))
''').replace("N_OPERATORS", str(N_OPERATORS))


def _write_module(folder: str) -> None:
    with open(os.path.join(folder, "cold_ops.py"), "w") as f:
        f.write(LEAVES + "".join(OPERATOR.format(i=i) for i in range(N_OPERATORS)))


def _once(folder: str, aot_dir: str | None) -> tuple[float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "EMBERJIT_AOT_DIR"}
    if aot_dir:
        env["EMBERJIT_AOT_DIR"] = aot_dir
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=folder, env=env,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    return wall, json.loads(done.stdout)


def measure(runs: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        _write_module(folder)
        plans = os.path.join(folder, "plans")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "emberjit", "compile", "cold_ops", "-o", plans,
                        "--quiet"], cwd=folder, check=True)
        compile_seconds = time.perf_counter() - start
        for label, aot in (("jit in process", None), ("AOT plans", plans)):
            walls: list[float] = []
            inner: list[float] = []
            probe: dict[str, Any] = {}
            for _ in range(runs):
                wall, probe = _once(folder, aot)
                walls.append(wall)
                inner.append(float(probe["seconds"]))
            rows.append({"how": label, "wall_median": statistics.median(walls),
                         "wall_min": min(walls), "inner_median": statistics.median(inner),
                         "inner_min": min(inner), "libcst": probe["libcst"],
                         "origins": probe["origins"]})
        rows.append({"how": "emberjit compile (once)", "wall_median": compile_seconds})
    return rows


def table(rows: list[dict[str, Any]], runs: int) -> str:
    lines = [f"{N_OPERATORS} `@jit` operators (4 calls each), first call of each, fresh process, "
             f"median (min) of {runs} runs:", "",
             "| how | whole process | import + 20 first calls | libcst imported | plan_origin |",
             "|---|---|---|---|---|"]
    for r in rows:
        wall = f"{r['wall_median'] * 1e3:.0f} ms"
        if "inner_median" not in r:
            lines.append(f"| {r['how']} | {wall} | | | |")
            continue
        lines.append(f"| {r['how']} | {wall} ({r['wall_min'] * 1e3:.0f}) | "
                     f"{r['inner_median'] * 1e3:.0f} ms ({r['inner_min'] * 1e3:.0f}) | "
                     f"{'yes' if r['libcst'] else 'no'} | {', '.join(r['origins'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    print(table(measure(args.runs), args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
