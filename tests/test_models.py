"""Tests of emberjit/models.py: SimulatedModel determinism, sampling, latency, threads, async."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest

from emberjit.models import Model, SimulatedModel
from emberjit.ops import Ensemble, MostCommon

QUERY = "What is machine learning?"
CANONICAL = "Answer-72a2dfcf: on 'What is machine learning?'"


def test_canonical_answer_is_stable_and_readable() -> None:
    model = SimulatedModel(latency=0)
    assert model(QUERY) == CANONICAL
    assert model(QUERY, temperature=0) == CANONICAL
    assert model.canonical(QUERY) == CANONICAL
    assert model("Tell me a story") == "Answer-7230b2e1: on 'Tell me a story'"
    assert model("x" * 80) == "Answer-3f699851: on '" + "x" * 37 + "...'"


def test_same_answer_in_another_process_whatever_the_hash_seed() -> None:
    code = ("from emberjit.models import SimulatedModel as M; "
            "print(M(latency=0)(%r, temperature=0.9))")
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", code % QUERY], env=env, check=True,
                              capture_output=True, text=True, timeout=60)
        outputs.add(done.stdout.strip())
    assert outputs == {SimulatedModel(latency=0)(QUERY, temperature=0.9)}


def test_deterministic_for_same_prompt_params_seed() -> None:
    a, b = SimulatedModel(latency=0, seed=7), SimulatedModel(latency=0, seed=7)
    for i in range(20):
        prompt = f"Question number {i}?"
        for params in ({}, {"temperature": 0.7}, {"temperature": 1.0, "top_p": 0.9}):
            assert a(prompt, **params) == b(prompt, **params) == a(prompt, **params)
    # keyword order does not matter
    assert a(QUERY, temperature=0.8, top_p=0.5) == a(QUERY, top_p=0.5, temperature=0.8)


def test_different_seeds_and_prompts_differ() -> None:
    zero, one = SimulatedModel(latency=0, seed=0), SimulatedModel(latency=0, seed=1)
    assert one(QUERY) == "Answer-6790b5d9: on 'What is machine learning?'" != zero(QUERY)
    prompts = [f"Prompt {i}" for i in range(20)]
    assert sum(zero(p) != one(p) for p in prompts) == 20
    assert len({zero(p) for p in prompts}) == 20


def test_temperature_varies_samples() -> None:
    model = SimulatedModel(latency=0)
    samples = [model(QUERY, temperature=(i + 1) / 10) for i in range(10)]
    assert samples.count(CANONICAL) == 7
    assert set(samples) - {CANONICAL} <= set(model.alternatives(QUERY))
    assert len(set(samples)) == 3
    assert len(model.alternatives(QUERY)) == 3 and CANONICAL not in model.alternatives(QUERY)


@pytest.mark.parametrize("n", [10, 12, 15])
def test_ensemble_majority_is_canonical(n: int) -> None:
    model = SimulatedModel(latency=0)
    ensemble, vote = Ensemble.of(model, n), MostCommon()
    drifted = 0
    for i in range(30):
        prompt = f"Why is the sky blue, take {i}?"
        answers = ensemble({"query": prompt})["answers"]
        result = vote({"answers": answers})
        assert result["answer"] == model.canonical(prompt)
        assert n / 2 < result["votes"] < n
        drifted += n - result["votes"]
    assert 0.15 * 30 * n < drifted < 0.35 * 30 * n  # expected: mean of 0.5 * t, about 0.27


def test_fixed_answers() -> None:
    model = SimulatedModel(latency=0, answers=["red", "green", "blue"])
    samples = [model("Favourite colour?", temperature=(i + 1) / 10) for i in range(10)]
    assert model("Favourite colour?") == "green"
    assert samples == ["green", "green", "red", "green", "green", "green", "green",
                       "blue", "blue", "blue"]
    assert model.alternatives("Favourite colour?") == ["red", "blue"]
    assert SimulatedModel(latency=0, answers=["only"])("anything", temperature=1.0) == "only"


def test_validation() -> None:
    with pytest.raises(ValueError, match="latency must be a number >= 0"):
        SimulatedModel(latency=-0.1)
    with pytest.raises(ValueError, match="answers must be non-empty"):
        SimulatedModel(answers=[])
    with pytest.raises(ValueError, match="temperature must be a number >= 0, got -1"):
        SimulatedModel(latency=0)(QUERY, temperature=-1)


def test_latency_is_honoured() -> None:
    model = SimulatedModel(latency=0.05)
    start = time.perf_counter()
    model(QUERY)
    assert time.perf_counter() - start >= 0.05


def test_call_counter_is_thread_safe() -> None:
    model = SimulatedModel(latency=0)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=lambda: [model(QUERY) for _ in range(200)])
                   for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(old)
    assert model.calls == 20 * 200


def test_threads_overlap_latency() -> None:
    model = SimulatedModel(latency=0.05)
    threads = [threading.Thread(target=model, args=(QUERY,)) for _ in range(10)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - start < 0.4  # sleeping releases the GIL
    assert model.calls == 10


def test_fail_on() -> None:
    model = SimulatedModel(latency=0, name="flaky", fail_on=lambda p: "bad" in p)
    assert model("good prompt") == model.canonical("good prompt")
    with pytest.raises(RuntimeError) as info:
        model("a bad prompt")
    assert str(info.value) == "flaky model failed on prompt 'a bad prompt'"
    with pytest.raises(RuntimeError, match="flaky model failed"):
        asyncio.run(model.acall("bad"))
    assert model.calls == 3


def test_acall_matches_call_and_runs_concurrently() -> None:
    model = SimulatedModel(latency=0.05)

    async def many() -> list[str]:
        return list(await asyncio.gather(
            *(model.acall(QUERY, temperature=(i + 1) / 10) for i in range(10))))

    start = time.perf_counter()
    replies = asyncio.run(many())
    elapsed = time.perf_counter() - start
    assert 0.05 <= elapsed < 0.4
    assert replies == [SimulatedModel(latency=0)(QUERY, temperature=(i + 1) / 10)
                       for i in range(10)]
    assert model.calls == 10


def test_protocol_and_repr() -> None:
    model = SimulatedModel(latency=0.05, seed=3, name="sim")
    assert isinstance(model, Model)
    assert repr(model) == "SimulatedModel(name='sim', latency=0.05, seed=3)"
    assert model.respond(QUERY) == model.canonical(QUERY)
    assert model.respond(QUERY, temperature=0.4) == model(QUERY, temperature=0.4)
    assert model.calls == 1  # respond() neither sleeps nor counts; the call does
