"""Leaves under ``acall`` (issue 15, item 2): a leaf is an operator whose ``forward`` reaches no
call site, even when it calls helper methods of its own. The async scheduler awaits a leaf's async
form (``async def acall`` or ``async def forward``) when it has one, in every jit mode, and never
runs a sync ``forward`` on the event loop's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from emberjit import Operator, execution_options, explain_jit_selection, jit

LATENCY = 0.05
MODES = ["auto", "structural", "trace", "enhanced"]


class SyncTagged(Operator[str, str]):
    """A leaf with a helper method and no async form."""

    def __init__(self, tag: str, ran: list[tuple[str, int]]) -> None:
        self.tag, self.ran = tag, ran

    def _prompt(self, question: str) -> str:
        return f"[{self.tag}] {question.strip()}"

    def forward(self, question: str) -> str:
        self.ran.append(("sync", threading.get_ident()))
        time.sleep(LATENCY)
        return self._prompt(question)


class Tagged(SyncTagged):
    """A leaf with a helper method and an async form; ``ran`` records (form, thread) per call."""

    async def acall(self, question: str) -> str:
        self.ran.append(("async", threading.get_ident()))
        await asyncio.sleep(LATENCY)
        return self._prompt(question)


class AsyncTagged(Operator[str, str]):
    """A leaf whose ``forward`` is ``async def`` and awaits an async helper of its own."""

    def __init__(self, tag: str, ran: list[tuple[str, int]]) -> None:
        self.tag, self.ran = tag, ran

    async def _fetch(self, question: str) -> str:
        await asyncio.sleep(LATENCY)
        return f"[{self.tag}] {question.strip()}"

    async def forward(self, question: str) -> str:
        self.ran.append(("async", threading.get_ident()))
        return await self._fetch(question)


class Four(Operator[str, list[str]]):
    def __init__(self, leaf: type[Any], ran: list[tuple[str, int]]) -> None:
        self.leaves = [leaf(f"t{i}", ran) for i in range(4)]

    def forward(self, question: str) -> list[str]:
        return [leaf(question) for leaf in self.leaves]


EXPECTED = [f"[t{i}] q" for i in range(4)]


async def _timed_acall(op: Any) -> tuple[list[str], float, int]:
    start = time.perf_counter()
    out = await op.acall(" q ")
    return out, time.perf_counter() - start, threading.get_ident()


def test_a_leaf_with_a_helper_is_a_leaf_not_a_plan() -> None:
    ran: list[tuple[str, int]] = []
    four = jit(Four(Tagged, ran))
    four(" q ")
    explanation = explain_jit_selection(four)
    assert explanation.sub_plans == ()  # the leaves have no plan of their own
    assert explanation.scheduler == "threads" and "1 concurrent" in str(explanation)


@pytest.mark.parametrize("leaf", [Tagged, AsyncTagged])
@pytest.mark.parametrize("mode", MODES)
def test_the_async_form_of_each_leaf_is_awaited_on_the_loop(mode: str, leaf: type[Any]) -> None:
    ran: list[tuple[str, int]] = []
    four = jit(Four(leaf, ran), mode=mode)
    for _ in range(3):  # trace and enhanced mode learn from their first calls
        assert asyncio.run(four.acall(" q ")) == EXPECTED
    for scheduler in (None, "async"):
        ran.clear()
        with execution_options(scheduler=scheduler) if scheduler else execution_options():
            out, seconds, loop_thread = asyncio.run(_timed_acall(four))
        assert out == EXPECTED
        assert ran == [("async", loop_thread)] * 4  # the async form, on the loop, no sync one
        assert seconds < 3 * LATENCY  # concurrent: 4 x 50 ms in one 50 ms wave


@pytest.mark.parametrize("mode", MODES)
def test_a_sync_leaf_never_runs_on_the_loop(mode: str) -> None:
    ran: list[tuple[str, int]] = []
    four = jit(Four(SyncTagged, ran), mode=mode)
    for call in range(4):  # the first calls too: untraced, traced, learned
        ran.clear()
        out, seconds, loop_thread = asyncio.run(_timed_acall(four))
        assert out == EXPECTED
        assert len(ran) == 4 and all(form == "sync" for form, _ in ran)
        assert loop_thread not in {thread for _, thread in ran}, f"call {call} ran on the loop"
    assert seconds < 3 * LATENCY
