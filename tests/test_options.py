"""Tests of emberjit/options.py: execution_options nesting, context propagation, validation."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading

import pytest

from emberjit.errors import InvalidOptionError
from emberjit.options import SCHEDULERS, ExecutionOptions, current, execution_options


def test_defaults() -> None:
    assert current() == ExecutionOptions(scheduler="auto", max_workers=None, timeout=None,
                                         max_concurrency=None, retries=0, client=None)


def test_nesting_and_restore() -> None:
    with execution_options(scheduler="threads", max_workers=8) as outer:
        assert outer is current()
        assert (current().scheduler, current().max_workers) == ("threads", 8)
        with execution_options(timeout=2.5):
            assert (current().scheduler, current().max_workers, current().timeout) == (
                "threads", 8, 2.5)
            with execution_options(scheduler="sequential"):
                assert current().scheduler == "sequential"
                assert current().max_workers == 8
            assert current().scheduler == "threads"
        assert current().timeout is None
        assert current() == outer
    assert current() == ExecutionOptions()


def test_restored_after_exception() -> None:
    with pytest.raises(RuntimeError), execution_options(scheduler="async"):
        raise RuntimeError("boom")
    assert current().scheduler == "auto"


def test_reaches_thread_with_copied_context() -> None:
    seen: dict[str, object] = {}

    def worker(key: str) -> None:
        seen[key] = current().scheduler, current().max_workers

    with execution_options(scheduler="threads", max_workers=3):
        ctx = contextvars.copy_context()
        copied = threading.Thread(target=ctx.run, args=(worker, "copied"))
        plain = threading.Thread(target=worker, args=("plain",))
        copied.start()
        plain.start()
        copied.join()
        plain.join()
    assert seen["copied"] == ("threads", 3)
    assert seen["plain"] == ("auto", None)  # a bare thread starts from the default context


def test_isolated_between_asyncio_tasks() -> None:
    async def task(name: str) -> str:
        with execution_options(scheduler=name):
            await asyncio.sleep(0.01)
            return current().scheduler

    async def main() -> list[str]:
        return list(await asyncio.gather(task("sequential"), task("async")))

    assert asyncio.run(main()) == ["sequential", "async"]


def test_parallel_alias() -> None:
    with execution_options(scheduler="parallel") as opts:
        assert opts.scheduler == "threads"
        assert current().scheduler == "threads"


def test_unknown_key_lists_valid_names() -> None:
    with pytest.raises(ValueError) as info, execution_options(schedular="threads"):
        pass
    assert isinstance(info.value, InvalidOptionError)
    assert str(info.value) == (
        "invalid execution option 'schedular'; valid: scheduler, max_workers, timeout, "
        "max_concurrency, retries, client, cache"
    )


def test_unknown_scheduler_lists_valid_names() -> None:
    with pytest.raises(ValueError) as info, execution_options(scheduler="gpu"):
        pass
    assert str(info.value) == f"invalid scheduler 'gpu'; valid: {', '.join(SCHEDULERS)}"
    assert "sequential" in str(info.value) and "dask" in str(info.value)


@pytest.mark.parametrize("key, value, valid", [
    ("max_workers", 0, "a positive int, None"),
    ("max_workers", True, "a positive int, None"),
    ("max_concurrency", -1, "a positive int, None"),
    ("timeout", -1.0, "a positive number of seconds, None"),
    ("timeout", 0, "a positive number of seconds, None"),
    ("retries", -1, "an int >= 0"),
])
def test_bad_values_list_valid_ones(key: str, value: object, valid: str) -> None:
    with pytest.raises(ValueError) as info, execution_options(**{key: value}):
        pass
    assert str(info.value) == f"invalid {key} {value!r}; valid: {valid}"
    assert current() == ExecutionOptions()


def test_current_is_frozen() -> None:
    opts = current()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.scheduler = "threads"  # type: ignore[misc]
    assert current().scheduler == "auto"
