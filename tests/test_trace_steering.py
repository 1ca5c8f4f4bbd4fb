"""Trace mode guards a number or flag of the input by value only where forward's bytecode shows
it may steer the path (issue 15, item 5): one plan serves every value of a number that is only
passed along; a loop count, a branch, a value passed whole to code the analysis does not
follow, or one the recorder cannot tell from a constant in forward still re-traces."""

from __future__ import annotations

import dis
import linecache
import sys
from typing import Any

import pytest

from emberjit import Operator, explain_jit_selection, get_jit_stats, jit
from emberjit.compiler.flow_containers import GENERIC
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall

pytestmark = pytest.mark.skipif(sys.version_info[:2] != (3, 11),
                                reason="the steering analysis reads Python 3.11 bytecode; "
                                       "elsewhere every number is guarded")


class Base(Operator[dict[str, Any], Any]):
    def __init__(self) -> None:
        model = SimulatedModel(latency=0)
        self.ask = ModelCall(model, "{query} (n={n})")
        self.other = ModelCall(model, "Other: {query} (n={n})")


class PassesAlong(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        return self.ask({"query": inputs["q"], "n": inputs["x"]})


class LoopCount(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        return [self.ask(inputs) for _ in range(inputs["n"])]


class Branch(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        if inputs["strict"]:
            return self.other(inputs)
        return self.ask(inputs)


class CountInComprehension(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        answers = [self.ask(inputs), self.other(inputs)]
        return {"kept": [answers[i] for i in range(2) if i < inputs["n"]]}


class Helper(Base):
    def pick(self, inputs: dict[str, Any]) -> Any:
        return self.other if inputs["n"] > 5 else self.ask

    def forward(self, inputs: dict[str, Any]) -> Any:
        return self.pick(inputs)(inputs)


class Spread(Base):
    def pick(self, *, query: str, n: int) -> Any:
        return self.other if n > 5 else self.ask

    def forward(self, inputs: dict[str, Any]) -> Any:
        return self.pick(**inputs)(inputs)


class Literal(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        return self.ask({"query": inputs["q"], "n": 4})


class FlagPassed(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        return self.ask({"query": inputs["q"], "n": inputs["verbose"]})


class Picky(Operator[dict[str, Any], Any]):
    def forward(self, inputs: dict[str, Any]) -> Any:
        if inputs["n"] > 5:
            raise ValueError("too many")
        return {"text": f"fine with {inputs['n']}"}


class Caught(Base):
    def __init__(self) -> None:
        super().__init__()
        self.picky = Picky()

    def forward(self, inputs: dict[str, Any]) -> Any:
        try:
            return self.picky({"n": inputs["x"]})
        except ValueError:
            return self.ask({"query": "fallback", "n": 0.5})


class LocalClass(Base):
    def forward(self, inputs: dict[str, Any]) -> Any:
        class Note:  # a class body: bytecode the analysis does not follow
            pass
        return self.ask({"query": inputs["q"], "n": inputs["x"]})


def _run(op: Operator[Any, Any], key: str, values: tuple[Any, ...],
         base: dict[str, Any]) -> tuple[Any, str]:
    """Call jit(op, mode='trace') with ``base`` and each value at ``key``: every answer must
    equal eager's. Returns the jitted operator and the guards of the first call's plan."""
    jitted = jit(op, mode="trace")
    first = ""
    for value in values:
        x = {**base, key: value}
        assert jitted(dict(x)) == op(dict(x)), f"{key}={value!r}"
        first = first or "\n".join(jitted.plan.guards)
    return jitted, first


def _counts(jitted: Any) -> tuple[int, int, int]:
    stats = get_jit_stats(jitted)
    return stats.compiles, stats.recompiles, stats.guard_failures


def _guards(jitted: Any) -> str:
    """What explain says the latest plan guards."""
    return "\n".join(explain_jit_selection(jitted).guards)


def _line(cls: type, offset: int) -> int:
    return int(cls.forward.__code__.co_firstlineno) + offset  # type: ignore[attr-defined]


def test_a_number_only_passed_along_is_traced_once_for_every_value() -> None:
    jitted, _ = _run(PassesAlong(), "x", (4, 6, 11), {"q": "Why?"})
    assert _counts(jitted) == (1, 0, 0)
    assert "'n': inputs['x']" in jitted.plan.source  # read from each call's input, not baked in
    assert "inputs['x'] equals" not in _guards(jitted)
    assert "only passed along, not guarded: inputs['x']" in jitted.plan.source


def test_a_loop_count_retraces_on_a_new_value() -> None:
    jitted, _ = _run(LoopCount(), "n", (2, 3, 3), {"query": "Q?"})
    assert _counts(jitted) == (2, 1, 1)
    assert (f"inputs['n'] equals the traced value: it decides a loop count (range()) at line "
            f"{_line(LoopCount, 1)}") in _guards(jitted)


def test_a_flag_in_an_if_retraces() -> None:
    jitted, _ = _run(Branch(), "strict", (True, False, False), {"query": "Q?", "n": 1})
    assert _counts(jitted) == (2, 1, 1)
    guards = _guards(jitted)
    assert f"inputs['strict'] equals the traced value: it decides a branch at line " \
           f"{_line(Branch, 1)}" in guards
    assert "inputs['n'] equals" not in guards  # passed whole to an operator: not guarded


def test_a_count_inside_a_comprehension_retraces() -> None:
    jitted, _ = _run(CountInComprehension(), "n", (1, 2, 2), {"query": "Q?"})
    assert _counts(jitted) == (2, 1, 1)
    assert f"it is compared at line {_line(CountInComprehension, 2)}" in _guards(jitted)


@pytest.mark.parametrize("cls", [Helper, Spread])
def test_the_whole_input_passed_on_keeps_its_numbers_guarded(cls: type[Base]) -> None:
    jitted, _ = _run(cls(), "n", (4, 6), {"query": "Q?"})
    assert _counts(jitted) == (2, 1, 1)
    how = "passed to self.pick()" if cls is Helper else "spread with * or **"
    assert f"inputs['n'] equals the traced value: the whole input is {how}" in _guards(jitted)


def test_a_constant_the_recorder_takes_for_the_input_keeps_it_guarded() -> None:
    # ``4`` in forward is the same object as inputs["x"] == 4: the recorder finds it there
    jitted, first = _run(Literal(), "x", (4, 6), {"q": "Why?"})
    assert _counts(jitted)[1] == 1
    assert (f"inputs['x'] equals the traced value: the plan would pass it at line "
            f"{_line(Literal, 1)}, where forward passes another value the recorder cannot "
            "tell from it") in first


def test_a_flag_passed_along_is_never_replayed_as_the_traced_constant() -> None:
    jitted, _ = _run(FlagPassed(), "verbose", (True, False, True), {"q": "Why?"})
    assert _counts(jitted)[1] == 2
    assert "the plan would replay its traced value" in _guards(jitted)


def test_a_call_whose_exception_is_caught_keeps_its_input_guarded() -> None:
    jitted, first = _run(Caught(), "x", (4, 6), {})
    assert _counts(jitted) == (2, 1, 1)
    assert "it goes to self.picky where its exception may be caught" in first


def test_bytecode_the_analysis_does_not_follow_guards_every_number() -> None:
    jitted, _ = _run(LocalClass(), "x", (4, 6), {"q": "Why?"})
    assert _counts(jitted) == (2, 1, 1)
    assert "LOAD_BUILD_CLASS, which this analysis does not follow" in _guards(jitted)


CELL = '''
from emberjit import Operator
from emberjit.ops import ModelCall


class Cell(Operator):
    def __init__(self, model):
        self.ask = ModelCall(model, "{query} (n={n})")
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(3)]

    def forward(self, inputs):
        answers = [m({"query": inputs["query"]}) for m in self.members]
        return self.ask({"query": answers[0]["text"], "n": inputs["n"]})


class CellLoop(Operator):
    def __init__(self, model):
        self.ask = ModelCall(model, "{query} (n={n})")

    def forward(self, inputs):
        return [self.ask(inputs) for _ in range(inputs["n"])]
'''


def test_code_without_source_is_analyzed_from_its_bytecode() -> None:
    name = "<ipython-input-3-abc>"
    assert name not in linecache.cache  # no lines anywhere: auto picks trace mode
    namespace: dict[str, Any] = {}
    exec(compile(CELL, name, "exec"), namespace)
    model = SimulatedModel(latency=0)
    cell, loop = namespace["Cell"](model), namespace["CellLoop"](model)
    passed = jit(cell)
    for n in (4, 6, 11):
        assert passed({"query": "Q?", "n": n}) == cell({"query": "Q?", "n": n})
    assert get_jit_stats(passed).mode == "trace" and _counts(passed) == (1, 0, 0)
    looped = jit(loop)
    for n in (2, 3):
        assert looped({"query": "Q?", "n": n}) == loop({"query": "Q?", "n": n})
    assert _counts(looped) == (2, 1, 1)
    assert "it decides a loop count (range()) at line 21" in _guards(looped)


def test_every_generic_opcode_moves_the_stack_as_cpython_says() -> None:
    for name, (reads, pops, pushes, _) in GENERIC.items():
        op = dis.opmap[name]
        arg = 2 if name in ("BUILD_STRING", "BUILD_SLICE") else 0x0102 if name == "UNPACK_EX" \
            else 4 if name == "FORMAT_VALUE" else 1 if op >= dis.HAVE_ARGUMENT else None
        popped = arg if pops == -1 else (2 if name == "FORMAT_VALUE" else pops)
        pushed = 4 if name == "UNPACK_EX" else pushes
        assert reads == -1 or reads >= pops, name
        assert pushed - popped == dis.stack_effect(op, arg), name
