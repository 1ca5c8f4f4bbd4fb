"""Turning measured figures into the table, the targets, the JSON file and the width plot."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from . import caching, dspy_bench, first_call, idioms
from .harness import target_line

__all__ = ["environment", "format_tables", "plot_widths", "targets", "write_json"]

EAGER = "eager"
THREADS = "threads (hand-written)"
EMBERJIT = "emberjit structural/auto"
PACKAGES = ("emberjit", "libcst", "networkx", "dask", "matplotlib")


def environment() -> dict[str, Any]:
    """Machine, Python, package versions and date."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpu_count": os.cpu_count()},
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "versions": versions,
    }


def _median(result: dict[str, Any], name: str) -> float | None:
    entry = result["contenders"].get(name)
    return None if entry is None else float(entry["median_s"])


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def _workload_table(result: dict[str, Any]) -> list[str]:
    per_node = result["per_node"]
    eager = _median(result, EAGER)
    threads = _median(result, THREADS)
    unit, scale = ("us", 1e6) if per_node else ("ms", 1e3)
    head = f"{'contender':34} {'median ' + unit:>12} {'vs threads':>11} {'vs eager':>9}"
    if per_node:
        head += f" {'us/node over eager':>19}"
    lines = [f"{result['workload']}: {result['description']}", head]
    for name, entry in result["contenders"].items():
        med = float(entry["median_s"])
        row = (f"{name:34} {med * scale:12.2f} {_ratio(med, threads):>11} "
               f"{_ratio(med, eager):>9}")
        if per_node and eager is not None:
            row += f" {(med - eager) / per_node * 1e6:19.3f}"
        lines.append(row)
    return lines


def format_tables(results: dict[str, Any]) -> str:
    """The plain-text report: one table per workload, compile/dispatch, and the targets."""
    out: list[str] = []
    for result in results["workloads"]:
        out += [*_workload_table(result), ""]
    comp, disp = results.get("compile"), results.get("dispatch")
    if comp:
        out.append(f"compile: {comp['operators']} operators, median cold "
                   f"{comp['median_cold_s'] * 1e3:.2f} ms (max {comp['max_cold_s'] * 1e3:.2f} ms),"
                   f" median warm {comp['median_warm_s'] * 1e3:.2f} ms")
        out += [f"  skipped: {p}" for p in comp["problems"]]
    linear = results.get("linear")
    if linear:
        out.append(f"compile of a {linear['statements']}-statement forward: "
                   f"{linear['compile_s'] * 1e3:.0f} ms cold, {linear['ratio']:.1f}x libcst's "
                   f"parse of its module ({linear['parse_s'] * 1e3:.0f} ms)")
    if disp:
        out.append(f"dispatch: jitted {disp['jitted_s'] * 1e6:.2f} us - direct "
                   f"{disp['direct_s'] * 1e6:.2f} us = {disp['dispatch_s'] * 1e6:.2f} us per call")
    extra = results.get("async_dask") or []
    if extra:
        out += ["", "async scheduler and dask:"]
        out += [f"  {r['workload']:<40} {r['contender']:<34} {r['seconds'] * 1e3:9.1f} ms"
                for r in extra]
    if results.get("first_call"):
        out += ["", *first_call.table(results["first_call"])]
    if results.get("caching"):
        out += ["", *caching.table(results["caching"])]
    if results.get("dspy"):
        out += ["", *dspy_bench.table(results["dspy"])]
    if results.get("idioms"):
        out += ["", *idioms.format_table(results["idioms"])]
    if out and out[-1]:
        out.append("")
    out.append("targets:")
    out += [f"  {target_line(t)}" for t in results["targets"]]
    return "\n".join(out)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issues 6 and 13, measured in this run."""
    found: list[dict[str, Any]] = []
    for result in results["workloads"]:
        name = result["workload"]
        mine, threads, eager = (_median(result, n) for n in (EMBERJIT, THREADS, EAGER))
        if mine is None:
            continue
        if name in ("fanout", "nested", "wide") and threads:
            ratio = mine / threads
            found.append({"target": f"{name}: emberjit within 1.05x of hand-written threads",
                          "met": ratio <= 1.05, "value": ratio, "measured": f"{ratio:.3f}x"})
        if name == "chain" and eager:
            ratio = mine / eager
            found.append({"target": "chain: emberjit within 1.2x of eager", "met": ratio <= 1.2,
                          "value": ratio, "measured": f"{ratio:.3f}x "
                          f"({(mine - eager) / result['per_node'] * 1e6:.3f} us/node)"})
    comp, disp = results.get("compile"), results.get("dispatch")
    if comp and comp["operators"]:
        value = comp["median_cold_s"]
        found.append({"target": "compile: under 5 ms per operator (median, cold)",
                      "met": value < 0.005, "value": value, "measured": f"{value * 1e3:.2f} ms"})
    if disp:
        value = disp["dispatch_s"]
        found.append({"target": "dispatch of a cached plan under 2 us", "met": value < 2e-6,
                      "value": value, "measured": f"{value * 1e6:.2f} us"})
    linear = results.get("linear")
    if linear:
        found.append({"target": f"compile of a {linear['statements']}-statement forward under 5x "
                                "libcst's parse", "met": linear["ratio"] < 5,
                      "value": linear["ratio"], "measured": f"{linear['ratio']:.1f}x"})
    found += idioms.targets(results.get("idioms") or [])
    found += _async_targets(results.get("async_dask") or [])
    found += first_call.target(results.get("first_call") or [])
    found += dspy_bench.target(results.get("dspy") or [])
    found += caching.target(results.get("caching") or [])
    return found


def _async_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 15: leaves with an async form under ``acall`` within 1.10x of threads."""
    times = {r["contender"]: r["seconds"] for r in rows if r["workload"] == "helper leaves"}
    threads = times.get("emberjit threads")
    found = []
    for contender in ("emberjit async (acall)", "emberjit async (acall), trace mode"):
        if threads and contender in times:
            ratio = times[contender] / threads
            found.append({"target": f"helper leaves: {contender} within 1.10x of threads",
                          "met": ratio <= 1.10, "value": ratio, "measured": f"{ratio:.3f}x"})
    return found


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)


def plot_widths(sweep: list[dict[str, Any]], path: Path) -> bool:
    """Wall time against fan-out width, log-log; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    widths = [int(r["workload"].removeprefix("width")) for r in sweep]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    names = list(sweep[0]["contenders"]) if sweep else []
    for name in names:
        ax.plot(widths, [r["contenders"][name]["median_s"] * 1e3 for r in sweep], marker="o",
                label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("fan-out width (members x 10 ms, 64 workers)")
    ax.set_ylabel("wall time, median (ms)")
    ax.set_title("Fan-out width sweep")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
