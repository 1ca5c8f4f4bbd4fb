"""A loop whose body chains two calls per iteration inside a ``try`` (``r = self.search(q)``,
then ``s = self.summarize(r["text"])``): the second call of every iteration starts as soon as
that iteration's first returns (``run.early_after``), before the loop reaches it; failures are
raised where eager raised them, and never a call eager would not make."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from emberjit import Operator, execution_options, explain_jit_selection, jit

LATENCY = 0.05
SCHEDULERS = ["sequential", "threads", "async"]


class Step(Operator[Any, dict[str, str]]):
    """A slow call that counts its calls; raises KeyError on a query holding "bad"."""

    def __init__(self, tag: str, latency: float, pure: bool = True) -> None:
        self.tag, self.latency, self.calls, self.pure = tag, latency, [], pure
        self.lock = threading.Lock()

    def forward(self, query: Any, style: str = "") -> dict[str, str]:
        with self.lock:
            self.calls.append(str(query))
        time.sleep(self.latency)
        if "bad" in str(query):
            raise KeyError(f"{self.tag}: {query}")
        return {"text": f" {self.tag}{style}({query}) "}


class Chain(Operator[dict[str, Any], Any]):
    def __init__(self, latency: float = LATENCY, pure: bool = True) -> None:
        self.search, self.summarize = Step("S", latency), Step("Z", latency, pure)

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            try:
                r = self.search(f"facts about {e['name']}")
                text = r["text"].strip()
                s = self.summarize(text)
                out.append(s["text"])
            except KeyError as exc:
                out.append(f"missing {exc}")
        return out


class Named(Chain):
    """The second call takes named inputs and reads the loop's variable too."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = {}
        for i, e in enumerate(inputs["entities"]):
            try:
                r = self.search(e.get("name", "bad"))
                out[i] = self.summarize(query=r["text"], style=f"#{i}")["text"]
            except KeyError:
                out[i] = None
        return out


class Three(Chain):
    """A chain of three: the third reads the second's result."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            if not e:
                continue
            a = self.search(e["name"])
            b = self.summarize(a["text"])
            c = self.search(b["text"].strip())
            if c["text"]:
                out.append(c["text"])
        return out


class GlueFails(Chain):
    """The glue between the calls raises for some iterations (inside the try)."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            try:
                r = self.search(e.get("name", "?"))
                first = r["text"].split("(")[1][0]  # IndexError-free; KeyError below
                picked = {"e": "x"}[first] if first == "e" else first
                out.append(self.summarize(picked)["text"])
            except KeyError:
                out.append("no pick")
        return out


ENTITIES = [{"name": f"e{i}"} for i in range(6)]
MIXED = [{"name": "a"}, {}, {"name": "bad b"}, {"name": "c"}, {"name": "bad"}]


def _run(op: Any, entities: list[dict[str, Any]]) -> Any:
    try:
        return op({"entities": entities})
    except Exception as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("cls", [Chain, Named, Three, GlueFails])
@pytest.mark.parametrize("pure", [True, False], ids=["pure", "impure"])
@pytest.mark.parametrize("entities", [ENTITIES, MIXED, []], ids=["names", "mixed", "none"])
def test_equal_to_eager_with_the_same_calls(cls: type[Chain], pure: bool, scheduler: str,
                                            entities: list[dict[str, Any]]) -> None:
    eager, fast = cls(0.0, pure), jit(cls(0.0, pure))
    want = _run(eager, entities)
    with execution_options(scheduler=scheduler):
        assert _run(fast, entities) == want
    if not isinstance(want, tuple):  # (after an uncaught failure, later calls may have run)
        assert fast.search.calls == eager.search.calls or sorted(fast.search.calls) == sorted(
            eager.search.calls)
        assert sorted(fast.summarize.calls) == sorted(eager.summarize.calls)
        if not pure:  # an impure operator's calls keep program order
            assert fast.summarize.calls == eager.summarize.calls
        assert asyncio.run(fast.acall({"entities": entities})) == want


@pytest.mark.parametrize("cls", [Chain, Named, Three])
def test_every_iterations_second_call_starts_when_its_first_returns(cls: type[Chain]) -> None:
    fast = jit(cls())
    x = {"entities": ENTITIES}
    fast(x)
    start = time.perf_counter()
    fast(x)
    took = time.perf_counter() - start
    depth = 3 if cls is Three else 2  # six iterations: eagerly 12 or 18 calls in a row
    assert took < (depth + 2) * LATENCY, f"{took:.3f} s"
    assert "run.early_after(" in fast.plan.source
    assert any("starts when its call on line" in s for s in explain_jit_selection(fast).sites)
