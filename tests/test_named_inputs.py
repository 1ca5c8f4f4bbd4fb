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
