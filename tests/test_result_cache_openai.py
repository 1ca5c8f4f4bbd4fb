"""Identical calls in flight reach the model once (issue 16), counted at a real OpenAI-compatible
HTTP server on 127.0.0.1 (tests/_fake_openai.py): eight identical concurrent calls of a jitted
operator calling an ``OpenAIModel`` at temperature 0 make one request under
``execution_options(cache=True)``, and every caller gets an equal answer of its own; without the
cache they make eight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from emberjit import Operator, execution_options, get_jit_stats, jit
from emberjit.models import OpenAIModel, SimulatedModel
from tests._fake_openai import FakeOpenAI
from tests.test_result_cache import _at_once

N = 8
Q = {"query": "What is an in-flight merge?"}
ANSWER = SimulatedModel(latency=0).respond(Q["query"])


class Ask(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: OpenAIModel) -> None:
        self.model = model

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"text": self.model(inputs["query"], temperature=0, max_tokens=32)}


class AskAsync(Ask):
    async def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        return {"text": await self.model.acall(inputs["query"], temperature=0, max_tokens=32)}


class Panel(Operator[dict[str, Any], dict[str, Any]]):
    """Eight identical members asked the same question: a fan-out of identical calls."""

    def __init__(self, model: OpenAIModel) -> None:
        self.members = [Ask(model) for _ in range(N)]

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"answers": [member(inputs) for member in self.members]}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(latency=0.3) as fake:
        yield fake


def _model(server: FakeOpenAI) -> OpenAIModel:
    return OpenAIModel("fake-model", base_url=server.base_url, api_key="test-key")


def _own_copies(results: list[dict[str, Any]]) -> None:
    """Equal answers, each caller's its own: changing one changes no other."""
    assert all(r == {"text": ANSWER} for r in results)
    assert len({id(r) for r in results}) == len(results)
    results[0]["text"] = "changed"
    assert all(r["text"] == ANSWER for r in results[1:])


def test_a_fan_out_of_identical_calls_makes_one_request(server: FakeOpenAI) -> None:
    panel = jit(Panel(_model(server)))
    with execution_options(cache=True, scheduler="threads"):
        result = panel(Q)
    assert server.requests == 1
    _own_copies(result["answers"])


def test_eight_threads_calling_a_jitted_operator_make_one_request(server: FakeOpenAI) -> None:
    ask = jit(Ask(_model(server)))
    with execution_options(cache=True):
        results = _at_once(N, lambda: ask(Q))
    assert server.requests == 1 and server.max_in_flight == 1
    assert get_jit_stats(ask).result_merged == N - 1
    _own_copies(results)


def test_eight_awaited_calls_make_one_request(server: FakeOpenAI) -> None:
    ask = jit(AskAsync(_model(server)))

    async def main() -> list[Any]:
        with execution_options(cache=True):
            return list(await asyncio.gather(*(ask.acall(Q) for _ in range(N))))

    results = asyncio.run(main())
    assert server.requests == 1
    _own_copies(results)


def test_without_the_cache_every_call_is_a_request(server: FakeOpenAI) -> None:
    panel = jit(Panel(_model(server)))
    ask = jit(Ask(_model(server)))
    with execution_options(scheduler="threads"):
        result = panel(Q)
        results = _at_once(N, lambda: ask(Q))
    assert server.requests == 2 * N
    assert result["answers"] == [{"text": ANSWER}] * N and results == [{"text": ANSWER}] * N
