"""Ordinary idioms that once ran sequentially: a comprehension reusing a loop's variable name,
sampling over ``range(k)``, prompts built with ``.format`` in a loop, ``+=`` on a str prompt.
Each gives eager's answer, and its independent calls overlap (orders of magnitude only: the
precise figures live in benchmarks/)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import pytest
from _base_ops import AskBase, ask_with_prefix

from emberjit import Operator, execution_options, explain_jit_selection, jit
from emberjit.compiler import compile_structural
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall

TEMPLATE = "Rate the {metric} of: {q}"
LATENCY = 0.05


class ReusedName(Operator[dict[str, Any], Any]):
    def __init__(self, model: SimulatedModel) -> None:
        self.retrievers = [ModelCall(model, temperature=0.1 * i) for i in range(4)]
        self.answer = ModelCall(model)

    def forward(self, inputs: dict[str, Any]) -> Any:
        docs = []
        for r in self.retrievers:
            docs.append(r(inputs))
        text = "\n".join(r["text"] for r in docs)  # a generator's own r
        return self.answer({"query": text})


class Sampling(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.llm = ModelCall(model, temperature=0.7)

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        outs = [self.llm(inputs) for _ in range(5)]
        return [o["text"] for o in outs]


class Formats(Operator[dict[str, Any], dict[str, str]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.judge = ModelCall(model)
        self.metrics = ["clarity", "accuracy", "depth", "tone"]

    def forward(self, inputs: dict[str, Any]) -> dict[str, str]:
        scores = {}
        for d in self.metrics:
            prompt = TEMPLATE.format(metric=d, q=inputs["query"])
            scores[d] = self.judge({"query": prompt})
        return {k: v["text"] for k, v in scores.items()}


class StrPlus(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.a, self.b = ModelCall(model), ModelCall(model, temperature=0.3)

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        prompt = "Question: " + inputs["query"]
        first = self.a({"query": prompt})
        prompt += " (be brief)"
        second = self.b({"query": prompt})
        return [first["text"], second["text"]]


class AliasLoop(Operator[dict[str, Any], list[str]]):
    """A local alias of a collection, each answer post-processed in the comprehension."""

    def __init__(self, model: SimulatedModel) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(4)]

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        members = self.members
        return [m(inputs)["text"].strip() for m in members]


class Styles(Operator[dict[str, Any], dict[str, Any]]):
    """A loop over a literal list of (operator, style) pairs."""

    def __init__(self, model: SimulatedModel) -> None:
        self.fast, self.slow = ModelCall(model), ModelCall(model, temperature=0.5)

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for op, style in [(self.fast, "terse"), (self.slow, "long")]:
            out[style] = op({"query": f"{style}: {inputs['query']}"})
        return out


class Zipped(Operator[dict[str, Any], list[Any]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.a, self.b = ModelCall(model), ModelCall(model, temperature=0.5)
        self.c = ModelCall(model, temperature=0.9)

    def forward(self, inputs: dict[str, Any]) -> list[Any]:
        return [w({"query": s + inputs["query"]})
                for w, s in zip([self.a, self.b, self.c], ("x", "y", "z"), strict=True)]


class Glue(Operator[dict[str, Any], list[str]]):
    """Ordinary code on the first answer before independent questions: a continuation."""

    def __init__(self, model: SimulatedModel) -> None:
        self.first = ModelCall(model)
        self.others = [ModelCall(model, temperature=0.2 * i) for i in range(4)]

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        first = self.first(inputs)
        text = first["text"].strip().upper()
        rest = [m(inputs) for m in self.others]
        return [text, *(r["text"] for r in rest)]


class HelperParam(Operator[dict[str, Any], list[str]]):
    """A helper method given each operator in turn."""

    def __init__(self, model: SimulatedModel) -> None:
        self.members = [ModelCall(model, temperature=0.2 * i) for i in range(4)]

    def _ask(self, op: Any, question: str) -> str:
        return op({"query": question})["text"].strip()

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        return [self._ask(m, inputs["query"]) for m in self.members]


class ListPlus(Operator[dict[str, Any], Any]):
    """``+=`` on a list extends it in place: the call given it must finish first."""

    def __init__(self, model: SimulatedModel) -> None:
        self.a = ModelCall(model)

    def forward(self, inputs: dict[str, Any]) -> Any:
        parts = [inputs["query"]]
        first = self.a({"query": parts})
        parts += ["more"]
        return first


class RunningBest(Operator[dict[str, Any], Any]):
    """A running maximum over pending results: the ``if`` runs as a continuation."""

    def __init__(self, model: SimulatedModel) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(4)]

    def forward(self, inputs: dict[str, Any]) -> Any:
        best = ""
        for m in self.members:
            text = m(inputs)["text"]
            if text > best:
                best = text
        return best


class CarriedPrompt(Operator[dict[str, Any], Any]):
    """``prompt += section`` on a str and ``hits += [...]`` on an unshared list in a loop."""

    def __init__(self, model: SimulatedModel) -> None:
        self.expand = ModelCall(model, "Expand point {query}")
        self.final = ModelCall(model)

    def forward(self, inputs: dict[str, Any]) -> Any:
        prompt = f"Question: {inputs['query']}\n"
        hits: list[str] = []
        for point in ("one", "two", "three", "four"):
            section = self.expand({"query": point})["text"]
            prompt += f"{point}: {section}\n"
            hits += [section[:12]]
        return self.final({"query": prompt}), hits


class Rebuilt(Operator[dict[str, Any], Any]):
    """Each round builds a new list from the last: ``previous = answers; answers = []``."""

    def __init__(self, model: SimulatedModel) -> None:
        self.agents = [ModelCall(model, "{query} / {others}", temperature=0.2 * i)
                       for i in range(3)]

    @staticmethod
    def text(reply: dict[str, Any]) -> str:
        return str(reply["text"]).strip()

    def forward(self, inputs: dict[str, Any]) -> Any:
        answers = ["none"] * 3
        for _ in range(2):
            previous = answers
            answers = []
            for agent in self.agents:
                reply = agent({"query": inputs["query"], "others": " ".join(previous)})
                answers.append(self.text(reply))
        return answers


def ask_each(ops: list[Any], question: str) -> list[Any]:
    """A module function given the operators: a loop over its parameter."""
    out = []
    for op in ops:
        out.append(op({"query": question}))
    return out


def ask_all(ops: list[Any], question: str) -> list[Any]:
    return [op({"query": question}) for op in ops]


class ViaFunctions(Operator[dict[str, Any], Any]):
    """Operators passed to module functions that call each element of their parameter."""

    def __init__(self, model: SimulatedModel) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(3)]

    def forward(self, inputs: dict[str, Any]) -> Any:
        first = ask_each(self.members, inputs["query"])
        second = ask_all(self.members, inputs["query"] + "?")
        return [r["text"] for r in first + second]


class Scores(Operator[dict[str, Any], Any]):
    """``totals[i] += ...`` on a list of numbers, judge by judge: each element updated as its
    own judge returns."""

    def __init__(self, model: SimulatedModel) -> None:
        self.judges = [ModelCall(model, f"judge {k}: {{query}}") for k in range(2)]

    def forward(self, inputs: dict[str, Any]) -> Any:
        answers = ["a", "b", "c"]
        totals = [0.0] * len(answers)
        for i, answer in enumerate(answers):
            for judge in self.judges:
                totals[i] += len(judge({"query": inputs["query"] + answer})["text"])
            totals[i] += 0.5
        return totals.index(max(totals)), totals


# (operator, its critical path in calls, the calls eager makes one after another)
CASES = [(ReusedName, 2, 5), (Sampling, 1, 5), (Formats, 1, 4), (StrPlus, 1, 2),
         (AliasLoop, 1, 4), (Styles, 1, 2), (Zipped, 1, 3), (Glue, 1, 5), (HelperParam, 1, 4),
         (RunningBest, 1, 4), (CarriedPrompt, 2, 5), (Rebuilt, 2, 6), (ViaFunctions, 1, 6),
         (Scores, 1, 6)]


@pytest.mark.parametrize("cls,depth,calls", CASES, ids=[c.__name__ for c, _, _ in CASES])
def test_idiom_overlaps_its_calls(cls: type[Any], depth: int, calls: int) -> None:
    model = SimulatedModel(latency=LATENCY)
    eager, fast = cls(model), jit(cls(model))
    x = {"query": "What is a monad?"}
    assert fast(x) == eager(x)
    assert "run.barrier()" not in fast.plan.source
    assert fast.plan.concurrent
    if calls >= 2 * (depth + 1):  # a margin no noise closes: time it
        start = time.perf_counter()
        assert fast(x) == eager(x)
        elapsed = time.perf_counter() - start - calls * LATENCY  # minus the eager call
        assert elapsed < LATENCY * (depth + 1), f"{elapsed:.3f} s for {depth} calls deep"


def test_a_list_extended_in_place_waits_and_explain_says_why() -> None:
    fast = jit(ListPlus(SimulatedModel(latency=0.0)))
    x = {"query": "Q?"}
    assert fast(x) == ListPlus(SimulatedModel(latency=0.0))(x)
    assert "run.barrier()" in fast.plan.source
    line = ListPlus.forward.__code__.co_firstlineno + 3
    assert (f"line {line} mutates parts, which a call that may still run was given"
            in str(explain_jit_selection(fast)))


def test_glue_code_runs_as_a_continuation() -> None:
    fast = jit(Glue(SimulatedModel(latency=0.0)))
    fast({"query": "Q?"})
    source = fast.plan.source
    line = Glue.forward.__code__.co_firstlineno + 2
    assert f"def _L{line}(first):" in source
    assert f"text = run.then(_L{line}, first)" in source


class CrossModule(AskBase, Operator[dict[str, Any], list[Any]]):
    """A helper method inherited from, and a function imported from, another module."""

    def __init__(self, model: SimulatedModel) -> None:
        self.members = [ModelCall(model, temperature=0.2 * i) for i in range(3)]

    def forward(self, inputs: dict[str, Any]) -> list[Any]:
        asked = [self._ask(m, inputs["query"]) for m in self.members]
        prefixed = [ask_with_prefix(m, inputs["query"]) for m in self.members]
        return [*asked, *prefixed]


@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
def test_helpers_from_other_modules_keep_their_globals(scheduler: str) -> None:
    model = SimulatedModel(latency=0.0)
    fast = jit(CrossModule(model), mode="structural")
    want = CrossModule(model)({"query": "Q?"})
    with execution_options(scheduler=scheduler):
        assert fast({"query": "Q?"}) == want
    assert asyncio.run(fast.acall({"query": "Q?"})) == want
    assert "ask_with_prefix__plan(m, inputs[" in fast.plan.source


CALLED: list[str] = []


def words(text: str) -> Any:
    """A generator function: called as the code is written, never compiled into the plan."""
    yield from text.split()


def counted(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        CALLED.append(fn.__name__)  # a decorator's effect: it must happen under jit too
        return fn(*args)
    return wrapper


@counted
def ask_once(op: Any, question: str) -> Any:
    return op({"query": question})


class UsesLibraryShapes(Operator[dict[str, Any], list[Any]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.a = ModelCall(model)

    @counted
    def _ask(self, question: str) -> Any:
        return self.a({"query": question})

    def forward(self, inputs: dict[str, Any]) -> list[Any]:
        parts = [self.a({"query": w}) for w in words(inputs["query"])]
        return [parts, ask_once(self.a, "once"), self._ask("twice")]


def test_generators_and_decorated_functions_run_as_written() -> None:
    model = SimulatedModel(latency=0.0)
    CALLED.clear()
    want = UsesLibraryShapes(model)({"query": "a b c"})
    fast = jit(UsesLibraryShapes(model), mode="structural")
    CALLED.clear()
    assert fast({"query": "a b c"}) == want
    assert CALLED == ["ask_once", "_ask"]  # the wrappers ran: not replaced by their bodies
    assert "ask_once__plan" not in fast.plan.source and "words__plan" not in fast.plan.source


class AliasedOldList(Operator[dict[str, Any], Any]):
    """The old list stays reachable as ``alias`` after ``box`` is rebound: mutating it must
    still wait for the call given it."""

    def __init__(self, model: SimulatedModel) -> None:
        self.a = ModelCall(model, "{query}")

    def forward(self, inputs: dict[str, Any]) -> Any:
        box = [inputs["query"]]
        first = self.a({"query": box})
        alias = box
        box = []
        alias.append("late")
        return first, box


def test_mutating_the_old_object_of_a_rebound_name_still_waits() -> None:
    fast = jit(AliasedOldList(SimulatedModel(latency=0.01)))
    x = {"query": "Q?"}
    assert fast(x) == AliasedOldList(SimulatedModel(latency=0.0))(x)
    assert "run.barrier()" in fast.plan.source
    assert "mutates alias" in str(explain_jit_selection(fast))


class Flaky(Operator[dict[str, Any], Any]):
    """Fails on its own prompts: a leaf that raises."""

    def __init__(self, latency: float, fail: bool, name: str = "") -> None:
        self.latency, self.fail, self.name = latency, fail, name

    def forward(self, inputs: dict[str, Any]) -> Any:
        time.sleep(self.latency)
        if self.fail:
            raise RuntimeError(f"{self.name} flaky on {inputs['query']}")
        return {"text": inputs["query"].upper()}


class LoopTry(Operator[dict[str, Any], Any]):
    """``try`` around each call of a loop, and an ``if`` on each result."""

    def __init__(self, latency: float, failing: tuple[int, ...] = (1,), catch: bool = True
                 ) -> None:
        self.sources = {f"s{i}": Flaky(latency, i in failing, f"s{i}") for i in range(4)}
        self.catch = catch

    def forward(self, inputs: dict[str, Any]) -> Any:
        found, failed = {}, []
        for name, source in self.sources.items():
            try:
                reply = source(inputs)
            except RuntimeError:
                if not self.catch:
                    raise
                failed.append(name)
                continue
            if reply["text"]:
                found[name] = reply["text"]
        return found, failed


def test_a_loop_that_waits_on_its_own_call_starts_every_call_before_it() -> None:
    fast, eager = jit(LoopTry(LATENCY)), LoopTry(0.0)
    x = {"query": "q"}
    assert fast(x) == eager(x)
    start = time.perf_counter()
    assert fast(x) == eager(x)
    took = time.perf_counter() - start
    assert took < 2.5 * LATENCY, f"4 x 50 ms calls in a loop took {took:.3f} s"
    assert "run.early(" in fast.plan.source and "run.take(" in fast.plan.source
    assert "every iteration's call starts before the loop" in str(explain_jit_selection(fast))


@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
def test_an_early_call_fails_where_eager_fails(scheduler: str) -> None:
    """Uncaught, the failure of the second call is raised, not the fourth's (which fails
    first, being faster), and not by the loop's start."""
    op = LoopTry(0.0, failing=(1, 3), catch=False)
    op.sources["s1"].latency = 0.03  # the later failure comes first
    fast = jit(op)
    with execution_options(scheduler=scheduler), pytest.raises(RuntimeError,
                                                               match=r"^s1 flaky on q"):
        fast({"query": "q"})


class LocalHelper(Operator[dict[str, Any], Any]):
    """A one-expression function defined in forward, called per element: inlined."""

    def __init__(self, model: SimulatedModel) -> None:
        self.answer = ModelCall(model, "{query}")

    def forward(self, inputs: dict[str, Any]) -> Any:
        prefix = inputs["query"].upper()

        def ask(angle):  # type: ignore[no-untyped-def]
            return self.answer({"query": f"{prefix}: {angle}"})["text"]

        first = [ask(a) for a in ("why", "how", "when")]
        prefix = prefix.lower()  # a closure reads it when called: so does the inlined call
        last = inputs["query"] + "?"
        return first, ask(last)


class PassedOn(LocalHelper):
    """The local function is passed on (and called before it exists): left as written."""

    def forward(self, inputs: dict[str, Any]) -> Any:
        def ask(angle):  # type: ignore[no-untyped-def]
            return self.answer({"query": angle})["text"]

        return list(map(ask, ["why", "how"])), ask(inputs["query"])


def test_a_local_one_expression_function_is_inlined_at_its_calls() -> None:
    model = SimulatedModel(latency=LATENCY)
    fast, eager = jit(LocalHelper(model)), LocalHelper(SimulatedModel(latency=0.0))
    x = {"query": "tides"}
    assert fast(x) == eager(x)
    start = time.perf_counter()
    assert fast(x) == eager(x)
    took = time.perf_counter() - start
    assert took < 2.5 * LATENCY, f"3 + 1 calls of 50 ms took {took:.3f} s"
    assert "def ask(angle):" in fast.plan.source  # the def stays, as written
    assert '[run.then(' in fast.plan.source and "run.submit(self.answer" in fast.plan.source


def test_a_local_function_used_otherwise_is_left_as_written() -> None:
    fast = jit(PassedOn(SimulatedModel(latency=0.0)))
    x = {"query": "tides"}
    assert fast(x) == PassedOn(SimulatedModel(latency=0.0))(x)
    source = str(compile_structural(PassedOn(SimulatedModel(latency=0.0)))[0].source)
    assert "map(ask, " in source and "ask(inputs" in source
