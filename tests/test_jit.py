"""The jit layer: decorator forms, plans and their views, speed, nesting, stats, recompile
limits, option validation, explain."""

from __future__ import annotations

import time
import types
from typing import Any

import _analysis_ops as ops
import networkx as nx
import pytest

from emberjit import (
    Operator,
    execution_options,
    explain_jit_selection,
    get_jit_stats,
    jit,
    reset_jit_stats,
)
from emberjit.demo import DEMO_QUERY, Pipeline
from emberjit.errors import EmberJitError, GuardLimitError
from emberjit.models import SimulatedModel
from emberjit.ops import MostCommon, QuestionRefinement

# -- the decorator forms ------------------------------------------------------------------------


@jit
class BareJit(Operator[Any, Any]):
    def __init__(self) -> None:
        self.members = [ops.Echo("a"), ops.Echo("b")]
        self.judge = ops.Join()

    def forward(self, inputs: Any) -> Any:
        answers = [m(inputs) for m in self.members]
        return self.judge({"answers": answers})


@jit(mode="structural")
class StructuralJit(Operator[Any, Any]):
    def __init__(self) -> None:
        self.first = ops.Echo("1")
        self.second = ops.Echo("2")

    def forward(self, inputs: Any) -> Any:
        one = self.first(inputs)
        two = self.second(inputs)
        return one + two


def test_bare_jit_on_class() -> None:
    op = BareJit()
    assert op("x") == "a(x)|b(x)"
    assert op(inputs="y") == "a(y)|b(y)"
    stats = get_jit_stats(op)
    assert (stats.calls, stats.compiles) == (2, 1)
    assert stats.mode == "structural"  # auto: the source resolves every call
    assert "run.submit" in op.plan.source  # type: ignore[attr-defined]


def test_jit_with_options_on_class() -> None:
    op = StructuralJit()
    assert op("x") == "1(x)2(x)"
    assert get_jit_stats(op).mode == "structural"
    assert "def StructuralJit__forward" in op.plan.source  # type: ignore[attr-defined]


def test_jit_instance_leaves_original_eager() -> None:
    original = ops.Pipeline([ops.Echo("a"), ops.Echo("b")])
    fast = jit(original, mode="structural")
    assert fast("x") == original("x") == "a(x)|b(x)"
    before = get_jit_stats(fast)
    assert original("y") == "a(y)|b(y)"
    after = get_jit_stats(fast)
    assert (after.calls, after.compiles) == (before.calls, before.compiles) == (1, 1)
    assert "_emberjit_state" not in vars(original)


def test_jit_function_with_global_operator() -> None:
    fast = jit(ops.uses_global)
    assert fast("q") == ops.uses_global("q") == "g(q)"
    assert fast("r") == "g(r)"
    assert get_jit_stats(fast).compiles == 1
    assert "GLOBAL_ECHO" in fast.plan.source


def test_jit_function_with_closure_operator() -> None:
    fn = ops.make_closure_fn(ops.Echo("c"))
    fast = jit(fn)
    assert fast("q") == fn("q") == "c(q)+g(q)"
    stats = get_jit_stats(fast)
    assert (stats.calls, stats.compiles, stats.mode) == (1, 1, "structural")


# -- the plan and its views ----------------------------------------------------------------------


def test_plan_views() -> None:
    fast = jit(ops.Pipeline([ops.Echo("a"), ops.Echo("b")]), mode="structural")
    plan = fast.plan
    assert plan.source.startswith("# emberjit plan for Pipeline.forward")
    assert "[m(inputs) for m in self.members]" in plan.source  # the source line, as a comment
    assert str(plan) == plan.source
    assert isinstance(plan.graph, nx.DiGraph) and plan.graph.number_of_nodes() >= 2
    assert plan.guards and any("Pipeline.forward" in g for g in plan.guards)
    mermaid = plan.to_mermaid()
    assert mermaid.startswith("flowchart TD") and "-->" in mermaid
    dot = plan.to_dot()
    assert dot.startswith('digraph "Pipeline.forward"') and dot.rstrip().endswith("}")
    table = plan.table().splitlines()
    assert table[0].split()[:5] == ["step", "kind", "target", "depends", "on"]
    assert len(table) == 2 + plan.graph.number_of_nodes()
    assert "members[*]" in plan.table()


# -- speed ---------------------------------------------------------------------------------------


def test_design_pipeline_structural_speed() -> None:
    pipeline = Pipeline(SimulatedModel(latency=0.05), n=10)
    eager = pipeline({"query": DEMO_QUERY})
    fast = jit(pipeline, mode="structural")
    assert fast({"query": DEMO_QUERY}) == eager  # warm: compile, start the pool
    start = time.perf_counter()
    result = fast({"query": DEMO_QUERY})
    elapsed = time.perf_counter() - start
    assert result == eager
    assert elapsed < 0.300, f"{elapsed * 1000:.0f} ms (critical path 150 ms)"


def _tree(depth: int, width: int = 3) -> Operator[Any, Any]:
    if depth == 0:
        return ops.Answer("leaf", delay=0.005)
    return ops.Pipeline([_tree(depth - 1, width) for _ in range(width)])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("workers", [1, 2])
def test_recursive_nested_plans_do_not_deadlock(workers: int) -> None:
    tree = _tree(3)  # three levels of fan-out: 27 leaves
    expected = tree("x")
    fast = jit(tree, mode="structural", recursive=True)
    with execution_options(scheduler="threads", max_workers=workers):
        assert fast("x") == expected
        assert fast("y") == tree("y")


# -- stats ---------------------------------------------------------------------------------------


@jit(mode="structural")
class Scripted(Operator[Any, Any]):
    def __init__(self) -> None:
        self.members = [ops.Echo("a"), ops.Echo("b")]
        self.judge: Any = ops.Join()

    def forward(self, inputs: Any) -> Any:
        answers = [m(inputs) for m in self.members]
        return self.judge({"answers": answers})


def test_stats_exact_counts() -> None:
    op = Scripted()
    assert op("x") == "a(x)|b(x)"
    s = get_jit_stats(op)
    assert (s.calls, s.cache_misses, s.compiles, s.cache_hits) == (1, 1, 1, 0)
    for _ in range(3):
        op("x")
    s = get_jit_stats(op)
    assert (s.calls, s.cache_misses, s.compiles, s.cache_hits) == (4, 1, 1, 3)
    assert (s.guard_failures, s.recompiles) == (0, 0)

    op.judge = ops.plain_join  # not an operator: the plan's guard fails
    assert op("x") == "a(x)|b(x)"
    s = get_jit_stats(op)
    assert (s.guard_failures, s.recompiles, s.compiles, s.calls) == (1, 1, 2, 5)
    assert s.fallbacks == []

    total_compiles = get_jit_stats().compiles
    other = Scripted()  # same class, same kinds of attributes: the cached plan
    assert other("y") == "a(y)|b(y)"
    assert get_jit_stats(other).compiles == 0
    assert get_jit_stats().compiles == total_compiles


def test_stats_by_attribute_and_key_and_reset() -> None:
    op = Scripted()
    op("x")
    op("x")
    s = get_jit_stats(op)
    for key in ("calls", "compiles", "cache_hits", "cache_misses", "guard_failures",
                "recompiles", "fallbacks", "run_seconds", "compile_seconds"):
        assert s[key] == getattr(s, key)
    assert s["calls"] == 2 and s.run_seconds > 0
    with pytest.raises(KeyError, match="calls"):
        s["nope"]
    assert "2 calls" in str(s)
    reset_jit_stats()
    s = get_jit_stats(op)
    assert (s.calls, s.compiles, s.cache_hits, s.cache_misses, s.run_seconds) == (0, 0, 0, 0, 0)
    assert get_jit_stats().calls == 0
    op("x")
    assert get_jit_stats(op).cache_hits == 1  # the plan stays


# -- recompile limit -----------------------------------------------------------------------------


def _flipping() -> type[ops.Flip]:
    class Flipping(ops.Flip):  # its own class: swapping its forward touches nothing else
        pass

    return Flipping


def _flip(cls: type[ops.Flip], i: int) -> None:
    """A fresh code object for forward (same source): the code guard fails."""
    del i
    original = ops.Flip.forward
    cls.forward = types.FunctionType(  # type: ignore[method-assign]
        original.__code__.replace(), original.__globals__, "forward")


def test_recompile_limit_falls_back_to_eager_and_warns_once() -> None:
    cls = _flipping()
    fast = jit(cls(), mode="structural", recompile_limit=2)
    assert fast("x") == "f(x)"
    with pytest.warns(RuntimeWarning, match="recompile limit") as record:
        for i in range(6):
            _flip(cls, i)  # every call: the code guard fails
            assert fast("x") == "f(x)"
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert record[0].filename == __file__  # the user's call, not a line of emberjit
    s = get_jit_stats(fast)
    assert s.guard_failures == 3  # two recompiles, then the limit
    assert s.recompiles == 2
    assert len(s.fallbacks) == 1 and "recompile limit (2)" in s.fallbacks[0]
    assert s.calls == 7
    assert "eager" in str(explain_jit_selection(fast))


def test_recompile_limit_strict_raises() -> None:
    cls = _flipping()
    fast = jit(cls(), mode="structural", recompile_limit=2, strict=True)
    fast("x")
    with pytest.raises(GuardLimitError, match="recompile limit"):
        for i in range(6):
            _flip(cls, i)
            fast("x")


# -- bad arguments -------------------------------------------------------------------------------


def test_invalid_mode() -> None:
    with pytest.raises(ValueError) as info:
        jit(ops.Echo(), mode="fast")
    for valid in ("auto", "structural", "trace", "enhanced"):
        assert valid in str(info.value)
    assert "'fast'" in str(info.value)


def test_invalid_option_name() -> None:
    with pytest.raises(ValueError) as info:
        jit(ops.Echo(), bogus=1)
    for valid in ("mode", "recursive", "strict", "recompile_limit"):
        assert valid in str(info.value)
    assert "'bogus'" in str(info.value)


def test_non_operators_rejected() -> None:
    with pytest.raises(TypeError, match=r"not int \(3\)"):
        jit(3)
    with pytest.raises(TypeError, match="NotAnOperator") as info:
        jit(ops.NotAnOperator)
    assert "Operator" in str(info.value)


def test_trace_mode_answers_like_eager() -> None:
    op = ops.Pipeline([ops.Echo("a"), ops.Echo("b")])
    fast = jit(op, mode="trace")
    try:
        assert fast("x") == op("x") == "a(x)|b(x)"
    except EmberJitError as exc:  # a build without trace mode must say so with its own error
        assert "trace" in str(exc)
    else:
        assert "mode trace" in str(explain_jit_selection(fast))


def test_explain_names_mode_and_guards() -> None:
    fast = jit(ops.Pipeline([ops.Echo("a")]), mode="structural")
    text = str(explain_jit_selection(fast))
    assert "mode structural" in text
    for guard in fast.plan.guards:
        assert guard in text
    assert "members[*]" in text


# -- regressions -----------------------------------------------------------------------------


def test_closure_function_guard_needs_no_global_name() -> None:
    fast = jit(ops.make_closure_fn(ops.Echo("c")), mode="structural")
    first = fast("q")
    assert fast("q") == first  # the guard ran on the second call without a NameError
    assert "_function.__code__ is _code_0" in fast.plan.source


def test_guard_watches_forward_not_the_function_name() -> None:
    class Swapped(ops.Flip):
        pass

    Swapped.forward = ops.Flip.forward_again  # type: ignore[method-assign]
    op = Swapped()
    fast = jit(op, mode="structural")
    assert fast("x") == op.leaf("x")

    def shout(self: Any, inputs: Any) -> Any:
        return "changed"

    Swapped.forward = shout  # type: ignore[method-assign,assignment]
    assert fast("x") == "changed"  # the old plan is not run again


# -- strict, and the public types -------------------------------------------------------------


def test_strict_turns_a_line_kept_sequential_into_an_error_naming_it() -> None:
    from emberjit import JitFallbackError
    from fixtures import with_block

    with pytest.raises(JitFallbackError, match=r"fixtures/with_block.py:\d+.*line \d+: 'with'"):
        jit(with_block.build(), mode="structural", strict=True)({"query": "q?"})
    op = with_block.build()
    assert jit(op, mode="structural")({"query": "q?"}) == with_block.build()({"query": "q?"})


def test_public_types_are_what_the_api_returns() -> None:
    from emberjit import JitStats, Plan, __version__

    fast = jit(ops.Pipeline([ops.Echo("a"), ops.Echo("b")]), mode="structural")
    fast("x")
    assert isinstance(fast.plan, Plan)
    assert isinstance(get_jit_stats(fast), JitStats)
    assert isinstance(get_jit_stats(), JitStats) and get_jit_stats().calls >= 1
    assert __version__.count(".") == 2


def test_setting_an_attribute_on_a_jitted_instance_sets_it_on_the_instance_it_runs() -> None:
    # found writing a cache test: fast.check = ... set an attribute of the wrapper, which the
    # plan never read (reading went to the instance), so the change did nothing
    model = SimulatedModel(latency=0)
    base = Pipeline(model)
    fast = jit(base)
    first = fast({"query": "q?"})
    fast.vote = MostCommon()
    assert base.vote is fast.vote
    fast.refiner = QuestionRefinement(SimulatedModel(latency=0, seed=7))
    assert base.refiner is fast.refiner and fast({"query": "q?"}) != first  # the plan runs it
    del fast.vote
    assert not hasattr(base, "vote")
