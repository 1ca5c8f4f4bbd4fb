"""Result-cache keys of what a call holds and takes (issue 16): models by their identity, the
call's parameters, sub-operators, attributes and the input's canonical encoding; each case makes
two calls' keys and asserts a hit (equal keys) or a miss. Values with no faithful encoding make a
call uncached (it still runs and answers). Source edits: tests/test_cache_keys.py."""

from __future__ import annotations

import dataclasses
import enum
import functools
import random
import threading
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from emberjit import Operator, execution_options, jit
from emberjit.cache.calls import skipped
from emberjit.cache.policy import decide
from emberjit.inputs import inputs_of
from emberjit.models import SimulatedModel
from emberjit.openai_model import OpenAIModel
from emberjit.ops import Ensemble, ModelCall


class Ask(Operator[Any, Any]):
    """One question to a model; the call's own parameters come as keyword inputs."""

    def __init__(self, model: Any, template: str = "{question}", **params: Any) -> None:
        self.model = model
        self.template = template
        self.params = params

    def forward(self, question: str, context: str = "", **extra: Any) -> str:
        prompt = self.template.format(question=question, context=context)
        return str(self.model(prompt, **self.params, **extra))


class Verbatim(ModelCall):
    """A ModelCall under another name: the same state, another class."""


class Holder(Operator[Any, Any]):
    def __init__(self, **parts: Any) -> None:
        vars(self).update(parts)

    def forward(self, inputs: Any) -> Any:
        return inputs


def key(op: object, *args: Any, **kwargs: Any) -> str:
    """The key of ``op(*args, **kwargs)``, parsed as the call parses it."""
    found, why = decide(op, inputs_of(args, kwargs))
    assert found, why
    return found


def sim(**kw: Any) -> SimulatedModel:
    return SimulatedModel(**{"latency": 0, **kw})


def openai(**kw: Any) -> OpenAIModel:
    """An OpenAIModel that never sends a request here (a dummy key, a port nobody serves)."""
    return OpenAIModel(**{"model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1",
                          "api_key": "sk-dummy", **kw})


def ask(model: Any, **params: Any) -> str:
    return key(ModelCall(model, "Answer: {query}", **params), {"query": "What is a plan?"})


def echo(value: Any) -> str:
    """The key of an operator called on ``value``: only the input differs."""
    return key(Holder(), value)


def make_suffix(suffix: str) -> Callable[[str], str]:
    def add(text: str) -> str:
        return text + suffix
    return add


def called(model: SimulatedModel, n: int) -> SimulatedModel:
    for i in range(n):
        model(f"warm up {i}")
    return model


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Pair:
    x: int
    y: int


class Coords(NamedTuple):
    x: int
    y: int


class Text(str):
    """A str subclass (a marked-up prompt, say)."""


class Limits:
    """Parameters kept in slots, not in a __dict__."""

    __slots__ = ("max_tokens",)

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens


class Typed(Operator[Any, Any]):
    """Type aliases among its class attributes (keyed by what they spell)."""

    Record = dict[str, Any]
    Maybe = int | None

    def forward(self, inputs: Any) -> Any:
        return isinstance(inputs, dict)


class FakeArray:
    """Anything with dtype, shape and tobytes is keyed as an array."""

    def __init__(self, data: bytes, dtype: str, shape: tuple[int, ...]) -> None:
        self.data, self.dtype, self.shape = data, dtype, shape

    def tobytes(self) -> bytes:
        return self.data


Case = tuple[str, Callable[[], str], Callable[[], str], bool]
M = sim()
CASES: list[Case] = [
    # -- a model's identity ------------------------------------------------------------------
    ("OpenAI base URL", lambda: ask(openai()),
     lambda: ask(openai(base_url="http://127.0.0.1:8/v1")), False),
    ("OpenAI system prompt", lambda: ask(openai(system="Be brief.")),
     lambda: ask(openai(system="Be thorough.")), False),
    ("OpenAI model name", lambda: ask(openai()), lambda: ask(openai(model="gpt-4o")), False),
    ("OpenAI api key, timeout and retries", lambda: ask(openai()),
     lambda: ask(openai(api_key="sk-other", timeout=5, max_retries=0)), True),
    ("SimulatedModel seed", lambda: ask(sim(seed=1)), lambda: ask(sim(seed=2)), False),
    ("SimulatedModel latency", lambda: ask(sim(latency=0.5)), lambda: ask(sim(latency=0)), True),
    ("SimulatedModel counters", lambda: ask(sim()), lambda: ask(called(sim(), 3)), True),
    ("SimulatedModel answers", lambda: ask(sim(answers=["yes", "no"])),
     lambda: ask(sim(answers=["yes", "maybe"])), False),
    # -- the call's parameters ---------------------------------------------------------------
    ("temperature (seeded)", lambda: ask(M, temperature=0.0),
     lambda: ask(M, temperature=0.5, seed=7), False),
    ("seed of a sampled call", lambda: ask(M, temperature=0.7, seed=1),
     lambda: ask(M, temperature=0.7, seed=2), False),
    ("max_tokens", lambda: ask(M, max_tokens=64), lambda: ask(M, max_tokens=65), False),
    ("stop sequences", lambda: ask(M, stop=["\n"]), lambda: ask(M, stop=["\n\n"]), False),
    ("a call-time parameter", lambda: key(Ask(M), question="q", max_tokens=5),
     lambda: key(Ask(M), question="q", max_tokens=6), False),
    # -- sub-operators and attributes --------------------------------------------------------
    ("sub-operator swapped for another class", lambda: key(Holder(a=ModelCall(M)), 1),
     lambda: key(Holder(a=Verbatim(M)), 1), False),
    ("sub-operator replaced by an equal instance", lambda: key(Holder(a=ModelCall(M, "t")), 1),
     lambda: key(Holder(a=ModelCall(sim(), "t")), 1), True),
    ("jit(op) and op", lambda: key(Ask(M), question="q"), lambda: key(jit(Ask(M)), question="q"),
     True),
    ("an attribute changed", lambda: key(Ask(M, "Q: {question}"), question="q"),
     lambda: key(Ask(M, "Question: {question}"), question="q"), False),
    ("members reordered",
     lambda: key(Ensemble([ModelCall(M, "a {query}"), ModelCall(M, "b {query}")]), {"query": 1}),
     lambda: key(Ensemble([ModelCall(M, "b {query}"), ModelCall(M, "a {query}")]), {"query": 1}),
     False),
    ("a member added", lambda: key(Ensemble([ModelCall(M)]), {"query": 1}),
     lambda: key(Ensemble([ModelCall(M), ModelCall(M)]), {"query": 1}), False),
    ("closures of one factory", lambda: key(Holder(a=make_suffix("!"), b=make_suffix("?")), 1),
     lambda: key(Holder(a=make_suffix("!"), b=make_suffix("!")), 1), False),
    ("equal closures of one factory", lambda: key(Holder(a=make_suffix("!")), 1),
     lambda: key(Holder(a=make_suffix("!")), 1), True),
    ("functools.partial arguments",
     lambda: key(Holder(f=functools.partial(make_suffix("!"), "a")), 1),
     lambda: key(Holder(f=functools.partial(make_suffix("!"), "b")), 1), False),
    ("a slot's value", lambda: key(Holder(limits=Limits(64)), 1),
     lambda: key(Holder(limits=Limits(65)), 1), False),
    ("type aliases as class attributes", lambda: key(Typed(), 1), lambda: key(Typed(), 1), True),
    ("a bound builtin method", lambda: key(Holder(join=", ".join), 1),
     lambda: key(Holder(join="; ".join), 1), False),
    # -- the input -----------------------------------------------------------------------------
    ("dict key order", lambda: echo({"a": 1, "b": [1, 2]}), lambda: echo({"b": [1, 2], "a": 1}),
     True),
    ("1 vs 1.0", lambda: echo({"n": 1}), lambda: echo({"n": 1.0}), False),
    ("1 vs True", lambda: echo({"n": 1}), lambda: echo({"n": True}), False),
    ("1.0 vs True", lambda: echo([1.0]), lambda: echo([True]), False),
    ("0.0 vs -0.0", lambda: echo(0.0), lambda: echo(-0.0), False),
    ("None vs empty string", lambda: echo(None), lambda: echo(""), False),
    ("bytes vs bytearray", lambda: echo(b"a"), lambda: echo(bytearray(b"a")), False),
    ("str vs bytes", lambda: echo("a"), lambda: echo(b"a"), False),
    ("str vs a str subclass", lambda: echo("a"), lambda: echo(Text("a")), False),
    ("tuple vs list", lambda: echo((1, 2)), lambda: echo([1, 2]), False),
    ("nested containers, deep change", lambda: echo({"a": [1, {"b": (2, [3])}]}),
     lambda: echo({"a": [1, {"b": (2, (3,))}]}), False),
    ("nested containers built apart", lambda: echo({"a": [1, {"b": (2, [3]), "c": None}]}),
     lambda: echo(dict(a=[1, dict(c=None, b=(2, [3]))])), True),
    ("set order", lambda: echo({"pear", "apple", 3}), lambda: echo({3, "apple", "pear"}), True),
    ("set vs frozenset", lambda: echo({1}), lambda: echo(frozenset({1})), False),
    ("enum members", lambda: echo(Color.RED), lambda: echo(Color.GREEN), False),
    ("an enum member and its value", lambda: echo(Color.RED), lambda: echo(1), False),
    ("an IntEnum member and its int", lambda: echo(Level.LOW), lambda: echo(1), False),
    ("equal dataclasses", lambda: echo(Point(1, 2)), lambda: echo(Point(1, 2)), True),
    ("dataclass fields", lambda: echo(Point(1, 2)), lambda: echo(Point(2, 1)), False),
    ("dataclasses of two classes", lambda: echo(Point(1, 2)), lambda: echo(Pair(1, 2)), False),
    ("a dataclass and a dict", lambda: echo(Point(1, 2)), lambda: echo({"x": 1, "y": 2}),
     False),
    ("a namedtuple and a tuple", lambda: echo(Coords(1, 2)), lambda: echo((1, 2)), False),
    ("two namedtuple classes", lambda: echo(Coords(1, 2)),
     lambda: echo(namedtuple("XY", "x y")(1, 2)), False),
    ("keyword order", lambda: key(Ask(M), question="q", context="c"),
     lambda: key(Ask(M), context="c", question="q"), True),
    ("positional, keyword, default", lambda: key(Ask(M), "q"),
     lambda: key(Ask(M), question="q", context=""), True),
    ("array dtype", lambda: echo(FakeArray(b"\0" * 8, "int64", (1,))),
     lambda: echo(FakeArray(b"\0" * 8, "float64", (1,))), False),
    ("array shape", lambda: echo(FakeArray(b"\0" * 8, "int32", (2,))),
     lambda: echo(FakeArray(b"\0" * 8, "int32", (1, 2))), False),
]


@pytest.mark.parametrize(("first", "second", "hit"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_key_changes_exactly_when_the_result_may(first: Callable[[], str],
                                                    second: Callable[[], str], hit: bool) -> None:
    assert first() == first()  # a key is a function of the call
    assert (first() == second()) is hit


def test_arrays_with_equal_bytes_and_another_dtype_or_shape_miss() -> None:
    np = pytest.importorskip("numpy", reason="numpy is not installed: FakeArray cases stand in")
    base = np.zeros(4, dtype=np.int32)
    assert echo(base) == echo(np.zeros(4, dtype=np.int32))
    assert echo(base) != echo(base.view(np.float32))  # the same bytes
    assert echo(base) != echo(base.reshape(2, 2))


# -- what cannot be keyed is not cached, and still runs ---------------------------------------


class Locked(Operator[Any, Any]):
    def __init__(self, model: Any) -> None:
        self.ask = ModelCall(model)
        self.lock = threading.Lock()

    def forward(self, inputs: Any) -> Any:
        with self.lock:
            return self.ask(inputs)


class Reader(Operator[Any, Any]):
    def __init__(self, model: Any) -> None:
        self.model = model

    def forward(self, inputs: Any) -> Any:
        return self.model(inputs.read())


class Dice(Operator[Any, Any]):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def forward(self, inputs: Any) -> Any:
        return self.rng.choice(inputs)


def test_an_operator_holding_a_lock_is_not_cached_and_still_answers(tmp_path: Path) -> None:
    model = sim()
    op = Locked(model)
    found, why = decide(op, {"query": "q"})
    assert found is None and "Locked" in str(why) and "lock" in str(why)
    with execution_options(cache=tmp_path / "r.db"):
        answers = [op({"query": "q"}), op({"query": "q"})]
    assert answers == [{"text": model.respond("q")}] * 2
    assert model.calls == 1  # its own calls are not served; its pure model call is
    assert any(name == "Locked" and "lock" in reason for name, reason in skipped())


def test_an_open_file_as_input_is_not_cached_and_still_answers(tmp_path: Path) -> None:
    model = sim()
    (tmp_path / "q.txt").write_text("What is a file?")
    with open(tmp_path / "q.txt") as file:
        found, why = decide(Reader(model), file)
        assert found is None and "TextIOWrapper" in str(why)
        with execution_options(cache=tmp_path / "r.db"):
            assert Reader(model)(file) == model.respond("What is a file?")
    assert model.calls == 1


def test_an_object_whose_state_is_hidden_in_c_is_not_cached() -> None:
    """random.Random keeps its state in C: its attributes alone would make two seeds equal."""
    found, why = decide(Dice(1), [1, 2, 3])
    assert found is None and "Dice" in str(why) and "Random" in str(why)


def test_an_object_that_says_what_identifies_it_is_keyed_by_that() -> None:
    class Client:
        def __init__(self, url: str) -> None:
            self.url, self.lock = url, threading.Lock()

        def __emberjit_cache_key__(self) -> str:
            return self.url

    assert key(Holder(c=Client("a")), 1) == key(Holder(c=Client("a")), 1)
    assert key(Holder(c=Client("a")), 1) != key(Holder(c=Client("b")), 1)


def test_a_model_that_samples_by_its_own_temperature_is_not_served(tmp_path: Path) -> None:
    class Sampler:
        """A model wrapper holding its sampling parameters (not an operator)."""

        def __init__(self, model: SimulatedModel, temperature: float, seed: int | None) -> None:
            self.model, self.temperature, self.seed = model, temperature, seed

        def __call__(self, prompt: str) -> str:
            return self.model(prompt, temperature=self.temperature)

    model = sim()
    hot, seeded = Sampler(model, 0.9, None), Sampler(model, 0.9, 3)
    assert "temperature 0.9" in str(decide(ModelCall(hot), {"query": "q"})[1])
    partial = functools.partial(model, temperature=0.8)
    assert "temperature 0.8" in str(decide(ModelCall(partial), {"query": "q"})[1])
    with execution_options(cache=tmp_path / "r.db"):
        for _ in range(2):
            ModelCall(hot)({"query": "q"})
        assert model.calls == 2
        for _ in range(2):
            ModelCall(seeded)({"query": "q"})
    assert model.calls == 3  # the seeded sample is part of the key: served the second time
