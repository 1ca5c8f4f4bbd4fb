"""``python -m benchmarks`` (also ``make bench``, ``emberjit bench``): run everything, report.

Prints a table, writes ``benchmarks/results/latest.json`` and ``docs/perf_fanout_width.png``.
``--quick`` uses fewer repeats (for trying things out, not for the docs).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import workloads as W
from .compile_bench import measure_compile, measure_dispatch, measure_linear
from .contenders import EAGER, THREADS, all_contenders, by_name
from .harness import measure
from .report import environment, format_tables, plot_widths, targets, write_json

__all__ = ["main", "run_all"]

ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "benchmarks" / "results" / "latest.json"
PARTIAL_JSON_PATH = ROOT / "benchmarks" / "results" / "partial.json"  # --quick / --only
PLOT_PATH = ROOT / "docs" / "perf_fanout_width.png"
SWEEP_CONTENDERS = (EAGER, "emberjit structural/auto", THREADS)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sections(quick: bool) -> list[tuple[str, str, Callable[[], Any]]]:
    """The rows measured by a module of their own: (name for --only, what the log says, how)."""
    from . import async_dask, caching, dspy_bench, first_call

    return [
        ("async_dask", "async scheduler and dask (wide at 10,000 members, LocalCluster)",
         lambda: async_dask.rows(quick=quick)),
        ("first_call", "first call in fresh processes (quickstart pipeline)",
         lambda: first_call.measure(runs=5 if not quick else 2)),
        ("caching", "result cache: a 100-question evaluation run twice",
         lambda: caching.rows(quick=quick)),
        ("dspy", "DSPy programs: eager, jitted, hand-parallelized with dspy.Parallel",
         lambda: dspy_bench.rows(repeats=5 if not quick else 2)),
    ]


def run_all(quick: bool = False, only: Sequence[str] = ()) -> dict[str, Any]:
    """Measure every workload (or those in ``only``); returns the figures and the targets."""
    factor = 3 if quick else 1
    loads = [W.fanout(repeats=7 // factor), W.nested(repeats=7 // factor),
             W.wide(repeats=max(5 // factor, 1)), W.chain(repeats=15 // factor)]
    contenders = all_contenders()
    results: dict[str, Any] = {**environment(), "contenders": [c.name for c in contenders],
                               "workloads": [], "width_sweep": []}
    for wl in loads:
        if only and wl.name not in only:
            continue
        _log(f"{wl.name}: {wl.description} ...")
        results["workloads"].append(measure(wl, contenders))
    if not only or "compile" in only:
        _log("compile and dispatch ...")
        results["compile"] = measure_compile(repeats=5 // factor or 1)
        results["dispatch"] = measure_dispatch()
        results["linear"] = measure_linear(repeats=3 if not quick else 1)
    if not only or "width" in only:
        for width in W.WIDTHS:
            _log(f"width sweep: {width} members x 10 ms ...")
            wl = W.width_point(width, repeats=3 if not quick else 1)
            results["width_sweep"].append(measure(wl, by_name(*SWEEP_CONTENDERS)))
    for name, what, run in _sections(quick):
        if not only or name in only:
            _log(f"{what} ...")
            results[name] = run()
    if not only or "idioms" in only:
        from . import idioms

        results["idioms"] = idioms.rows(quick=quick, log=_log)
    results["targets"] = targets(results)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (not for the docs)")
    parser.add_argument("--only", nargs="*", default=(), metavar="NAME",
                        help="fanout nested wide chain compile width async_dask first_call caching "
                             "dspy idioms (default: all)")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the JSON (default: results/latest.json, or "
                             "results/partial.json with --quick or --only)")
    parser.add_argument("--plot", type=Path, default=PLOT_PATH, help="where to write the PNG")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = run_all(quick=args.quick, only=args.only)
    results["total_seconds"] = time.perf_counter() - start
    print(format_tables(results))
    path = args.json or (PARTIAL_JSON_PATH if args.quick or args.only else JSON_PATH)
    write_json(results, path)
    print(f"\nwrote {path}")
    if results["width_sweep"] and not args.quick:
        if plot_widths(results["width_sweep"], args.plot):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib is not installed: no plot (pip install -e '.[bench]')")
    print(f"total {results['total_seconds']:.0f} s")
    return 0
