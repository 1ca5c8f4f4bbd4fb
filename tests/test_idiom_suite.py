"""The idiom suite (``fixtures/idioms``): programs written the way people write them.

Each program jitted equals eager on every input, in every mode and on every local scheduler
(``acall`` too); its hand-written ``by_hand`` version equals eager on every executor the bench
times it on (so the bench compares like with like); and the bench's own code runs at a tiny
latency. The timings themselves live in ``make bench`` (benchmarks/idioms.py).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks import idioms as bench
from emberjit import execution_options, jit
from fixtures.idioms import _executors, names

NAMES = names()
MODES = ("structural", "auto", "trace")
SCHEDULERS = ("sequential", "threads", "async")


def _module(name: str) -> Any:
    return importlib.import_module(f"fixtures.idioms.{name}")


def _outcome(fn: Callable[[Any], Any], x: Any) -> tuple[Any, ...]:
    try:
        return ("value", fn(x))
    except Exception as exc:  # the same exception type and message as eager
        return ("raised", type(exc), str(exc))


def _eager(module: Any) -> list[tuple[Any, ...]]:
    return [_outcome(module.build(0.0), x) for x in module.INPUTS]


def test_the_suite_has_its_programs() -> None:
    assert len(NAMES) >= 25, NAMES
    for name in NAMES:
        module = _module(name)
        assert len(module.INPUTS) >= 10, name
        assert (module.__doc__ or "").strip(), f"{name} says which idiom it is"


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_jitted_equals_eager(name: str, mode: str, scheduler: str) -> None:
    module = _module(name)
    want = _eager(module)
    fast = jit(module.build(0.0), mode=mode)
    with execution_options(scheduler=scheduler):
        got = [_outcome(fast, x) for x in module.INPUTS]
    for x, w, g in zip(module.INPUTS, want, got, strict=True):
        assert g == w, f"idioms.{name} on {x!r} ({mode}, {scheduler})"


@pytest.mark.parametrize("name", NAMES)
def test_acall_equals_eager(name: str) -> None:
    module = _module(name)
    fast = jit(module.build(0.0))

    async def run_all() -> list[tuple[Any, ...]]:
        found = []
        for x in module.INPUTS:
            try:
                found.append(("value", await fast.acall(x)))
            except Exception as exc:
                found.append(("raised", type(exc), str(exc)))
        return found

    assert asyncio.run(run_all()) == _eager(module), name


@pytest.mark.parametrize("executor", [_executors.Inline, *_executors.EXECUTORS.values()],
                         ids=lambda e: e.name)
@pytest.mark.parametrize("name", NAMES)
def test_by_hand_equals_eager(name: str, executor: Callable[[], _executors.Executor]) -> None:
    module = _module(name)
    ex = executor()
    try:
        got = [_outcome(lambda x: module.by_hand(module.build(0.0), x, ex), x)
               for x in module.INPUTS]
    finally:
        ex.close()
    assert got == _eager(module), f"by_hand of idioms.{name} on {executor.name}"


def test_superstep_runs_level_by_level() -> None:
    """The superstep contender really waits for a whole level: a call of level 2 never starts
    before every call of level 1 is done, though its own input was ready earlier."""
    import time

    ex = _executors.Superstep()
    log: list[str] = []

    def step(name: str, seconds: float, *_inputs: Any) -> str:
        log.append(f"start {name}")
        time.sleep(seconds)
        log.append(f"end {name}")
        return name

    fast = ex.call(step, "fast", 0.0)
    ex.call(step, "slow", 0.05)
    after = ex.call(step, "after-fast", 0.0, fast)
    assert ex.get(after) == "after-fast"
    assert log.index("start after-fast") > log.index("end slow")
    ex.close()


def test_bench_measures_a_program_and_its_targets() -> None:
    row = bench.measure_program(NAMES[0], rounds=1, latency=0.001)
    assert set(row["median_s"]) == {"eager", bench.EMBERJIT, *_executors.EXECUTORS}
    assert row["ratio"] > 0
    # the targets judge given ratios (the measured one moves with the machine's load)
    met = bench.targets([{**row, "ratio": 1.0}, {**row, "program": "slow", "ratio": 1.5}])
    assert [t["met"] for t in met] == [False, False]
    assert "slow 1.50x" in met[0]["measured"]
    assert "idiom suite" in bench.format_table([row])[0]
