"""Operators with named inputs (``def forward(self, question, context=None)``) and call sites of
any shape (``op(question=q)``, ``op(q, c)``, ``op(*xs)``): eager semantics, and plans in which
such calls are call sites like any other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from emberjit import Operator, execution_options, explain_jit_selection, jit
from emberjit.errors import OperatorCallError
from emberjit.operator import CallArgs

LATENCY = 0.05


class Ask(Operator[Any, str]):
    def __init__(self, tag: str, delay: float = LATENCY) -> None:
        self.tag, self.delay = tag, delay

    def forward(self, question: str, context: str | None = None) -> str:
        time.sleep(self.delay)
        return f"{self.tag}({question}|{context})"


class Rag(Operator[str, dict[str, Any]]):
    def __init__(self, delay: float = LATENCY) -> None:
        self.retrievers = [Ask(f"r{i}", delay) for i in range(4)]
        self.answer, self.check = Ask("answer", delay), Ask("check", delay)

    def forward(self, question: str) -> dict[str, Any]:
        docs = [r(question=question) for r in self.retrievers]
        context = " ".join(d.upper() for d in docs)
        answer = self.answer(question=question, context=context)
        verdict = self.check(question, answer)
        extra = self.check(*[question, "extra"])
        return {"answer": answer.strip(), "verdict": verdict, "extra": extra}


def test_named_inputs_eagerly() -> None:
    ask = Ask("a", 0.0)
    assert ask("q") == ask(question="q") == "a(q|None)"
    assert ask("q", "c") == ask(question="q", context="c") == ask("q", context="c")
    with pytest.raises(OperatorCallError, match=r"Ask\(question.*cannot take these inputs"):
        ask("q", "c", "d")
    with pytest.raises(OperatorCallError, match="cannot take these inputs"):
        ask(topic="q")


@pytest.mark.parametrize("mode", ["structural", "auto", "enhanced", "trace"])
@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
def test_keyword_calls_give_eagers_answers(mode: str, scheduler: str) -> None:
    want = Rag(0.0)("What?")
    fast = jit(Rag(0.0), mode=mode)
    with execution_options(scheduler=scheduler):
        assert fast("What?") == want
        assert fast("What?") == want
    assert asyncio.run(fast.acall("What?")) == want


def test_keyword_calls_are_call_sites() -> None:
    fast = jit(Rag(), mode="structural")
    fast("Q?")
    source = fast.plan.source
    assert "run.submit(r, run.args(question=question))" in source
    assert "run.submit(self.answer, run.args(question=question, context=context))" in source
    sites = explain_jit_selection(fast).sites
    assert sites[-1] == ("4 call sites: 2 concurrent, 2 dependent, 0 held back; critical path 3 "
                         "calls (dataflow ideal 3)")
    start = time.perf_counter()
    fast("Q?")
    elapsed = time.perf_counter() - start
    # critical path: retrievers, answer, check = 3 calls; eagerly 7 calls one after another
    assert elapsed < 5 * LATENCY, f"{elapsed:.3f} s"


def test_call_args_travel_as_one_value() -> None:
    args = CallArgs.of("q", context="c")
    assert args == CallArgs(("q",), {"context": "c"})
    assert Ask("a", 0.0)(args) == "a(q|c)"  # what a scheduler hands the operator
    assert repr(args) == "CallArgs('q', context='c')"


class Panel(Operator[Any, list[str]]):
    """A root with named inputs: ten independent questions, then one that reads them all."""

    def __init__(self, delay: float = LATENCY) -> None:
        self.members = [Ask(f"m{i}", delay) for i in range(10)]
        self.summary = Ask("summary", delay)

    def forward(self, question: str, context: str | None = None, *, style: str = "") -> list[str]:
        views = [m(question, context=context or style) for m in self.members]
        return [*views, self.summary(question=" ".join(views))]


CALLS = [(("q",), {}), (("q", "c"), {}), ((), {"question": "q", "context": "c"}),
         (("q",), {"style": "terse"}), ((), {"inputs": "q"})]


@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_a_jitted_root_binds_named_inputs_as_the_eager_call(
        scheduler: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    eager = Panel(0.0)
    want = eager(*args, **kwargs) if kwargs != {"inputs": "q"} else eager("q")
    fast = jit(Panel(0.0), mode="structural")
    with execution_options(scheduler=scheduler):
        assert fast(*args, **kwargs) == want
        assert asyncio.run(fast.acall(*args, **kwargs)) == want


class JPanel(Panel):
    pass


jit(JPanel, mode="structural")  # every instance is jitted


@pytest.mark.parametrize("jitted", ["instance", "class"])
@pytest.mark.parametrize("awaited", [False, True])
def test_a_jitted_root_called_with_named_inputs_runs_its_plan_concurrently(
        jitted: str, awaited: bool) -> None:
    fast = jit(Panel(), mode="structural") if jitted == "instance" else JPanel()

    def call() -> list[str]:
        if awaited:
            return asyncio.run(fast.acall(question="q", context="c", style="s"))
        return fast(question="q", context="c", style="s")  # type: ignore[no-any-return]

    call()  # compiles
    start = time.perf_counter()
    out = call()
    elapsed = time.perf_counter() - start
    assert out == Panel(0.0)(question="q", context="c", style="s")
    # ten members at once, then the summary: two calls deep (eagerly eleven, 550 ms)
    assert elapsed < 5 * LATENCY, f"{elapsed:.3f} s"


@pytest.mark.parametrize("mode", ["structural", "trace", "auto"])
def test_a_jitted_root_refuses_inputs_forward_cannot_take_as_eagerly(mode: str) -> None:
    fast = jit(Panel(0.0), mode=mode)
    with pytest.raises(OperatorCallError, match="cannot take these inputs"):
        fast("q", "c", "extra")
    with pytest.raises(OperatorCallError, match="cannot take these inputs"):
        fast(topic="q")
    assert fast(question="q") == Panel(0.0)(question="q")
