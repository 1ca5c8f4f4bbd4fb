"""Loops whose body waits on its own call (a ``try`` around it, an ``if`` on its result) start
every iteration's call before the loop (``run.ahead``/``run.early``, taken with ``run.take``):
with the assignments the call's input needs computed again per iteration, failures raised where
eager raised them, and never a call eager would not make (orders of magnitude only: the precise
figures live in benchmarks/)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emberjit import Operator, execution_options, explain_jit_selection, jit

LATENCY = 0.05
SCHEDULERS = ["sequential", "threads", "async"]
TONE: contextvars.ContextVar[str] = contextvars.ContextVar("tone", default="plain")


class Search(Operator[dict[str, Any], dict[str, str]]):
    """A slow lookup that counts its calls and reads the ``TONE`` context variable."""

    def __init__(self, latency: float) -> None:
        self.latency, self.calls = latency, 0
        self.lock = threading.Lock()

    def forward(self, inputs: dict[str, Any]) -> dict[str, str]:
        with self.lock:
            self.calls += 1
        time.sleep(self.latency)
        query = inputs["query"]
        if "bad" in query:
            raise KeyError(query)
        return {"text": f" {TONE.get()} facts on {query} "}


class Entities(Operator[dict[str, Any], Any]):
    def __init__(self, latency: float = LATENCY) -> None:
        self.search = Search(latency)

    def forward(self, inputs: dict[str, Any]) -> Any:
        facts = []
        for e in inputs["entities"]:
            try:
                q = f"facts about {e['name']}"  # raises for an entity without a name
                r = self.search({"query": q})
                facts.append(r["text"].strip())
            except KeyError as exc:
                facts.append(f"missing {exc}")
        return facts


class SkipEmpty(Entities):
    def forward(self, inputs: dict[str, Any]) -> Any:
        facts = []
        for e in inputs["entities"]:
            name = e.get("name", "")
            prompt = f"facts about {name}"
            r = self.search({"query": prompt})
            text = r["text"].strip()
            if not text.endswith(name):
                continue
            facts.append(text)
        return facts


class InputRaises(Entities):
    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            try:
                out.append(self.search({"query": e["name"]})["text"])
            except KeyError:
                out.append("no name")
        return out


class SkipFirst(Entities):
    """A ``continue`` before the call: eager makes no call for skipped entities."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            if "name" not in e:
                continue
            try:
                out.append(self.search({"query": e["name"]})["text"])
            except KeyError:
                out.append("bad")
        return out


class SkipUnknown(Entities):
    """A ``continue`` on a test known only in the loop (a call's result): the calls after it
    are not started before the loop."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            if len(self.search({"query": "gate"})["text"]) > 100:
                continue
            try:
                out.append(self.search({"query": e["name"]})["text"])
            except KeyError:
                out.append("bad")
        return out


class Rebound(Entities):
    """The loop's variable changes before the call reads it."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            e = {"name": str(e.get("name", "?")).upper()}
            try:
                out.append(self.search({"query": e["name"]})["text"])
            except KeyError:
                out.append("bad")
        return out


class Topic(Entities):
    """An input built from a result that arrives before the loop."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        topic = self.search({"query": "topic"})["text"].strip()
        out = {}
        for i, e in enumerate(inputs["entities"]):
            about = f"{topic} / {e.get('name', i)}"
            try:
                out[about] = self.search({"query": about})["text"]
            except KeyError:
                out[about] = "bad"
        return out


class Toned(Entities):
    """A context variable set around each call: the call must run under it, so it is not
    started before the loop (code kept in program order may change what a call sees)."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            token = TONE.set("formal")
            try:
                out.append(self.search({"query": e.get("name", "?")})["text"])
            except KeyError:
                out.append("bad")
            finally:
                TONE.reset(token)
        return out


@contextlib.contextmanager
def tone(value: str) -> Iterator[None]:
    token = TONE.set(value)
    try:
        yield
    finally:
        TONE.reset(token)


class InContext(Entities):
    """A ``with`` that sets a context variable around each call (DSPy's settings.context):
    the call must run inside it."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for i, e in enumerate(inputs["entities"]):
            with tone("formal" if i % 2 else "terse"):
                try:
                    out.append(self.search({"query": e.get("name", "?")})["text"])
                except KeyError:
                    out.append("bad")
        return out


class Printing(Entities):
    """Output written in the loop changes nothing a call sees: the calls still start early."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        out = []
        for e in inputs["entities"]:
            print("looking up", e)
            try:
                out.append(self.search({"query": e["name"]})["text"])
            except KeyError:
                log.warning("no name: %s", e)
        return out


log = logging.getLogger(__name__)
NAMES = [{"name": f"e{i}"} for i in range(8)]
MIXED = [{"name": "a"}, {}, {"name": "bad one"}, {"name": "c"}, {}, {"name": "d"}]


def _eager(cls: type[Entities], entities: list[dict[str, Any]]) -> tuple[Any, int]:
    op = cls(0.0)
    try:
        return op({"entities": entities}), op.search.calls
    except Exception as exc:
        return (type(exc), str(exc)), op.search.calls


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("cls", [Entities, SkipEmpty, InputRaises, SkipFirst, Rebound, Topic,
                                 Toned, InContext, Printing, SkipUnknown])
@pytest.mark.parametrize("entities", [NAMES, MIXED, []], ids=["names", "mixed", "none"])
def test_equal_to_eager_with_the_same_calls(cls: type[Entities], entities: list[dict[str, Any]],
                                            scheduler: str) -> None:
    want, calls = _eager(cls, entities)
    fast = jit(cls(0.0))
    with execution_options(scheduler=scheduler):
        try:
            got = fast({"entities": entities})
        except Exception as exc:
            got = (type(exc), str(exc))
    assert got == want
    if not isinstance(want, tuple):  # (after an uncaught failure, later calls may have run)
        assert fast.search.calls == calls  # never a call eager would not make
        assert asyncio.run(fast.acall({"entities": entities})) == want


@pytest.mark.parametrize("cls", [Entities, SkipEmpty, InputRaises, Topic, Printing])
def test_every_iterations_call_starts_before_the_loop(cls: type[Entities]) -> None:
    fast = jit(cls())
    x = {"entities": NAMES}
    fast(x)
    start = time.perf_counter()
    fast(x)
    took = time.perf_counter() - start
    # eight 50 ms calls in the loop (and one before it, for Topic): eagerly 400 ms or more
    assert took < 4 * LATENCY, f"{took:.3f} s"
    assert "run.ahead(" in fast.plan.source
    assert "every iteration's call starts before the loop" in str(explain_jit_selection(fast))


def test_the_input_is_computed_by_a_function_of_the_loops_variables() -> None:
    fast = jit(Entities(0.0))
    fast({"entities": NAMES})
    source = fast.plan.source
    line = Entities.forward.__code__.co_firstlineno + 2  # for e in inputs["entities"]:
    assert f"    def _start_L{line}(e):\n        q = f\"facts about {{e['name']}}\"\n" \
           "        return run.early(self.search, {\"query\": q})\n" in source, source
    assert f"_calls_L{line} = [run.ahead(_start_L{line}, e) for e in _items_L{line}]" in source


@pytest.mark.parametrize("cls", [Toned, InContext, SkipUnknown])
def test_a_call_after_an_unknown_skip_or_code_kept_in_order_is_not_started_early(
        cls: type[Entities]) -> None:
    fast = jit(cls(0.0))
    fast({"entities": MIXED})
    assert "run.ahead(" not in fast.plan.source


def test_an_iteration_skipped_by_a_plain_test_starts_no_call() -> None:
    fast = jit(SkipFirst(0.0))
    fast({"entities": MIXED})
    assert "run.ahead(" in fast.plan.source
    assert '        if "name" not in e:\n            return None\n' in fast.plan.source


class Written(Entities):
    """A loop whose body writes a file after each call: its iterations run one after another,
    and explain says so (not "concurrent")."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        facts = {}
        for e in inputs["entities"]:
            prompt = f"facts about {e.get('name')}"
            if len(prompt) > 40:
                prompt = prompt[:40]
            facts[prompt] = self.search({"query": prompt})["text"]
            with open(os.devnull, "w") as sink:
                sink.write(prompt)
        return facts


def test_explain_says_when_a_loops_iterations_wait_for_each_other() -> None:
    fast = jit(Written(0.0))
    assert fast({"entities": NAMES}) == Written(0.0)({"entities": NAMES})
    loop = Written.forward.__code__.co_firstlineno + 2
    sites = explain_jit_selection(fast).sites
    assert sites[0] == (f"line {loop + 4} self.search(...): held back: the loop at line {loop} "
                        f"runs its iterations one after another: line {loop + 5} in it waits "
                        "for every earlier call"), sites
    assert sites[-1].endswith(f"; the loop at line {loop} runs its iterations one after another, "
                              "each counted once in these paths")
