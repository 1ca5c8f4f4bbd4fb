"""``OpenAIModel.sample(prompt, k)`` (issue 18, part 1, the model's half): one request for k
choices (the chat API's ``n``) where the endpoint honours it; where it ignores ``n`` (returns
fewer) or rejects it (HTTP 400), the rest as separate requests made at once, no answer lost, and
remembered so the next sample does not ask again. Against the local OpenAI-compatible server in
its three variants; nothing leaves the machine."""

from __future__ import annotations

import time

import pytest

from emberjit.models import OpenAIModel
from tests._fake_openai import FakeOpenAI

LATENCY = 0.1
PROMPT = "What is a plan?"


def _model(server: FakeOpenAI) -> OpenAIModel:
    return OpenAIModel("fake-model", base_url=server.base_url, api_key="test-key",
                       max_retries=0)


def test_an_endpoint_that_honours_n_gets_one_request_for_k_draws() -> None:
    with FakeOpenAI(latency=LATENCY, n="honour") as server:
        model = _model(server)
        start = time.perf_counter()
        texts = model.sample(PROMPT, 5, temperature=0.9)
        seconds = time.perf_counter() - start
    assert len(texts) == 5 and all(isinstance(t, str) and t for t in texts)
    assert server.requests == 1 and server.bodies[0]["n"] == 5
    assert model.n_supported is True and model.requests_saved == 4
    assert seconds < 3 * LATENCY  # one request's time, not five


@pytest.mark.parametrize(("variant", "first_round"), [("ignore", 1 + 4), ("reject", 1 + 5)])
def test_an_endpoint_that_does_not_honour_n_loses_no_answer_and_is_remembered(
        variant: str, first_round: int) -> None:
    with FakeOpenAI(latency=LATENCY, n=variant) as server:
        model = _model(server)
        start = time.perf_counter()
        texts = model.sample(PROMPT, 5, temperature=0.9)
        seconds = time.perf_counter() - start
        assert len(texts) == 5 and all(texts)
        assert server.requests == first_round  # the n request, then the rest as requests
        assert model.n_supported is False and model.requests_saved == 0
        assert seconds < 4 * LATENCY  # the rest at once: two rounds, not six
        again = model.sample(PROMPT, 3, temperature=0.9)
        assert len(again) == 3 and server.requests == first_round + 3
        assert all("n" not in body for body in server.bodies[first_round:])  # never asks again


def test_one_sample_is_one_plain_call_and_k_must_be_positive() -> None:
    with FakeOpenAI(n="honour") as server:
        model = _model(server)
        assert model.sample(PROMPT, 1) == [model(PROMPT)]
        assert all("n" not in body for body in server.bodies)
        with pytest.raises(ValueError, match="k >= 1"):
            model.sample(PROMPT, 0)
