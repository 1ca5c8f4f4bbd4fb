"""Plans give eager's answers: every fixture, all 20 of its inputs, on the sequential and the
thread scheduler (same value, or the same exception type and message; the same log order for the
impure fixture), plus regression tests for compiler bugs the fixtures found."""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import fixtures
from emberjit import Operator, execution_options, jit
from emberjit.compiler import compile_structural
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall
from fixtures import two_ensembles

NAMES = fixtures.module_names()
SCHEDULERS = ("sequential", "threads")


def _module(name: str) -> Any:
    return importlib.import_module(f"fixtures.{name}")


def _inputs(module: Any) -> list[Any]:
    return list(module.inputs()) if hasattr(module, "inputs") else list(module.INPUTS)


def _outcome(fn: Callable[[Any], Any], x: Any) -> tuple[Any, ...]:
    try:
        return ("value", fn(x))
    except Exception as exc:  # the jitted call must raise the same type, with the same message
        return ("raised", type(exc), str(exc))


def _outcomes(fn: Callable[[Any], Any], inputs: list[Any]) -> list[tuple[Any, ...]]:
    return [_outcome(fn, x) for x in inputs]


# Every fixture in every mode that takes it: trace mode takes operators, not plain functions
# (``module_function``); enhanced mode has its own file (tests/test_enhanced_mode.py).
CASES = [(name, mode) for name in NAMES for mode in ("structural", "auto", "trace")
         if not (mode == "trace" and name == "module_function")]


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize(("name", "mode"), CASES)
def test_jitted_equals_eager(name: str, mode: str, scheduler: str) -> None:
    module = _module(name)
    inputs = _inputs(module)
    assert len(inputs) == 20
    eager_op = module.build(0.0)  # fresh instances: state (counters, logs) must not leak
    eager = _outcomes(eager_op, inputs)
    jitted_op = module.build(0.0)
    fast = jit(jitted_op, mode=mode)
    with execution_options(scheduler=scheduler):
        got = _outcomes(fast, inputs)
    for x, want, have in zip(inputs, eager, got, strict=True):
        assert have == want, f"fixtures.{name} on {x!r} ({mode}, {scheduler})"
    if hasattr(eager_op, "log"):
        assert eager_op.log and jitted_op.log == eager_op.log


def test_fixtures_exercise_both_paths() -> None:
    """The inputs reach every branch the fixtures are there to test."""
    tries = _outcomes(_module("try_except").build(), _module("try_except").INPUTS)
    sources = {o[1]["source"] for o in tries if o[0] == "value"}
    assert sources == {"primary", "backup"} and any(o[0] == "raised" for o in tries)
    routes = {r["route"] for r in map(_module("branching").build(), _module("branching").INPUTS)}
    assert routes == {"math", "general"}
    guard = _module("early_return")
    reasons = [r["reason"] for r in map(guard.build(), guard.INPUTS)]
    assert "empty question" in reasons and "" in reasons
    assert any(r not in ("", "empty question") for r in reasons)
    loop = _module("loop_carried")
    lengths = {len(r["lengths"]) for r in map(loop.build(), loop.INPUTS)}
    assert lengths == {0, 1, 2, 3, 4}


class _Recording:
    """A model that records when each call started and ended, with its prompt."""

    def __init__(self, latency: float) -> None:
        self.model = SimulatedModel(latency=latency)
        self.spans: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, prompt: str, **params: Any) -> str:
        start = time.perf_counter()
        reply = self.model(prompt, **params)
        with self.lock:
            self.spans.append((prompt, start, time.perf_counter()))
        return reply


def test_two_sub_ensembles_run_concurrently() -> None:
    x = two_ensembles.INPUTS[0]
    eager_model = _Recording(0.05)
    start = time.perf_counter()
    want = two_ensembles.Debate(eager_model)(x)
    eager_seconds = time.perf_counter() - start  # 9 calls x 50 ms in a row: ~0.45 s

    model = _Recording(0.05)
    fast = jit(two_ensembles.Debate(model), mode="structural")
    with execution_options(scheduler="threads"):
        fast(x)  # compile first, so the timed call measures the plan alone
        model.spans.clear()
        start = time.perf_counter()
        got = fast(x)
        seconds = time.perf_counter() - start
    assert got == want
    assert seconds < 0.6 * eager_seconds, (seconds, eager_seconds)
    pro = [s for s in model.spans if s[0].startswith("Argue for:")]
    con = [s for s in model.spans if s[0].startswith("Argue against:")]
    assert len(pro) == len(con) == 4
    # the two branches overlap: each started before the other one ended
    assert min(s[1] for s in pro) < max(s[2] for s in con)
    assert min(s[1] for s in con) < max(s[2] for s in pro)


# -- regression tests for compiler bugs found by the fixtures ----------------------------------


class _WithThenRead(Operator[dict[str, Any], str]):
    def __init__(self, model: SimulatedModel) -> None:
        self.a = ModelCall(model, "a {query}")

    def forward(self, inputs: dict[str, Any]) -> str:
        with contextlib.nullcontext():
            reply = self.a(inputs)
        return str(reply["text"])


class _HandlerOnlyName(Operator[dict[str, Any], str]):
    def __init__(self, model: SimulatedModel) -> None:
        self.flaky = ModelCall(model, "flaky {query}")
        self.backup = ModelCall(model, "backup {query}")

    def forward(self, inputs: dict[str, Any]) -> str:
        try:
            first = self.flaky(inputs)
            fallback = None
        except RuntimeError:
            first = None
            fallback = self.backup(inputs)
        return str(first["text"] if first is not None else fallback["text"])


def _flaky_model() -> SimulatedModel:
    return SimulatedModel(latency=0.0, fail_on=lambda p: p.startswith("flaky") and "down" in p)


@pytest.mark.parametrize("cls", [_WithThenRead, _HandlerOnlyName])
def test_names_bound_in_with_or_try_are_waited_for_after_it(cls: type) -> None:
    """Bug: after a ``with``/``try`` block the plan forgot that names bound inside it held
    handles (and an ``except`` handler's names were dropped), so ordinary code after the block
    read a handle on the thread scheduler: ``TypeError: 'Task' object is not subscriptable``."""
    inputs = [{"query": "up?"}, {"query": "down?"}]
    want = _outcomes(cls(_flaky_model()), inputs)
    fast = jit(cls(_flaky_model()), mode="structural")
    with execution_options(scheduler="threads"):
        assert _outcomes(fast, inputs) == want


class _Nested(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: Any) -> None:
        self.refine = ModelCall(model, "refine {query}")
        self.answer = ModelCall(model, "answer {text}")
        self.other = ModelCall(model, "other {query}")

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        chained = self.answer(self.refine(inputs))
        side = self.other(inputs)
        return {"chained": chained["text"], "side": side["text"]}


def test_nested_call_argument_is_submitted_not_awaited() -> None:
    """Bug: in ``self.a(self.b(x))`` the inner call was ``run.call`` (awaited on the plan's
    thread), so the independent call on the next line started only after it finished."""
    plan, _ = compile_structural(_Nested(SimulatedModel(latency=0.0)))
    assert "run.submit(self.answer, run.submit(self.refine, inputs))" in plan.source
    assert "run.call(" not in plan.source
    model = _Recording(0.05)
    want = _Nested(SimulatedModel(latency=0.0))({"query": "Why?"})
    fast = jit(_Nested(model), mode="structural")
    with execution_options(scheduler="threads"):
        assert fast({"query": "Why?"}) == want
    spans = {prompt.split()[0]: (start, end) for prompt, start, end in model.spans}
    assert spans["other"][0] < spans["refine"][1]  # started while the chain's first call ran
