"""mode="enhanced" (and auto's choice of it): the structural plan plus one traced run."""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any

import pytest

import fixtures
from emberjit import (
    EmberJitError,
    Operator,
    execution_options,
    explain_jit_selection,
    get_jit_stats,
    jit,
)
from emberjit.errors import InvalidOptionError
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall
from emberjit.tracing import record

NAMES = fixtures.module_names()


def _outcome(fn: Any, x: Any) -> tuple[Any, ...]:
    try:
        return ("value", fn(x))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_gives_eagers_answers(name: str, scheduler: str) -> None:
    module = importlib.import_module(f"fixtures.{name}")
    inputs = list(module.inputs()) if hasattr(module, "inputs") else list(module.INPUTS)
    if name == "module_function":  # a plain function: enhanced takes operators, and says so
        with pytest.raises(EmberJitError, match="enhanced mode takes operator instances"):
            jit(module.build(0.0), mode="enhanced")(inputs[0])
        return
    eager_op, jitted_op = module.build(0.0), module.build(0.0)
    want = [_outcome(eager_op, x) for x in inputs]
    jitted = jit(jitted_op, mode="enhanced")
    with execution_options(scheduler=scheduler):
        got = [_outcome(jitted, x) for x in inputs]
    assert got == want
    assert get_jit_stats(jitted).mode == "enhanced"
    if hasattr(eager_op, "log"):
        assert eager_op.log and jitted_op.log == eager_op.log


# -- call sites the source leaves open -------------------------------------------------------


class Tools:
    """A plain helper object (not an operator) holding operators."""

    def __init__(self, members: list[Any]) -> None:
        self.members = members
        self.search = members[0]

    def pick(self, i: int) -> Any:
        return self.members[i]


class ViaLocal(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: SimulatedModel, n: int = 10) -> None:
        self.tools = Tools([ModelCall(model, temperature=0.1 * i) for i in range(n)])
        self.n = n

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        answers = []
        for i in range(self.n):
            ask = self.tools.pick(i)
            answers.append(ask(inputs))
        first = self.tools.search(inputs)
        return {"answers": [a["text"] for a in answers], "first": first["text"]}


class ViaRegistry(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel, n: int = 10) -> None:
        self.registry = {f"m{i}": ModelCall(model, temperature=0.1 * i) for i in range(n)}
        self.names = sorted(self.registry)

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        answers = [self.registry.get(name)(inputs) for name in self.names]
        return [a["text"] for a in answers]


def _timed(fn: Any, x: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(x)
    return result, time.perf_counter() - start


@pytest.mark.parametrize("cls", [ViaLocal, ViaRegistry])
def test_open_call_sites_run_concurrently_only_in_enhanced_mode(cls: type) -> None:
    op = cls(SimulatedModel(latency=0.05))
    enhanced = jit(op, mode="enhanced")
    enhanced({"query": "Warm up?"})  # the traced run (eager, its result is the real one)
    result, fast = _timed(enhanced, {"query": "Timed?"})
    assert result == op({"query": "Timed?"})
    assert fast < 0.25, f"enhanced: 10 x 50 ms took {fast:.3f} s"
    _, slow = _timed(jit(op, mode="structural"), {"query": "Timed?"})
    assert slow >= 0.45, f"structural was expected to run them one by one ({slow:.3f} s)"
    assert "run.submit_any(" in enhanced.plan.source
    report = str(explain_jit_selection(enhanced))
    assert "mode enhanced" in report
    if cls is ViaLocal:
        assert "resolved: line 79 ask(inputs): the trace saw ask call a ModelCall (10 calls)" \
            in report
        assert "resolved: line 80 self.tools.search(inputs)" in report
    else:
        assert "resolved: line 90 self.registry.get(name)(inputs)" in report


def test_a_later_callee_that_is_not_an_operator_runs_like_eager() -> None:
    op = ViaLocal(SimulatedModel(latency=0), n=3)
    jitted = jit(op, mode="enhanced")
    jitted({"query": "Traced?"})
    op.tools.members[1] = lambda x: {"text": "plain " + x["query"]}  # not an operator now
    with execution_options(scheduler="threads"):
        assert jitted({"query": "Q?"}) == op({"query": "Q?"})
        assert jitted({"query": "Q?"})["answers"][1] == "plain Q?"


def test_auto_chooses_enhanced_for_open_sites_and_structural_otherwise() -> None:
    jitted = jit(ViaLocal(SimulatedModel(latency=0), n=2))
    jitted({"query": "Q?"})
    assert get_jit_stats(jitted).mode == "enhanced"
    assert "auto: the source leaves call sites open (ask(inputs)" in str(
        explain_jit_selection(jitted))
    fixed = jit(importlib.import_module("fixtures.listcomp_fanout").build(0.0))
    fixed({"query": "Q?"})
    assert get_jit_stats(fixed).mode == "structural"


# -- fan-outs of known size, behind a length guard --------------------------------------------


class Fan(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel, n: int) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(n)]

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        return [m(inputs)["text"] for m in self.members]


def test_length_guard_fails_re_specializes_and_says_why() -> None:
    model = SimulatedModel(latency=0)
    fan = Fan(model, 3)
    jitted = jit(fan, mode="enhanced")
    jitted({"query": "A?"})
    jitted({"query": "B?"})
    assert "len(self.members) == 3" in "\n".join(jitted.plan.guards)
    report = str(explain_jit_selection(jitted))
    assert "fan-out of known size: line 150 m(...) comprehension over members: 3 members" \
        in report
    stats = get_jit_stats(jitted)
    assert (stats.calls, stats.cache_misses, stats.cache_hits, stats.compiles) == (2, 1, 1, 1)
    fan.members.append(ModelCall(model, temperature=0.9))
    result = jitted({"query": "C?"})
    assert result == fan({"query": "C?"}) and len(result) == 4
    stats = get_jit_stats(jitted)
    assert (stats.calls, stats.cache_hits, stats.cache_misses, stats.guard_failures,
            stats.recompiles, stats.compiles) == (3, 1, 2, 1, 1, 2)
    assert "len(self.members) == 4" in "\n".join(jitted.plan.guards)
    assert ("re-specialized after a guard failure: len(self.members) is 4, the trace saw 3"
            in str(explain_jit_selection(jitted)))
    jitted({"query": "D?"})
    assert get_jit_stats(jitted).cache_hits == 2


def test_stats_with_sample_input_count_the_decoration_time_trace() -> None:
    model = SimulatedModel(latency=0)
    jitted = jit(Fan(model, 2), mode="enhanced", sample_input={"query": "Sample?"})
    assert model.calls == 2  # traced at jit time
    for q in ("A?", "B?", "C?"):
        jitted({"query": q})
    stats = get_jit_stats(jitted)
    assert (stats.calls, stats.cache_misses, stats.cache_hits, stats.compiles,
            stats.recompiles, stats.guard_failures) == (3, 1, 3, 1, 0, 0)
    assert model.calls == 8  # every call ran its members: nothing replayed


# -- cheap calls inline ---------------------------------------------------------------------


class Upper(Operator[str, str]):
    def __init__(self) -> None:
        self.threads: list[str] = []

    def forward(self, inputs: str) -> str:
        self.threads.append(threading.current_thread().name)
        return inputs.upper()


class Slow(Operator[str, str]):
    def forward(self, inputs: str) -> str:
        time.sleep(0.005)
        return inputs[::-1]


class Mixed(Operator[str, dict[str, str]]):
    def __init__(self) -> None:
        self.upper = Upper()
        self.slow_a = Slow()
        self.slow_b = Slow()

    def forward(self, inputs: str) -> dict[str, str]:
        a = self.slow_a(inputs)
        b = self.slow_b(inputs)
        return {"a": self.upper(a), "b": self.upper(b), "c": self.upper(inputs)}


def test_cheap_operators_run_inline_and_explain_lists_them() -> None:
    op = Mixed()
    jitted = jit(op, mode="enhanced", inline_threshold=0.002)
    with execution_options(scheduler="threads"):
        jitted("warm")  # traced
        op.upper.threads.clear()
        for word in ("abc", "hello", "xyz"):
            assert jitted(word) == Mixed()(word)
    report = str(explain_jit_selection(jitted))
    assert "inline: self.upper (Upper): 3 traced calls, slowest" in report
    assert "inline: self.slow_a" not in report
    # inline: no call ever waited in the pool's queue; the ready one ran in the plan's thread
    assert "MainThread" in op.upper.threads
    assert len(op.upper.threads) == 9


def test_inline_threshold_zero_inlines_nothing_and_is_validated() -> None:
    op = Mixed()
    jitted = jit(op, mode="enhanced", inline_threshold=0)
    with execution_options(scheduler="threads"):
        jitted("warm")
        op.upper.threads.clear()
        assert jitted("abc") == Mixed()("abc")
    assert "inline:" not in str(explain_jit_selection(jitted))
    assert "MainThread" not in op.upper.threads
    for bad in (-1, "fast", True, float("inf")):
        with pytest.raises(InvalidOptionError, match="inline_threshold"):
            jit(op, mode="enhanced", inline_threshold=bad)


class Failing(Operator[str, str]):
    def forward(self, inputs: str) -> str:
        if inputs.startswith("bad"):
            raise ValueError(f"{type(self).__name__} cannot take {inputs!r}")
        return inputs


class FailOrder(Operator[str, list[str]]):
    def __init__(self) -> None:
        self.first = Slow()
        self.cheap = Failing()

    def forward(self, inputs: str) -> list[str]:
        a = self.first(inputs)
        b = self.cheap(a[::-1])
        c = self.cheap(inputs)
        return [a, b, c]


def test_inline_calls_keep_eagers_results_and_exception_order() -> None:
    op = FailOrder()
    jitted = jit(op, mode="enhanced", inline_threshold=0.002)
    with execution_options(scheduler="threads"):
        jitted("ok")
        assert "inline: self.cheap (Failing)" in str(explain_jit_selection(jitted))
        for word in ("fine", "bad one", "bad"):
            assert _outcome(jitted, word) == _outcome(op, word)


# -- a jit(instance) wrapper inside a traced operator ----------------------------------------


class HoldsJitted(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.inner = jit(Fan(model, 2), mode="structural")
        self.after = ModelCall(model)

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        texts = self.inner(inputs)
        return [*texts, self.after({"query": texts[0]})["text"]]


def test_a_jitted_sub_operator_is_recorded_as_one_call() -> None:
    op = HoldsJitted(SimulatedModel(latency=0))
    _, trace = record(op, {"query": "Q?"})
    top = trace.top_level()
    assert [c.path for c in top] == ["inner", "after"]
    assert top[0].type_name == "JitOperator"
    nested = [c for c in trace.calls if c.parent == top[0].index]
    assert len(nested) == 2 and not any(".original." in c.path for c in trace.calls)
    jitted = jit(op, mode="enhanced")
    for q in ("A?", "B?"):
        assert jitted({"query": q}) == op({"query": q})
