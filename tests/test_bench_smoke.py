"""The benchmark at tiny sizes, so it never rots: every workload through every contender.

Asserts results, never timing (beyond a coarse bound on the whole file's budget).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchmarks import workloads as W
from benchmarks.compile_bench import compile_targets, measure_compile, measure_dispatch
from benchmarks.contenders import all_contenders, by_name, dask_available
from benchmarks.harness import BenchError, check_once, measure
from benchmarks.report import format_tables, targets, write_json

TINY = [
    W.fanout(n=2, latency=0.001),
    W.nested(latency=0.001, branches=2, members=2),
    W.wide(n=8, latency=0.001, workers=3),
    W.chain(n=5),
    W.width_point(3, latency=0.001),
]

CORE = {"eager", "emberjit structural/sequential", "emberjit structural/threads",
        "emberjit structural/auto", "threads (hand-written)", "asyncio (hand-written)"}


def test_contenders_are_all_there() -> None:
    names = {c.name for c in all_contenders()}
    assert names >= CORE
    assert ("dask.delayed threaded" in names) == dask_available()


@pytest.mark.parametrize("contender", all_contenders(), ids=lambda c: c.name)
@pytest.mark.parametrize("workload", TINY, ids=lambda w: w.name)
def test_every_contender_gets_the_expected_result(workload: W.Workload, contender) -> None:
    assert check_once(workload, contender) == workload.expected


def test_expected_values_are_the_eager_results() -> None:
    for wl in TINY:
        assert wl.make()(wl.inputs) == wl.expected, wl.name
    assert W.nested(latency=0, branches=3, members=5).expected == 135
    assert W.fanout(n=10, latency=0).expected == 55


def test_a_wrong_result_is_reported() -> None:
    broken = dataclasses.replace(W.fanout(n=2, latency=0.0), expected=-1)
    with pytest.raises(BenchError, match="eager on fanout: got 3, expected -1"):
        check_once(broken, by_name("eager")[0])


def test_measure_interleaves_and_reports_medians(tmp_path: Path) -> None:
    contenders = all_contenders()
    result = measure(W.fanout(n=2, latency=0.001, repeats=2), contenders)
    assert set(result["contenders"]) == {c.name for c in contenders}
    for entry in result["contenders"].values():
        assert len(entry["runs_s"]) == 2 and entry["median_s"] > 0
    chain = measure(W.chain(n=5, repeats=2, min_sample=0.001),
                    by_name("eager", "emberjit structural/auto"))
    assert chain["contenders"]["eager"]["calls_per_sample"] > 1  # cheap calls are batched
    results = {"workloads": [result, chain], "width_sweep": [],
               "compile": measure_compile(repeats=1), "dispatch": measure_dispatch(200, 2)}
    results["targets"] = targets(results)
    assert {t["target"].split(":")[0] for t in results["targets"]} >= {
        "fanout", "chain", "compile", "dispatch of a cached plan under 2 us"}
    text = format_tables(results)
    assert "fanout: 2 members" in text and "targets:" in text and "us/node" in text
    write_json(results, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["workloads"][0]["workload"] == "fanout"


def test_compile_targets_include_the_demo_and_the_fixtures() -> None:
    targets_, problems = compile_targets()
    labels = [label for label, _ in targets_]
    assert any(label.startswith("emberjit.demo:Pipeline") for label in labels)
    assert any(label.startswith("benchmarks:Nested") for label in labels)
    assert any(label.startswith("fixtures.") for label in labels), problems


def test_contenders_leave_no_threads_behind() -> None:
    import threading

    from emberjit.runtime import shutdown_pools

    shutdown_pools()
    before = threading.active_count()
    for contender in all_contenders():
        if not contender.name.startswith("emberjit"):
            check_once(W.fanout(n=4, latency=0.001), contender)
    assert threading.active_count() <= before


def test_linear_compile_measures_a_long_forward_against_the_parse() -> None:
    from benchmarks.compile_bench import _long_forward_module, measure_linear

    assert _long_forward_module(40).count(".strip()") == 10
    row = measure_linear(statements=40, repeats=1)
    assert row["statements"] == 40 and row["compile_s"] > 0 and row["parse_s"] > 0
    assert row["ratio"] == row["compile_s"] / row["parse_s"]
    met = targets({"workloads": [], "linear": row})
    assert met[-1]["target"].startswith("compile of a 40-statement forward")
