"""OpenAIModel against a real OpenAI-compatible HTTP server on 127.0.0.1 (tests/_fake_openai.py)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from emberjit import execution_options, jit
from emberjit.models import OpenAIModel, SimulatedModel
from emberjit.openai_model import (
    ModelAuthenticationError,
    ModelConnectionError,
    ModelEndpointError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from emberjit.ops import Ensemble
from tests._fake_openai import FakeOpenAI

LATENCY = 0.2


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(latency=LATENCY) as fake:
        yield fake


def _model(server: FakeOpenAI, **kwargs: object) -> OpenAIModel:
    return OpenAIModel("fake-model", base_url=server.base_url, api_key="test-key",
                       **kwargs)  # type: ignore[arg-type]


def test_import_emberjit_does_not_import_openai() -> None:
    import subprocess

    code = "import emberjit, emberjit.models, sys; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reply_matches_simulated_model_and_request_is_chat_completion(server: FakeOpenAI) -> None:
    model = _model(server, system="Be brief.")
    reply = model("What is machine learning?", temperature=0.0, max_tokens=20)
    assert reply == SimulatedModel(latency=0).respond("What is machine learning?")
    body = server.bodies[-1]
    assert body["model"] == "fake-model"
    assert body["max_tokens"] == 20
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "What is machine learning?"}]
    assert model.calls == 1 and model.retries == 0
    assert repr(model) == f"OpenAIModel('fake-model', base_url='{server.base_url}')"


def test_ten_threaded_calls_take_about_one_latency(server: FakeOpenAI) -> None:
    model = _model(server)
    model("warm up")  # connection set-up is not what is measured
    prompts = [f"Question {i}?" for i in range(10)]
    start = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(model, prompts))
    elapsed = time.perf_counter() - start
    assert replies == [SimulatedModel(latency=0).respond(p) for p in prompts]
    assert server.max_in_flight == 10
    assert elapsed < 4 * LATENCY, f"10 calls of {LATENCY}s took {elapsed:.2f}s"


def test_jitted_ensemble_runs_members_concurrently(server: FakeOpenAI) -> None:
    model = _model(server)
    ensemble = jit(Ensemble.of(model, 10))
    with execution_options(scheduler="threads"):
        ensemble({"query": "warm up"})  # compiles the plan and opens the connections
    server.max_in_flight = 0
    start = time.perf_counter()
    with execution_options(scheduler="threads"):
        result = ensemble({"query": "What is an ensemble?"})
    elapsed = time.perf_counter() - start
    assert len(result["answers"]) == 10
    assert server.max_in_flight >= 5
    assert elapsed < 4 * LATENCY, f"a 10-member ensemble took {elapsed:.2f}s"


def test_max_concurrency_limits_requests_in_flight(server: FakeOpenAI) -> None:
    model = _model(server, max_concurrency=2)
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(model, [f"q{i}" for i in range(6)]))
    elapsed = time.perf_counter() - start
    assert server.max_in_flight == 2
    assert elapsed >= 3 * LATENCY * 0.9  # 6 calls, 2 at a time


def test_async_calls_are_concurrent_and_limited(server: FakeOpenAI) -> None:
    model = _model(server)

    async def ten() -> list[str]:
        return await asyncio.gather(*(model.acall(f"q{i}?") for i in range(10)))

    start = time.perf_counter()
    replies = asyncio.run(ten())
    assert time.perf_counter() - start < 4 * LATENCY + 0.5  # includes the client's start-up
    assert replies == [SimulatedModel(latency=0).respond(f"q{i}?") for i in range(10)]
    assert server.max_in_flight == 10

    limited = _model(server, max_concurrency=3)

    async def six() -> list[str]:
        return await asyncio.gather(*(limited.acall(f"q{i}") for i in range(6)))

    server.max_in_flight = 0
    asyncio.run(six())
    assert server.max_in_flight == 3


def test_retries_on_429_and_5xx_then_succeeds(server: FakeOpenAI,
                                              caplog: pytest.LogCaptureFixture) -> None:
    model = _model(server, max_retries=3)
    server.fail_next(429, 500, 503)
    with caplog.at_level(logging.INFO, logger="openai"):
        reply = model("What is retrying?")
    assert reply == SimulatedModel(latency=0).respond("What is retrying?")
    assert server.statuses == [429, 500, 503, 200]
    assert model.retries == 3  # counted by the model, from the client's own retries
    assert sum("Retrying request" in r.getMessage() for r in caplog.records) == 3


def test_rate_limit_after_retries_is_a_clear_error(server: FakeOpenAI) -> None:
    model = _model(server, max_retries=1)
    server.fail_next(429, 429)
    with pytest.raises(ModelRateLimitError) as info:
        model("x")
    assert server.statuses == [429, 429]
    message = str(info.value)
    assert server.base_url + "/chat/completions" in message
    assert "after 1 retries" in message and "max_concurrency" in message
    assert info.value.status == 429


def test_server_error_after_retries(server: FakeOpenAI) -> None:
    server.fail_next(500, 500, 500)
    with pytest.raises(ModelEndpointError, match=r"server error HTTP 500 after 2 retries"):
        _model(server)("x")
    assert server.requests == 3


def test_wrong_key_names_endpoint_and_fix(server: FakeOpenAI) -> None:
    model = OpenAIModel("fake-model", base_url=server.base_url, api_key="wrong-key")
    with pytest.raises(ModelAuthenticationError) as info:
        model("x")
    message = str(info.value)
    assert message.startswith(f"{server.base_url}/chat/completions (model 'fake-model'): "
                              "the API key was rejected (HTTP 401")
    assert "OPENAI_API_KEY" in message and "api_key=" in message
    assert isinstance(info.value, PermissionError)
    assert server.requests == 1  # a 401 is not retried


def test_missing_key_for_hosted_openai_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelAuthenticationError, match=r"no API key was given.*OPENAI_API_KEY"):
        OpenAIModel("gpt-4o-mini")


def test_down_server_is_a_connection_error() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAIModel("fake-model", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(ModelConnectionError) as info:
        model("x")
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in message
    assert "cannot connect" in message and "start the server" in message
    assert isinstance(info.value, ConnectionError)


def test_hanging_server_times_out() -> None:
    with FakeOpenAI(hang=True) as server:
        model = _model(server, timeout=0.3, max_retries=1)
        start = time.perf_counter()
        with pytest.raises(ModelTimeoutError) as info:
            model("x")
        elapsed = time.perf_counter() - start
    assert server.requests == 2  # the timeout was retried once
    assert 0.6 <= elapsed < 3.0
    assert "no reply within timeout=0.3 s (after 1 retries)" in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_async_errors_are_translated_too(server: FakeOpenAI) -> None:
    model = OpenAIModel("fake-model", base_url=server.base_url, api_key="wrong-key")
    with pytest.raises(ModelAuthenticationError):
        asyncio.run(model.acall("x"))


@pytest.mark.parametrize("kwargs", [{"max_concurrency": 0}, {"timeout": 0}, {"model": ""}])
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"model": "m", "base_url": "http://127.0.0.1:1/v1"} | kwargs
    with pytest.raises(ValueError):
        OpenAIModel(**args)  # type: ignore[arg-type]


def test_demo_command_on_the_local_endpoint(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from emberjit.cli import main

    server.latency = 0.01
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    assert main(["demo", "--model", "openai:fake-model", "--base-url", server.base_url,
                 "--members", "3", "--no-plan"]) == 0
    out = capsys.readouterr().out
    assert f"model: OpenAIModel('fake-model', base_url='{server.base_url}')" in out
    assert "same answer: yes" in out  # the fake server answers deterministically
    assert server.requests >= 3 * 5  # eager, first jitted and jitted runs: 5 calls each
    assert {b["model"] for b in server.bodies} == {"fake-model"}


def test_demo_command_reports_a_wrong_key(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from emberjit.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    assert main(["demo", "--model", "openai:fake-model", "--base-url", server.base_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"emberjit demo: {server.base_url}/chat/completions (model "
                          "'fake-model'): the API key was rejected (HTTP 401")


@pytest.mark.parametrize("argv", [["demo", "--model", "openai:"], ["demo", "--model", "gpt"]])
def test_demo_command_bad_model_spec(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from emberjit.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "expected 'simulated' or 'openai:NAME'" in capsys.readouterr().err


def test_fake_server_leaves_no_thread_behind() -> None:
    import threading

    before = threading.active_count()
    with FakeOpenAI(latency=0) as server:
        model = _model(server)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(model, ["a", "b", "c", "d"]))
        assert threading.active_count() > before  # keep-alive connections hold threads
    assert threading.active_count() == before
