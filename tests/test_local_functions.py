"""Functions defined inside ``forward`` with a few assignments before their ``return``: folded
into one expression and inlined where ``forward`` calls them, so their calls are call sites;
left as written when folding would evaluate something twice, drop it, or reorder calls."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from emberjit import Operator, execution_options, jit

LATENCY = 0.05


class Ask(Operator[dict[str, Any], dict[str, str]]):
    def __init__(self, latency: float) -> None:
        self.latency = latency

    def forward(self, inputs: dict[str, Any]) -> dict[str, str]:
        time.sleep(self.latency)
        return {"text": f" answer to {inputs['query']} ", "meta": "m"}


class Log(Operator[Any, str]):
    """Impure: its calls keep program order (and the order is observable)."""

    pure = False

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.lock = threading.Lock()

    def forward(self, inputs: Any) -> str:
        with self.lock:
            self.seen.append(inputs)
        return f"logged {inputs}"


class Views(Operator[dict[str, Any], Any]):
    def __init__(self, latency: float = LATENCY) -> None:
        self.llm, self.log = Ask(latency), Log()

    def forward(self, inputs: dict[str, Any]) -> Any:
        topic = inputs["query"]

        def ask(angle):  # type: ignore[no-untyped-def]
            """Ask about one angle of the topic."""
            prompt = f"{topic}: {angle}"
            reply = self.llm({"query": prompt})
            return reply["text"].strip()

        views = [ask(a) for a in ("why", "how", "when", "who")]
        return self.llm({"query": " / ".join(views)})["text"]


class Twice(Views):
    """``reply`` is read twice: folding would make the call twice."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        def ask(angle):  # type: ignore[no-untyped-def]
            reply = self.llm({"query": angle})
            return reply["text"] + reply["meta"]

        return [ask(a) for a in ("why", "how")]


class Reordered(Views):
    """Folding ``b + a`` would call the model before the log: the log's order is kept."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        def step(q):  # type: ignore[no-untyped-def]
            a = self.log(q)
            b = self.llm({"query": q})["text"]
            return b + a

        return [step(q) for q in ("x", "y")], self.log.seen[-2:]


class Ordered(Views):
    """The log is made first and used first: folded, and still in order."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        def step(q):  # type: ignore[no-untyped-def]
            noted = self.log(q)
            return self.llm({"query": noted})["text"]

        return [step(q) for q in ("x", "y", "z")]


@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
@pytest.mark.parametrize("cls", [Views, Twice, Reordered, Ordered])
def test_equal_to_eager(cls: type[Views], scheduler: str) -> None:
    eager, fast = cls(0.0), jit(cls(0.0))
    x = {"query": "tides"}
    with execution_options(scheduler=scheduler):
        assert fast(x) == eager(x)
    assert fast.log.seen == eager.log.seen


def test_a_local_function_of_a_few_statements_is_inlined_and_its_calls_overlap() -> None:
    fast = jit(Views())
    x = {"query": "tides"}
    fast(x)
    start = time.perf_counter()
    assert fast(x) == Views(0.0)(x)
    took = time.perf_counter() - start
    # four views at once, then the summary: two calls deep (eagerly five, 250 ms)
    assert took < 4 * LATENCY, f"{took:.3f} s"
    assert "def ask(angle):" in fast.plan.source  # the def stays, as written
    assert 'run.submit(self.llm, {"query": (f"{topic}: {a}")})' in fast.plan.source


@pytest.mark.parametrize("cls", [Twice, Reordered])
def test_left_as_written_when_folding_would_change_what_runs(cls: type[Views]) -> None:
    fast = jit(cls(0.0), mode="structural")
    fast({"query": "tides"})
    assert "run.submit(self.llm" not in fast.plan.source


def test_folded_when_the_calls_keep_their_order() -> None:
    fast = jit(Ordered(0.0), mode="structural")
    fast({"query": "tides"})
    assert "self.log" in fast.plan.source and "run.submit(self.llm" in fast.plan.source
