"""``with`` blocks whose context managers only set context variables order nothing: the calls
inside start like any other and see the block's values on every scheduler; any other context
manager still makes its block wait (emberjit.analysis.contexts)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emberjit import Operator, execution_options, explain_jit_selection, jit

STYLE: contextvars.ContextVar[str] = contextvars.ContextVar("style", default="plain")
LATENCY = 0.05


@contextlib.contextmanager
def style(value: str) -> Iterator[None]:
    token = STYLE.set(value)
    try:
        yield
    finally:
        STYLE.reset(token)


@contextlib.contextmanager
def style_catching(value: str) -> Iterator[None]:
    token = STYLE.set(value)
    try:
        yield
    except ValueError:  # sees the block's failures: the block must wait for its calls
        pass
    finally:
        STYLE.reset(token)


SPANS: list[str] = []


@contextlib.contextmanager
def span(name: str) -> Iterator[None]:
    SPANS.append(name)  # writes outside the plan's locals
    yield


class Styled(Operator[str, str]):
    """A leaf that reads the context variable when it runs."""

    def forward(self, inputs: str) -> str:
        time.sleep(LATENCY)
        return f"{STYLE.get()}:{inputs}"


class Writer(Operator[str, Any]):
    def __init__(self) -> None:
        self.a, self.b, self.c = Styled(), Styled(), Styled()

    def forward(self, inputs: str) -> Any:
        first = self.a(inputs)
        with style("formal"):
            second = self.b(inputs + "!")
        third = self.c(inputs + "?")
        return [first, second, third]


class CatchingWriter(Writer):
    def forward(self, inputs: str) -> Any:
        first = self.a(inputs)
        with style_catching("formal"):
            second = self.b(inputs + "!")
        return [first, second]


class SpanWriter(Writer):
    def forward(self, inputs: str) -> Any:
        first = self.a(inputs)
        with span("formal"):
            second = self.b(inputs + "!")
        return [first, second]


@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
def test_a_context_variable_block_orders_nothing(scheduler: str) -> None:
    fast = jit(Writer())
    want = Writer()("q")
    assert want == ["plain:q", "formal:q!", "plain:q?"]
    with execution_options(scheduler=scheduler):
        assert fast("q") == want
        assert asyncio.run(fast.acall("q")) == want
    assert "run.barrier()" not in fast.plan.source
    if scheduler == "threads":
        with execution_options(scheduler="threads"):
            start = time.perf_counter()
            assert fast("q") == want
            took = time.perf_counter() - start
        assert took < 2.5 * LATENCY, f"3 x 50 ms calls took {took:.3f} s"


@pytest.mark.parametrize("cls", [CatchingWriter, SpanWriter], ids=["except", "writes"])
def test_other_context_managers_still_wait(cls: type[Writer]) -> None:
    fast = jit(cls())
    SPANS.clear()
    assert fast("q") == cls()("q")
    assert "run.barrier()" in fast.plan.source
    assert "'with' block" in str(explain_jit_selection(fast))


def test_the_guard_checks_the_context_manager_is_the_one_compiled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast = jit(Writer())
    fast("q")
    assert "style is the context manager compiled" in "\n".join(fast.plan.guards)
    monkeypatch.setattr(sys.modules[__name__], "style", style_catching)
    assert fast("q") == Writer()("q")
    assert "run.barrier()" in fast.plan.source  # re-specialized: the new one sees failures
