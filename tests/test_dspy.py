"""``jit(program)`` for DSPy programs as they are (issue 17): five programs in the shapes of
DSPy's tutorials (tests/_dspy_programs.py) answer as they do eagerly, their independent
sub-module calls overlap, and DSPy sees every call as it would eagerly (the LM's history, the
settings of ``dspy.context``, callbacks), on the thread and the async schedulers. DSPy's own test
LM (DummyLM) with a fixed latency stands in for a model; nothing leaves the machine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import dspy
import pytest
from dspy.utils.callback import ACTIVE_CALL_ID, BaseCallback

from emberjit import explain_jit_selection, jit
from fixtures._dspy_programs import (
    ANSWERS,
    Agent,
    CompareChains,
    Ensemble,
    MultiHop,
    RewriteRAG,
    slow_lm,
)

LATENCY = 0.2
SLACK = 0.1  # what a plan may add to its critical path, on a loaded 2-core machine
QUESTIONS = ["Which year was the tower in Paris finished?", "Who created Python?"]
#: program -> (LM calls eagerly, LM calls on the critical path of its plan)
SHAPES = {MultiHop: (3, 3), CompareChains: (4, 2), Ensemble: (3, 1), RewriteRAG: (3, 2),
          Agent: (3, 2)}


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


@pytest.mark.parametrize("program", list(SHAPES), ids=lambda c: c.__name__)
def test_a_jitted_program_answers_as_it_does_eagerly_and_overlaps_its_calls(program: Any
                                                                             ) -> None:
    lm = slow_lm(ANSWERS, LATENCY)
    eager_calls, critical = SHAPES[program]
    assert critical == eager_calls or critical * LATENCY + SLACK < eager_calls * LATENCY
    with dspy.context(lm=lm):
        eager = [program()(question=q) for q in QUESTIONS]
        fast = jit(program())
        fast(question=QUESTIONS[0])  # compiles
        before = len(lm.history)
        for q, want in zip(QUESTIONS, eager, strict=True):
            got, seconds = _timed(lambda q=q: fast(question=q))
            assert isinstance(got, dspy.Prediction) and got.toDict() == want.toDict()
            # its calls overlap: the critical path's time, which is less than the calls' sum
            assert seconds < critical * LATENCY + SLACK
    assert len(lm.history) - before == eager_calls * len(QUESTIONS)  # every call, once


def test_explain_shows_the_sub_module_call_sites_in_their_keyword_form() -> None:
    with dspy.context(lm=slow_lm(ANSWERS, 0)):
        fast = jit(RewriteRAG())
        fast(question=QUESTIONS[1])
    report = explain_jit_selection(fast)
    assert report.mode == "structural"
    assert report.sites[-1].startswith("3 call sites: 2 concurrent, 1 dependent, 0 held back")
    assert any(s.startswith("line ") and "self.classify(...): concurrent" in s
               for s in report.sites)
    assert "self.rewrite is a leaf" in report.guards


class Settings(BaseCallback):
    """The LM and the adapter each predictor call runs with."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, Any]] = []

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if isinstance(instance, dspy.Predict):
            self.seen.append((dspy.settings.lm, dspy.settings.adapter))


def test_dspy_context_reaches_every_concurrent_call() -> None:
    default, override, adapter = slow_lm(ANSWERS, 0.02), slow_lm(ANSWERS, 0.02), \
        dspy.ChatAdapter()
    settings = Settings()
    with dspy.context(lm=default, callbacks=[settings]):
        fast = jit(CompareChains())
        fast(question=QUESTIONS[0])
        used = len(default.history)
        settings.seen.clear()
        with dspy.context(lm=override, adapter=adapter):
            fast(question=QUESTIONS[0])
    assert len(override.history) == 4 and len(default.history) == used
    assert settings.seen == [(override, adapter)] * 4  # in every call, on whichever thread


class Recorder(BaseCallback):
    """Each module call: its module's class and its caller's (the call active when it began)."""

    def __init__(self) -> None:
        self.calls: dict[str, tuple[str, str | None]] = {}  # call id -> (module, caller id)
        self.ends: list[str] = []

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.calls[call_id] = (type(instance).__name__, ACTIVE_CALL_ID.get())

    def on_module_end(self, call_id: str, outputs: Any, exception: Exception | None = None
                      ) -> None:
        self.ends.append(call_id)

    def tree(self) -> list[tuple[str, str | None]]:
        """(module, its caller's module) for every call, sorted: the shape, without the ids."""
        return sorted((name, self.calls[parent][0] if parent in self.calls else None)
                      for name, parent in self.calls.values())


@pytest.mark.parametrize("program", [Ensemble, RewriteRAG], ids=lambda c: c.__name__)
def test_callbacks_fire_once_for_each_call_under_its_caller(program: Any) -> None:
    trees = []
    for run in (lambda p: p, jit):
        recorder = Recorder()
        with dspy.context(lm=slow_lm(ANSWERS, 0.02), callbacks=[recorder]):
            made = run(program())
            made(question=QUESTIONS[0])  # (jitted: compiles; its calls are recorded too)
            recorder.calls.clear()
            recorder.ends.clear()
            made(question=QUESTIONS[0])
        assert sorted(recorder.ends) == sorted(recorder.calls)  # each call began and ended once
        trees.append(recorder.tree())
    eager, jitted = trees
    assert (program.__name__, None) in jitted  # the program's own call, at the top
    assert jitted == eager  # every module call under the caller it has eagerly


def test_acall_awaits_the_modules_async_forms() -> None:
    lm = slow_lm(ANSWERS, LATENCY)

    async def main() -> tuple[Any, float]:
        with dspy.context(lm=lm):
            fast = jit(CompareChains())
            await fast.acall(question=QUESTIONS[0])  # compiles
            return await _atimed(fast.acall(question=QUESTIONS[0]))

    got, seconds = asyncio.run(main())
    with dspy.context(lm=slow_lm(ANSWERS, 0)):
        assert got.toDict() == CompareChains()(question=QUESTIONS[0]).toDict()
    assert seconds < 2 * LATENCY + SLACK  # two waves, not four calls
    assert lm._async_engine_spec.calls == 8  # every request awaited: DSPy's async path


async def _atimed(awaitable: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = await awaitable
    return value, time.perf_counter() - start


def test_the_program_itself_is_left_as_it_was() -> None:
    program = CompareChains()
    fast = jit(program)
    assert type(program) is CompareChains and fast.original is not program
    program.attempts = program.attempts[:1]  # its attributes are the ones the plan reads
    with dspy.context(lm=slow_lm(ANSWERS, 0)):
        assert len(fast(question=QUESTIONS[0]).candidates) == 1


def test_a_program_an_optimizer_compiled_jits_and_answers_the_same() -> None:
    train = [dspy.Example(question=q, answer=a).with_inputs("question")
             for q, a in zip(QUESTIONS, ["1889", "Guido van Rossum"], strict=True)]
    lm = slow_lm(ANSWERS, 0)
    with dspy.context(lm=lm):
        optimizer = dspy.BootstrapFewShot(metric=lambda ex, pred, trace=None:
                                          ex.answer == pred.answer, max_bootstrapped_demos=2)
        compiled = optimizer.compile(CompareChains(), trainset=train)
        assert all(p.demos for _, p in compiled.named_predictors())  # it learned demos
        start = len(lm.history)
        eager = compiled(question=QUESTIONS[0])
        eager_prompts = [h["messages"] for h in lm.history[start:]]
        start = len(lm.history)
        got = jit(compiled)(question=QUESTIONS[0])
        jit_prompts = [h["messages"] for h in lm.history[start:]]
    assert got.toDict() == eager.toDict()
    key = repr  # the same prompts, demos included, in any order
    assert sorted(map(key, jit_prompts)) == sorted(map(key, eager_prompts))


def test_the_bench_rows_are_measured_against_dspy_parallel() -> None:
    from benchmarks.dspy_bench import rows, target

    found = rows(repeats=1, latency=0.01)
    assert [r["program"] for r in found] == [c.__name__ for c in SHAPES]
    assert all(r["emberjit_s"] > 0 and r["by_hand_s"] > 0 for r in found)
    assert target(found)[0]["target"].startswith("dspy: every program")


class Pair(dspy.Module):
    """A module of one's own whose two calls are independent."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict("question -> answer")
        self.classify = dspy.Predict("question -> topic")

    def forward(self, question: str) -> dspy.Prediction:
        answer = self.answer(question=question).answer
        topic = self.classify(question=question).topic
        return dspy.Prediction(answer=answer, topic=topic)


class Pairs(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pairs = [Pair() for _ in range(3)]

    def forward(self, question: str) -> dspy.Prediction:
        found = [pair(question=question) for pair in self.pairs]
        return dspy.Prediction(topics=[f.topic for f in found], answer=found[0].answer)


def test_a_module_of_ones_own_runs_a_plan_of_its_own() -> None:
    # three Pairs at once, and in each, its two calls at once: one wave of six calls (as
    # calls, the Pairs' own calls would run one after the other: two waves)
    with dspy.context(lm=slow_lm(ANSWERS, LATENCY)):
        want = Pairs()(question=QUESTIONS[1]).toDict()
        fast = jit(Pairs())
        fast(question=QUESTIONS[1])
        got, seconds = _timed(lambda: fast(question=QUESTIONS[1]))
    assert got.toDict() == want
    assert seconds < LATENCY + SLACK


def test_jit_on_a_dspy_class_says_to_jit_an_instance() -> None:
    with pytest.raises(TypeError, match=r"jit an instance instead: fast = jit\(CompareChains"):
        jit(CompareChains)
