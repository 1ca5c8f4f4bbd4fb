"""``try`` and ``with`` blocks that stay in the plan's locals run as one task each, beside
independent work (``run.block``; see ``emberjit/compiler/blocks.py``): equal to eager on every
scheduler, failures caught or raised as eager does (an earlier call's failure never reaches a
block's handler), explain naming what runs as a block and why a block does not (orders of
magnitude only: the precise figures live in benchmarks/)."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import suppress
from typing import Any

import pytest

from emberjit import JitFallbackError, Operator, execution_options, explain_jit_selection, jit

LATENCY = 0.05
SCHEDULERS = ["sequential", "threads", "async"]


class Lookup(Operator[Any, Any]):
    """Sleeps, then answers; fails with KeyError on "bad", ValueError on "worse"."""

    def __init__(self, tag: str, latency: float = LATENCY) -> None:
        self.tag, self.latency = tag, latency
        self.started: list[float] = []
        self.ended: list[float] = []
        self.lock = threading.Lock()

    def forward(self, inputs: Any) -> Any:
        with self.lock:
            self.started.append(time.perf_counter())
        time.sleep(self.latency)
        text = str(inputs)
        with self.lock:
            self.ended.append(time.perf_counter())
        if "worse" in text:
            raise ValueError(f"{self.tag}: {text}")
        if "bad" in text:
            raise KeyError(f"{self.tag}: {text}")
        return {"text": f" {self.tag}[{text}] ", "n": str(len(text))}


class Echo(Operator[dict[str, Any], Any]):
    """Answers with what it was given, after a while (so a later change would show)."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        time.sleep(LATENCY)
        return dict(inputs)


class Log(Operator[Any, Any]):
    """An impure operator: it records when it was called."""

    pure = False

    def __init__(self) -> None:
        self.at: list[float] = []

    def forward(self, inputs: Any) -> Any:
        self.at.append(time.perf_counter())
        return inputs


class Pipeline(Operator[str, Any]):
    def __init__(self, latency: float = LATENCY) -> None:
        self.retrieve = Lookup("retrieve", latency)
        self.answer = Lookup("answer", latency)
        self.backup = Lookup("backup", latency)
        self.critic = Lookup("critic", latency)
        self.echo = Echo()
        self.log = Log()

    def forward(self, q: str) -> Any:
        docs = self.retrieve(q)
        try:
            draft = self.answer(f"{q} {docs['text'].strip()}")
        except KeyError:
            draft = self.backup(q.replace("bad", "fine"))
        try:
            critique = self.critic(q + " critique")
        except KeyError as exc:
            critique = {"text": f"no critique: {exc}"}
        return draft["text"], critique["text"]


class Chain(Pipeline):
    def forward(self, q: str) -> Any:
        first = self.retrieve(q + " first")
        try:
            r = self.answer(q)
            text = r["text"].strip()
            s = self.critic(text)
        except KeyError:
            s = None
        return first["text"], s


class Rebinds(Pipeline):
    def forward(self, q: str) -> Any:
        b = "default"
        other = self.retrieve(q)
        try:
            if len(q) > 3:
                b = self.answer(q)["text"]
        except KeyError:
            pass
        return b, other["n"]


class Parse(Pipeline):
    def forward(self, q: str) -> Any:
        raw = self.answer(q)
        try:
            n = int(raw["text"].strip().split("[")[0] or "x")
        except ValueError:
            n = -1
        other = self.critic(q)
        return n, other["text"]


class Suppressed(Pipeline):
    def forward(self, q: str) -> Any:
        r = {"text": "none"}
        with suppress(KeyError):
            r = self.answer(q)
            size = r["n"]  # noqa: F841  (unbound when the manager swallowed the call's error)
        other = self.critic(q.replace("bad", "ok"))
        return r["text"], other["text"]


class Mutates(Pipeline):
    def forward(self, q: str) -> Any:
        ctx = {"query": q}
        try:
            r = self.echo(ctx)
        except KeyError:
            r = None
        ctx["query"] = "changed"
        return r, ctx


class Escapes(Pipeline):
    """A failure the handler does not catch leaves the block (ValueError on "worse")."""

    def forward(self, q: str) -> Any:
        try:
            a = self.answer(q)
        except KeyError:
            a = {"text": "caught"}
        later = self.critic(q.replace("worse", "bad"))
        return a["text"], later["text"]


class EarlierFails(Pipeline):
    """Eager raises the retrieve's ValueError before the try; the block's own KeyError is
    its handler's."""

    def forward(self, q: str) -> Any:
        docs = self.retrieve(q.replace("bad", "worse"))
        try:
            a = self.answer(q)
        except (KeyError, ValueError):
            a = {"text": "caught"}
        return docs["text"], a["text"]


class HelperInLoop(Pipeline):
    """A helper method of self calling an operator, inside a try in a loop: each iteration's
    block is a task of its own, the helper run inside it."""

    def rewrite(self, topic: str) -> str:
        return str(self.answer(f"rewrite {topic}")["text"]).strip()

    def forward(self, q: str) -> Any:
        notes = {}
        for topic in q.split():
            try:
                hit = self.critic(self.rewrite(topic))["text"].strip()
            except KeyError:
                hit = None
            notes[topic] = hit
        return notes


class Status(Pipeline):
    """A list and a dict the block changes in place (its outputs too), in every part."""

    def forward(self, q: str) -> Any:
        status = ["start"]
        found: dict[str, Any] = {}
        try:
            draft = self.answer(q)["text"]
            found["draft"] = draft.strip()
        except KeyError as exc:
            draft = ""
            status.append(f"draft failed: {exc}")
        else:
            status.append("drafted")
        finally:
            status.append("done")
        tags = self.critic(q.replace("bad", "ok"))["text"]
        status.append("tagged")
        return draft, tags, status, found


PROGRAMS = [Pipeline, Chain, Rebinds, Parse, Suppressed, Mutates, Escapes, EarlierFails,
            HelperInLoop, Status]
INPUTS = ["q", "what is x", "bad", "a bad one", "worse", "worse bad", "ok", "longer question",
          "bad worse", "hm"]


def _outcome(fn: Any, x: Any) -> Any:
    try:
        return fn(x)
    except Exception as exc:  # the exception's type and message are the outcome
        return (type(exc).__name__, str(exc))


def _run(jitted: Any, x: Any, scheduler: str) -> Any:
    with execution_options(scheduler=scheduler):
        if scheduler == "async":
            return _outcome(lambda v: asyncio.run(jitted.acall(v)), x)
        return _outcome(jitted, x)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_blocks_answer_as_eager(program: type[Pipeline], scheduler: str) -> None:
    jitted = jit(program(latency=0.001))
    for x in INPUTS:
        assert _run(jitted, x, scheduler) == _outcome(program(latency=0.001), x), x
    assert "run.block(" in jitted.plan.source


def test_independent_blocks_overlap() -> None:
    class Five(Pipeline):
        def forward(self, q: str) -> Any:
            out = []
            try:
                a = self.answer(q)
            except KeyError:
                a = None
            try:
                b = self.critic(q)
            except KeyError:
                b = None
            try:
                c = self.backup(q)
            except KeyError:
                c = None
            d = self.retrieve(q)
            with suppress(KeyError):
                e = self.answer(q + "!")
                out.append(e)
            return a, b, c, d, out

    op = Five(latency=0.1)
    jitted = jit(op)
    assert jitted("q") == Five(latency=0.0)("q")
    start = time.perf_counter()
    jitted("q")
    assert time.perf_counter() - start < 0.3  # five 100 ms calls one after another: 500 ms


def test_block_waits_only_for_what_it_reads() -> None:
    op = Pipeline(latency=0.1)
    jitted = jit(op)
    jitted("q")
    start = time.perf_counter()
    jitted("q")  # retrieve -> answer is the critical path; the critic runs beside it
    assert time.perf_counter() - start < 0.3  # one after another: 300 ms, critical path 200
    assert op.critic.started[-1] < op.retrieve.ended[-1]


def test_an_impure_call_in_a_block_runs_after_every_earlier_call() -> None:
    class Impure(Pipeline):
        def forward(self, q: str) -> Any:
            a = self.answer(q)
            try:
                logged = self.log(q)
            except KeyError:
                logged = None
            return a["text"], logged

    op = Impure()
    jitted = jit(op)
    assert jitted("q") == Impure()("q")
    assert op.log.at[-1] >= op.answer.ended[-1]


def test_a_failure_out_of_a_block_names_its_operator() -> None:
    jitted = jit(Escapes(latency=0.001))
    for scheduler in SCHEDULERS:
        with execution_options(scheduler=scheduler), pytest.raises(ValueError) as info:
            if scheduler == "async":
                asyncio.run(jitted.acall("worse"))
            else:
                jitted("worse")
        assert any("Escapes.answer" in note for note in info.value.__notes__)


def test_the_block_failing_first_in_program_order_is_raised() -> None:
    class Order(Pipeline):
        def forward(self, q: str) -> Any:
            try:
                a = self.answer(q)  # slow, then ValueError: not caught
            except KeyError:
                a = None
            b = self.critic(q.replace("worse", "bad"))  # fast KeyError, later in order
            return a, b

    op = Order()
    op.critic.latency = 0.001
    with pytest.raises(ValueError):
        jit(op)("worse")


def test_explain_names_blocks_and_why_one_is_not() -> None:
    jitted = jit(Chain(latency=0.001))
    jitted("q")
    text = str(explain_jit_selection(jitted))
    assert "self.answer(...): concurrent: the block at line" in text
    assert "self.critic(...): dependent: runs after the block's call on line" in text
    assert "0 held back" in text

    class Counts(Pipeline):
        def forward(self, q: str) -> Any:
            self.count = 0
            try:
                a = self.answer(q)
                self.count += 1
            except KeyError:
                a = None
            try:
                b = self.answer(q)
                c = self.critic(q)
            except KeyError:
                b = c = None
            return a, b, c

    counts = jit(Counts(latency=0.001))
    assert counts("q") == Counts(latency=0.001)("q")
    text = str(explain_jit_selection(counts))
    assert "it stores into an object" in text
    assert "run.fork_block(" in counts.plan.source  # independent calls: a run of its own
    with pytest.raises(JitFallbackError, match="'try' block"):
        jit(Counts(latency=0.001), strict=True)("q")
    jit(Chain(latency=0.001), strict=True)("q")  # nothing held back: strict is satisfied


def test_a_name_left_unbound_and_used_later_keeps_the_block_waited() -> None:
    class Unbound(Pipeline):
        def forward(self, q: str) -> Any:
            try:
                r = self.answer(q)
                text = r["text"]
            except KeyError:
                text = "none"
            return text, r if "bad" not in q else None

    jitted = jit(Unbound(latency=0.001))
    for x in ("q", "bad"):
        assert _outcome(jitted, x) == _outcome(Unbound(latency=0.001), x)
    assert "it may leave r unbound" in str(explain_jit_selection(jitted))


def test_a_loop_of_blocks_calling_a_helper_overlaps_its_iterations() -> None:
    jitted = jit(HelperInLoop(latency=0.05))
    x = "a b bad d e f"
    assert jitted(x) == HelperInLoop(latency=0.0)(x)
    start = time.perf_counter()
    jitted(x)  # six iterations of two 50 ms calls: 600 ms one after another
    assert time.perf_counter() - start < 0.3
    text = str(explain_jit_selection(jitted))
    assert "self.rewrite(...): concurrent: the block at line" in text


def test_a_helper_with_an_effect_keeps_its_block_waited() -> None:
    class Noisy(HelperInLoop):
        def rewrite(self, topic: str) -> str:
            self.seen = topic
            return str(self.answer(f"rewrite {topic}")["text"])

    jitted = jit(Noisy(latency=0.001))
    assert jitted("a bad c") == Noisy(latency=0.001)("a bad c")
    assert "it calls self.rewrite(), which stores into an object" in str(
        explain_jit_selection(jitted))


def test_an_impure_operator_in_a_helper_orders_its_block() -> None:
    class Logged(HelperInLoop):
        def rewrite(self, topic: str) -> str:
            return str(self.log(topic))

    op = Logged()
    jitted = jit(op)
    assert jitted("a b") == Logged()("a b")
    assert "calls=(self.critic, self.log,)" in jitted.plan.source
    op.log.at.clear()
    op.critic.ended.clear()
    jitted("a b")  # the second iteration's block starts after the first one's calls returned
    assert op.log.at[1] >= op.critic.ended[0]


def test_len_of_a_list_being_filled_does_not_wait_for_its_elements() -> None:
    class UpToThree(Pipeline):
        def forward(self, q: str) -> Any:
            out = []
            for word in q.split():
                try:
                    hit = self.answer(word)["text"]
                except KeyError:
                    hit = None
                out.append(hit)
                if len(out) >= 3:  # the list's length, known without its elements
                    break
            return out

    jitted = jit(UpToThree(latency=0.1))
    x = "a bad c d e"
    assert jitted(x) == UpToThree(latency=0.0)(x)
    assert "out = run.ready(out)" in jitted.plan.source
    start = time.perf_counter()
    jitted(x)  # three 100 ms calls (the loop stops at three, as eagerly): 300 ms in order
    assert time.perf_counter() - start < 0.25
    for scheduler in SCHEDULERS:
        for q in ("a b", "bad bad bad bad", "x y z w v", "worse a"):
            assert _run(jitted, q, scheduler) == _outcome(UpToThree(latency=0.001), q)


class Panel(Pipeline):
    """A fan-out inside a try (several members may fail at once), beside independent work."""

    def __init__(self, latency: float = LATENCY) -> None:
        super().__init__(latency)
        self.members = [Lookup(f"m{i}", latency) for i in range(4)]

    def forward(self, q: str) -> Any:
        docs = self.retrieve(q)
        try:
            votes = [m(f"{q} {i}") for i, m in enumerate(self.members)]
            verdict = self.critic(" | ".join(v["text"] for v in votes))
        except KeyError as exc:
            verdict = {"text": f"no verdict: {exc}"}
        other = self.answer(q.replace("bad", "ok"))
        return docs["text"], verdict["text"], other["text"]


class PanelWaited(Panel):
    """The same block with a store into self: it waits for every earlier call, and a second
    member's failure must not escape the handler that caught the first."""

    def forward(self, q: str) -> Any:
        try:
            votes = [m(f"{q} {i}") for i, m in enumerate(self.members)]
            self.last = len(votes)
        except KeyError:
            votes = []
        return [v["text"] for v in votes]


@pytest.mark.parametrize("program", [Panel, PanelWaited], ids=lambda p: p.__name__)
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_a_fan_out_in_a_block_answers_as_eager(program: type[Panel], scheduler: str) -> None:
    jitted = jit(program(latency=0.001))
    for x in [*INPUTS, "bad bad", "a bad"]:
        assert _run(jitted, x, scheduler) == _outcome(program(latency=0.001), x), x


def test_a_fan_out_in_a_block_runs_on_a_run_of_its_own_beside_other_work() -> None:
    jitted = jit(Panel(latency=0.1))
    jitted("q")
    assert "run.fork_block(" in jitted.plan.source
    assert "calls=(*self.members, self.critic,)" in jitted.plan.source
    start = time.perf_counter()
    jitted("q")  # retrieve, 4 members, critic, answer one after another: 700 ms; path: 200 ms
    assert time.perf_counter() - start < 0.35
    text = str(explain_jit_selection(jitted))
    assert "self.critic(...): dependent: runs after the block's calls on line" in text
    assert "0 held back" in text


class SafeCalls(Pipeline):
    """A helper whose whole body is a try that returns: each call of it is a task."""

    def safe(self, prompt: str, default: str = "n/a") -> Any:
        try:
            return self.answer(prompt)["text"].strip()
        except KeyError:
            return default

    def forward(self, q: str) -> Any:
        results = [self.safe(f"{q} {i}") for i in range(4)]
        return results, self.critic(q.replace("bad", "ok"))["text"]


def test_a_helper_whose_try_returns_runs_as_a_task_per_call() -> None:
    jitted = jit(SafeCalls(latency=0.1))
    assert jitted("q") == SafeCalls(latency=0.0)("q")
    assert "return run.block(" in jitted.plan.source
    start = time.perf_counter()
    jitted("q")  # five 100 ms calls one after another: 500 ms
    assert time.perf_counter() - start < 0.3
    small = jit(SafeCalls(latency=0.001))
    for scheduler in SCHEDULERS:
        for x in ("a", "bad", "worse", "a bad", "hm"):
            assert _run(small, x, scheduler) == _outcome(SafeCalls(latency=0.001), x), x


def test_a_list_the_block_appends_to_is_its_output() -> None:
    jitted = jit(Status(latency=0.1))
    assert jitted("q") == Status(latency=0.0)("q")
    start = time.perf_counter()
    jitted("q")  # the answer and the critic one after another: 200 ms
    assert time.perf_counter() - start < 0.18

    class Lent(Pipeline):
        def forward(self, q: str) -> Any:
            notes = [q]
            seen = self.echo({"notes": notes})  # a running call holds notes
            try:
                notes.append(self.answer(q)["text"])
            except KeyError:
                notes.append("none")
            return seen, notes

    lent = jit(Lent(latency=0.001))
    for x in ("q", "bad"):
        assert lent(x) == Lent(latency=0.001)(x)
    assert "it changes notes, which another name or a running call may hold" in str(
        explain_jit_selection(lent))
