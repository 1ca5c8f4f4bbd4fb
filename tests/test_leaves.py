"""Leaves that are not operators (emberjit.leaves): models held directly, objects and functions
marked with ``emberjit.leaf``, and the official ``openai`` client are concurrent call sites.

Each plan equals eager; timing bounds are orders of magnitude only (5 x 50 ms under 200 ms).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from _fake_openai import FakeOpenAI

import emberjit
from emberjit import EmberJitError, Operator, execution_options, explain_jit_selection, jit
from emberjit.compiler import compile_structural
from emberjit.leaves import LeafCall, is_leaf
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall

LATENCY = 0.05


class Sampler(Operator[dict[str, Any], list[str]]):
    """A model held directly, called with keywords in a comprehension."""

    def __init__(self, model: SimulatedModel) -> None:
        self.llm = model

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        return [self.llm(inputs["query"], temperature=0.2 * i).strip() for i in range(5)]


@emberjit.leaf
class Searcher:
    def __init__(self, model: SimulatedModel, kind: str) -> None:
        self.model, self.kind = model, kind

    def search(self, text: str, top_k: int = 2) -> str:
        return self.model(f"{self.kind} top {top_k}: {text}")


class Unmarked:
    def __init__(self, model: SimulatedModel) -> None:
        self.model = model

    def search(self, text: str) -> str:
        return self.model(f"unmarked: {text}")


@emberjit.leaf
def lookup(text: str) -> str:
    time.sleep(LATENCY)
    return text.upper()


class Searches(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel, searcher_cls: type = Searcher) -> None:
        self.engines = [searcher_cls(model, k) if searcher_cls is Searcher else searcher_cls(model)
                        for k in ("vector", "keyword", "web")]
        self.main = searcher_cls(model, "main") if searcher_cls is Searcher else None

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        found = [e.search(inputs["query"]) for e in self.engines]
        found.append(lookup(inputs["query"]))
        return found


def _timed(fn: Any, x: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(x)
    return value, time.perf_counter() - start


def test_a_model_held_directly_is_a_call_site() -> None:
    op = Sampler(SimulatedModel(latency=LATENCY))
    fast = jit(Sampler(SimulatedModel(latency=LATENCY)))
    x = {"query": "Why is the sky blue?"}
    assert fast(x) == op(x)
    value, took = _timed(fast, x)
    assert value == op(x) and took < 0.2, f"5 x 50 ms samples took {took:.3f} s"
    assert "run.leaf(self.llm)" in fast.plan.source
    assert "self.llm is a leaf" in "\n".join(fast.plan.guards)


def test_marked_objects_and_functions_are_call_sites() -> None:
    model = SimulatedModel(latency=LATENCY)
    fast, op = jit(Searches(model)), Searches(model)
    x = {"query": "tides"}
    assert fast(x) == op(x)
    value, took = _timed(fast, x)
    assert value == op(x) and took < 0.15, f"4 x 50 ms searches took {took:.3f} s"
    source = fast.plan.source
    assert "run.leaf(e.search)" in source and "run.leaf(lookup)" in source


def test_unmarked_plain_objects_stay_in_program_order() -> None:
    """A plain object's method may act on anything: without the mark it runs as eager does."""
    model = SimulatedModel(latency=0.01)
    fast = jit(Searches(model, Unmarked))
    x = {"query": "tides"}
    assert fast(x) == Searches(model, Unmarked)(x)
    assert fast.plan is None or "run.leaf(e.search)" not in fast.plan.source


def test_replacing_a_leaf_re_specializes() -> None:
    op = Sampler(SimulatedModel(latency=0))
    fast = jit(op)
    fast({"query": "a"})
    op.llm = lambda prompt, temperature=0.0: f"plain {prompt} {temperature}"  # type: ignore
    assert fast({"query": "b"})[0] == "plain b 0.0"


def test_leaf_marks_instances_and_refuses_what_takes_no_attributes() -> None:
    class Plain:
        def ask(self, q: str) -> str:
            return q

    one = emberjit.leaf(Plain())
    assert is_leaf(one) and not is_leaf(Plain())
    with pytest.raises(EmberJitError, match=r"cannot mark int .* Mark its class"):
        emberjit.leaf(3)


def test_leaf_call_spreads_named_inputs_and_names_itself() -> None:
    call = LeafCall(Searcher(SimulatedModel(latency=0), "vector").search)
    assert call(emberjit.operator.CallArgs(("q",), {"top_k": 1})) == \
        SimulatedModel(latency=0)("vector top 1: q")
    assert emberjit.errors.operator_name(call) == "Searcher.search"  # how errors name it


def test_async_scheduler_awaits_the_models_own_acall() -> None:
    """SimulatedModel.acall sleeps with asyncio: 5 samples overlap on the loop."""
    model = SimulatedModel(latency=LATENCY)
    fast = jit(Sampler(model))
    x = {"query": "Why?"}
    want = Sampler(model)(x)

    async def run() -> tuple[list[str], float]:
        await fast.acall(x)
        start = time.perf_counter()
        value = await fast.acall(x)
        return value, time.perf_counter() - start

    with execution_options(scheduler="async"):
        value, took = asyncio.run(run())
    assert value == want and took < 0.2, took


class OpenAIClientRAG(Operator[dict[str, Any], list[str]]):
    """The official client as people hold it: ``self.client.chat.completions.create``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def ask(self, question: str) -> str:
        response = self.client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": question}])
        return response.choices[0].message.content.strip()

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        return [self.ask(f"{inputs['query']} ({k})") for k in ("short", "long", "plain")]


def test_the_official_openai_client_is_a_leaf() -> None:
    openai = pytest.importorskip("openai")
    with FakeOpenAI(latency=LATENCY) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
        assert is_leaf(client)
        op = OpenAIClientRAG(client)
        fast = jit(OpenAIClientRAG(client))
        x = {"query": "Why is the sea salty?"}
        assert fast(x) == op(x)
        value, took = _timed(fast, x)
        assert value == op(x) and took < 0.15 + 0.1, f"3 x 50 ms requests took {took:.3f} s"
        assert "run.leaf(self.client.chat.completions.create)" in str(
            compile_structural(op)[0].source)


def test_a_model_call_operator_stays_a_leaf() -> None:
    """One model request in forward is not worth a plan: ModelCall runs eagerly."""
    report = str(explain_jit_selection(jit(ModelCall(SimulatedModel(latency=0)))))
    assert "a leaf" in report


class HoldsUnmarked(Operator[dict[str, Any], Any]):
    def __init__(self, model: SimulatedModel) -> None:
        self.engine = Unmarked(model)

    def forward(self, inputs: dict[str, Any]) -> Any:
        return [self.engine.search(inputs["query"]), self.engine.search("again")]


def test_explain_says_how_to_mark_a_plain_object_as_a_leaf() -> None:
    fast = jit(HoldsUnmarked(SimulatedModel(latency=0)), mode="structural")
    fast({"query": "q"})
    assert "self.engine.search(), a method of an object self holds" in str(
        explain_jit_selection(fast))
    assert "mark its class with @emberjit.leaf" in str(explain_jit_selection(fast))
