"""Issue 12's regressions: each program gives eager's answer, log order and exception on every
mode and local scheduler (the Dask scheduler: tests/test_dask.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import _edge_ops as ops
import pytest

from emberjit import execution_options, explain_jit_selection, jit
from emberjit.compiler.async_plan import async_source

MODES = ("structural", "auto", "trace", "enhanced")
SCHEDULERS = ("sequential", "threads", "async", "acall")

CASES: list[tuple[type[Any], Any]] = [
    (ops.AugSubscript, 1), (ops.DelKey, 1), (ops.ListItems, 1), (ops.ThroughAliases, 1),
    (ops.StarCall, "q"), (ops.ZipComprehension, "q"), (ops.HelperGivenOperator, "q"),
    (ops.ModuleFunction, "q"), (ops.SleepsBetween, "q"), (ops.SubscriptedAtOnce, "q"),
    (ops.StarArgs, 3),
    (ops.StarKwargs, 3), (ops.Both, 3), (ops.DerivedImpure, "q"),
]


def _run(fn: Any, x: Any, scheduler: str) -> tuple[Any, ...]:
    ops.LOG.clear()
    try:
        if scheduler == "acall":
            value = asyncio.run(fn.acall(x))
        else:
            with execution_options(scheduler=scheduler):
                value = fn(x)
    except Exception as exc:
        return ("raised", type(exc).__name__, list(ops.LOG))
    return ("value", value, list(ops.LOG))


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls,x", CASES, ids=[c.__name__ for c, _ in CASES])
def test_plan_equals_eager(cls: type[Any], x: Any, mode: str, scheduler: str) -> None:
    want = _run(cls(), x, "sequential")
    fast = jit(cls(), mode=mode)
    assert _run(fast, x, scheduler) == want  # the first call (traces in trace/enhanced mode)
    assert _run(fast, x, scheduler) == want  # the plan


@pytest.mark.parametrize("cls", [ops.FailBesideSlow, ops.FailBesideNested])
@pytest.mark.parametrize("scheduler", ["threads", "async", "acall"])
@pytest.mark.parametrize("mode", MODES)
def test_no_call_outlives_a_failed_plan(mode: str, scheduler: str, cls: type[Any]) -> None:
    fast = jit(cls(), mode=mode)
    for _ in range(2):
        outcome = _run(fast, 1, scheduler)
        assert outcome[:2] == ("raised", "ValueError")
        assert ops.RUNNING[0] == 0, "a sibling was still running when the plan raised"


def test_the_async_plan_parenthesizes_awaits() -> None:
    fast = jit(ops.SubscriptedAtOnce(), mode="structural")
    fast("q")
    source = async_source(fast.plan)
    assert source is not None
    assert '(await run.call(self.a, inputs))["text"].strip()' in source


def test_explain_names_the_lines_kept_in_program_order() -> None:
    fast = jit(ops.SleepsBetween(), mode="structural")
    fast("q")
    report = str(explain_jit_selection(fast))
    line = ops.SleepsBetween.forward.__code__.co_firstlineno + 2
    assert f"line {line}: calls time.sleep(), code emberjit does not follow" in report


def test_a_module_function_given_an_operator_is_a_sub_plan() -> None:
    fast = jit(ops.ModuleFunction(), mode="structural")
    assert fast("q") == ops.ModuleFunction()("q")
    assert 'b = via__plan(inputs + "!", self.second, run=run)' in fast.plan.source
    assert "return run.submit_any(op, inputs, inputs)" in fast.plan.source


def test_explain_names_a_derived_impure_operator() -> None:
    fast = jit(ops.DerivedImpure(), mode="structural")
    fast("q")
    report = str(explain_jit_selection(fast))
    assert "self.wraps: Wraps holds inner (Logged), which says pure = False" in report


def test_a_composite_holding_an_impure_operator_is_impure() -> None:
    from emberjit.operator import impure_reason, is_pure

    assert not is_pure(ops.Wraps()) and is_pure(ops.Peek())
    assert impure_reason(ops.Logged("x")) == "Logged says pure = False"
