"""The result cache in the call path (issue 16): what is served, what is never served, merging of
identical calls in flight, and what explain, stats and profiles say about it. (Keys under edits:
tests/test_cache_keys.py; the file itself: tests/test_result_store.py.)"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from emberjit import (
    Operator,
    ResultCache,
    execution_options,
    explain_jit_selection,
    get_jit_stats,
    jit,
    profile,
)
from emberjit.cache.calls import skipped
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall, QuestionRefinement


class QA(Operator[dict[str, Any], dict[str, Any]]):
    """Refine, answer, check: three model calls at temperature 0, one after another."""

    def __init__(self, model: SimulatedModel) -> None:
        self.refine = QuestionRefinement(model)
        self.answer = ModelCall(model, "Answer: {query}")
        self.check = ModelCall(model, "Check: {text}")

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.check(self.answer(self.refine(inputs)))


class Sampled(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: SimulatedModel, **params: Any) -> None:
        self.ask = ModelCall(model, **params)

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.ask(inputs)


class Logged(Operator[dict[str, Any], dict[str, Any]]):
    pure = False

    def __init__(self, model: SimulatedModel, log: list[str]) -> None:
        self.ask = ModelCall(model)
        self.log = log

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.log.append(inputs["query"])
        return self.ask(inputs)


Q = {"query": "What is machine learning?"}


def test_a_second_run_is_served_from_the_file_with_the_same_answer(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0.02)
    qa = jit(QA(model))
    path = tmp_path / "results.db"
    with execution_options(cache=path):
        first = qa(Q)
        assert model.calls == 3
        start = time.perf_counter()
        again = qa(Q)
        assert time.perf_counter() - start < 0.02  # 3 x 20 ms when it runs
    assert again == first and again is not first and model.calls == 3
    assert get_jit_stats(qa).result_hits == 1
    # another process's view: a new ResultCache on the same file finds the entries
    assert ResultCache(path).stats().entries == 4  # QA's call and its three calls


def test_sub_calls_are_served_when_the_outer_call_changed(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0)
    with execution_options(cache=tmp_path / "r.db"):
        QA(model)(Q)
        assert model.calls == 3
        qa = QA(model)
        qa.check = ModelCall(model, "Verify: {text}")  # a new last step: the outer key misses
        qa(Q)
    assert model.calls == 4  # refine and answer were served; only the new check ran


def test_sampled_calls_are_never_served(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0)
    op = Sampled(model, temperature=0.7)  # sampled, with no seed
    with execution_options(cache=tmp_path / "r.db"):
        op(Q)
        op(Q)
    assert model.calls == 2
    assert any(name == "Sampled" and "temperature 0.7" in why for name, why in skipped())


def test_an_impure_operator_always_runs_though_its_pure_calls_are_served(tmp_path: Path) -> None:
    model, log = SimulatedModel(latency=0), []
    op = Logged(model, log)
    with execution_options(cache=tmp_path / "r.db"):
        op(Q)
        op(Q)
    assert log == [Q["query"]] * 2  # its effect happened each time
    assert model.calls == 1  # its model call (pure, at temperature 0) was served the second time


def test_a_seeded_sample_is_served(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0)
    op = Sampled(model, temperature=0.7, seed=3)
    with execution_options(cache=tmp_path / "r.db"):
        assert op(Q) == op(Q)
    assert model.calls == 1


def test_preserve_stochasticity_serves_nothing(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0)
    qa = jit(QA(model), preserve_stochasticity=True)
    with execution_options(cache=tmp_path / "r.db"):
        qa(Q)
        qa(Q)
    assert model.calls == 6


def test_cache_false_turns_off_the_environments_cache(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBERJIT_CACHE", str(tmp_path / "env.db"))
    model = SimulatedModel(latency=0)
    qa = QA(model)
    qa(Q)
    qa(Q)
    assert model.calls == 3  # EMBERJIT_CACHE: the second call was served
    with execution_options(cache=False):
        qa(Q)
    assert model.calls == 6


def _at_once(n: int, fn: Any) -> list[Any]:
    """``fn()`` on ``n`` threads started together (each in a copy of this context)."""
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(one, i))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_identical_calls_in_flight_run_once_and_each_gets_its_own_copy() -> None:
    model = SimulatedModel(latency=0.1)
    ask = ModelCall(model)
    with execution_options(cache=True):  # merging only: nothing stored
        results = _at_once(8, lambda: ask(Q))
    assert model.calls == 1
    assert all(r == results[0] for r in results) and len({id(r) for r in results}) == 8
    results[0]["text"] = "changed"
    assert results[1]["text"] != "changed"
    ask(Q)
    assert model.calls == 2  # nothing was stored


def test_identical_awaited_calls_in_flight_run_once() -> None:
    model = SimulatedModel(latency=0.05)
    ask = ModelCall(model)

    async def main() -> list[Any]:
        with execution_options(cache=True):
            return await asyncio.gather(*(ask.acall(Q) for _ in range(6)))

    results = asyncio.run(main())
    assert model.calls == 1 and len({id(r) for r in results}) == 6


def test_a_failure_in_flight_reaches_every_caller_and_is_not_stored(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0.05, fail_on=lambda prompt: "boom" in prompt)
    ask = ModelCall(model)
    with execution_options(cache=tmp_path / "r.db"):
        results = _at_once(4, lambda: _outcome(lambda: ask({"query": "boom"})))
    assert all(isinstance(r, RuntimeError) for r in results)
    assert ResultCache(tmp_path / "r.db").stats().entries == 0


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:
        return exc


def test_explain_says_which_calls_are_cacheable_and_why_not() -> None:
    class Mixed(Operator[dict[str, Any], dict[str, Any]]):
        def __init__(self, model: SimulatedModel) -> None:
            self.plain = ModelCall(model)
            self.hot = ModelCall(model, temperature=0.9)
            self.logged = Logged(model, [])

        def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {"a": self.plain(inputs), "b": self.hot(inputs), "c": self.logged(inputs)}

    lines = explain_jit_selection(jit(Mixed(SimulatedModel(latency=0)))).result_cache
    by_name = {line.split(":")[0].rsplit(".", 1)[-1] if "itself" in line else
               line.split(":")[0]: line for line in lines}
    assert by_name["self.plain (ModelCall)"].endswith(": cacheable")
    assert "temperature 0.9 with no seed" in by_name["self.hot (ModelCall)"]
    assert "impure" in by_name["self.logged (Logged)"]
    assert "not cached" in by_name["Mixed itself"]


def test_a_profile_marks_the_calls_the_cache_served(tmp_path: Path) -> None:
    model = SimulatedModel(latency=0)
    base = QA(model)
    qa = jit(base)
    with execution_options(cache=tmp_path / "r.db"):
        qa(Q)
        base.check = ModelCall(model, "Verify: {text}")  # the outer call's key changes
        with profile() as prof:
            qa(Q)
    events = {e["name"]: e for e in prof.trace()["traceEvents"] if e["ph"] == "X"}
    assert events["QA.refine (QuestionRefinement)"]["args"]["cache"] == "hit"
    assert "cache" not in events["QA.check (ModelCall)"]["args"]  # it ran


def test_a_bad_cache_option_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid cache 3"), execution_options(cache=3):
        pass
