"""The ``compile`` workload: structural compile time per operator, and cached-plan dispatch time.

Compile targets are every module in ``fixtures/`` with a ``build()`` function (called with its
defaults: a zero-latency simulated model), plus :class:`emberjit.demo.Pipeline` and this
benchmark's own composite operators. For each target, every distinct composite operator class in
its tree (the root and the sub-operators whose ``forward`` calls operators) is compiled with
``compile_structural``; "cold" clears the parsed-file cache first (what the first ``jit`` call
in a process pays), "warm" reuses it.

Dispatch is the cost ``jit`` adds to one call of a cached plan: a jitted call of
:class:`~benchmarks.workloads.Wrap` (one trivial sub-operator call) minus the direct call.
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
import time
import types
from collections.abc import Callable
from typing import Any

from emberjit import Operator, jit
from emberjit.analysis import source as _source
from emberjit.compiler import compile_structural
from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel

from .workloads import Chain, Fanout, Nested, Wrap

__all__ = ["compile_targets", "measure_compile", "measure_dispatch", "measure_linear"]


def _fixture_targets() -> tuple[list[tuple[str, Any]], list[str]]:
    """``(label, built object)`` for each fixture module with ``build()``; and what failed."""
    found: list[tuple[str, Any]] = []
    problems: list[str] = []
    try:
        package = importlib.import_module("fixtures")
    except ImportError as exc:
        return found, [f"fixtures package not importable: {exc}"]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        name = f"fixtures.{info.name}"
        try:
            module = importlib.import_module(name)
            build = getattr(module, "build", None)
            if callable(build):
                found.append((name, build()))
        except Exception as exc:  # a fixture being written may be broken: report, go on
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    return found, problems


def _composites(label: str, target: Any) -> list[tuple[str, Any]]:
    """The root and each distinct composite operator class below it (one instance per class)."""
    if isinstance(target, types.FunctionType):
        return [(label, target)]
    out = [(f"{label}:{type(target).__qualname__}", target)]
    seen = {type(target)}
    if isinstance(target, Operator):
        for _, sub in target.sub_operators(recursive=True):
            if type(sub) in seen or not any(True for _ in sub.sub_operators()):
                continue
            seen.add(type(sub))
            out.append((f"{label}:{type(sub).__qualname__}", sub))
    return out


def compile_targets() -> tuple[list[tuple[str, Any]], list[str]]:
    """Every operator (or function) the compile workload compiles, and the fixture problems."""
    roots, problems = _fixture_targets()
    roots += [("emberjit.demo", Pipeline(SimulatedModel(latency=0))),
              ("benchmarks", Fanout(10, 0.0)), ("benchmarks", Nested(0.0)),
              ("benchmarks", Chain(100))]
    targets: list[tuple[str, Any]] = []
    for label, root in roots:
        targets += _composites(label, root)
    return targets, problems


def _time_compile(target: Any, cold: bool) -> float:
    if cold:
        _source._parse.cache_clear()
    start = time.perf_counter()
    compile_structural(target)
    return time.perf_counter() - start


def measure_compile(repeats: int = 5) -> dict[str, Any]:
    """Median cold and warm compile seconds per operator, and the median over operators."""
    targets, problems = compile_targets()
    per_op: dict[str, dict[str, float]] = {}
    for label, target in targets:
        try:
            compile_structural(target)  # warm-up (imports, first-use costs)
        except Exception as exc:
            problems.append(f"{label}: does not compile: {type(exc).__name__}: {exc}")
            continue
        cold = [_time_compile(target, cold=True) for _ in range(repeats)]
        warm = [_time_compile(target, cold=False) for _ in range(repeats)]
        per_op[label] = {"cold_s": statistics.median(cold), "warm_s": statistics.median(warm)}
    colds = [v["cold_s"] for v in per_op.values()]
    warms = [v["warm_s"] for v in per_op.values()]
    return {
        "operators": len(per_op),
        "median_cold_s": statistics.median(colds) if colds else float("nan"),
        "median_warm_s": statistics.median(warms) if warms else float("nan"),
        "max_cold_s": max(colds, default=float("nan")),
        "per_operator": per_op,
        "problems": problems,
    }


def _per_call(fn: Callable[[int], int], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(1)
    return (time.perf_counter() - start) / calls


def measure_dispatch(calls: int = 20000, repeats: int = 9) -> dict[str, Any]:
    """Seconds a jitted call of a cached trivial plan costs above the direct call."""
    direct, fast = Wrap(), jit(Wrap(), mode="structural")
    if fast(1) != 2 or direct(1) != 2:
        raise AssertionError("Wrap: jitted and direct results differ")
    jitted_runs, direct_runs = [], []
    for _ in range(repeats):  # interleaved
        jitted_runs.append(_per_call(fast, calls))
        direct_runs.append(_per_call(direct, calls))
    jitted, plain = statistics.median(jitted_runs), statistics.median(direct_runs)
    return {"jitted_s": jitted, "direct_s": plain, "dispatch_s": jitted - plain,
            "calls_per_sample": calls, "jitted_runs_s": jitted_runs, "direct_runs_s": direct_runs}


def _long_forward_module(statements: int) -> str:
    """A module whose operator's ``forward`` has about ``statements`` statements: rounds of a
    call, glue on its result, a call on the glue, and a carried str."""
    lines = ["from emberjit import Operator", "from emberjit.models import SimulatedModel",
             "from emberjit.ops import ModelCall", "", "", "class Long(Operator):",
             "    def __init__(self):", "        model = SimulatedModel(latency=0)",
             "        self.a, self.b = ModelCall(model), ModelCall(model)", "",
             "    def forward(self, inputs):", "        x = inputs['query']", "        acc = []"]
    for i in range(statements // 4):
        lines += [f"        r{i} = self.a({{'query': x + '{i}'}})",
                  f"        t{i} = r{i}['text'].strip()",
                  f"        acc.append(self.b({{'query': t{i}}}))",
                  f"        x = x + str({i})"]
    lines.append("        return [r['text'] for r in acc]")
    return "\n".join(lines) + "\n"


def measure_linear(statements: int = 800, repeats: int = 3) -> dict[str, Any]:
    """Cold compile of a ``forward`` of ``statements`` statements against the time libcst takes
    to parse its module (issue 13: under 5x)."""
    import importlib.util
    import sys
    import tempfile
    from pathlib import Path

    import libcst as cst

    source = _long_forward_module(statements)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emberjit_bench_long.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("emberjit_bench_long", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
            op = module.Long()
            compile_structural(op)  # warm-up: imports, first-use costs
            parse = statistics.median(_timed(lambda: cst.parse_module(source))
                                      for _ in range(repeats))
            cold = statistics.median(_time_compile(op, cold=True) for _ in range(repeats))
        finally:
            del sys.modules[spec.name]
    return {"statements": statements, "parse_s": parse, "compile_s": cold,
            "ratio": cold / parse}


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
