"""Small operators for tests/test_analysis.py and tests/test_jit*.py. They live in a real file
because libcst reads their source; nothing here is a test itself."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from emberjit import Operator


class Echo(Operator[Any, Any]):
    """A leaf: returns its input (tagged) after ``delay`` seconds."""

    def __init__(self, tag: str = "e", delay: float = 0.0) -> None:
        self.tag = tag
        self.delay = delay

    def forward(self, inputs: Any) -> Any:
        if self.delay:
            time.sleep(self.delay)
        return f"{self.tag}({inputs})"


class Answer(Operator[Any, Any]):
    """A leaf that answers, sleeps ``delay``, and raises ``ValueError`` when ``fail`` is set, or
    waits on ``hang`` (an Event) when given."""

    def __init__(self, name: str, delay: float = 0.0, fail: bool = False,
                 hang: threading.Event | None = None) -> None:
        self.name = name
        self.delay = delay
        self.fail = fail
        self.hang = hang
        self.running = 0

    def forward(self, inputs: Any) -> Any:
        self.running += 1
        try:
            if self.hang is not None:
                self.hang.wait(5.0)
            if self.delay:
                time.sleep(self.delay)
            if self.fail:
                raise ValueError(f"{self.name} failed on {inputs!r}")
            return f"{self.name}:{inputs}"
        finally:
            self.running -= 1


class Join(Operator[Any, Any]):
    """A leaf: joins ``inputs["answers"]`` (strings) with ``|``."""

    def forward(self, inputs: Any) -> Any:
        return "|".join(map(str, inputs["answers"]))


class Pipeline(Operator[Any, Any]):
    """Fan out over ``members`` (a comprehension), then ``judge`` the list."""

    def __init__(self, members: list[Operator[Any, Any]],
                 judge: Callable[[Any], Any] | None = None) -> None:
        self.members = members
        self.judge = judge if judge is not None else Join()

    def forward(self, inputs: Any) -> Any:
        answers = [m(inputs) for m in self.members]
        return self.judge({"answers": answers})


class Outer(Operator[Any, Any]):
    """A composite holding a composite: ``inner`` is a :class:`Pipeline`."""

    def __init__(self, inner: Operator[Any, Any]) -> None:
        self.inner = inner
        self.first = Echo("first")

    def forward(self, inputs: Any) -> Any:
        start = self.first(inputs)
        return self.inner(start)


class Calls(Operator[Any, Any]):
    """One of each kind of call site the skeleton recognizes."""

    def __init__(self) -> None:
        self.refiner = Echo("r")
        self.members = [Echo("a"), Echo("b")]
        self.ops = {"k": Echo("k"), "j": Echo("j")}
        self.judge = Join()

    def forward(self, inputs: Any) -> Any:
        refined = self.refiner(inputs)
        first = self.members[0](refined)
        keyed = self.ops["k"](refined)
        looped = []
        for m in self.members:
            looped.append(m(refined))
        fanned = [m(refined) for m in self.members]
        helped = self.combine(fanned)
        return self.judge({"answers": [first, keyed, *looped, helped]})

    def combine(self, answers: list[Any]) -> Any:
        return self.judge({"answers": answers})


def plain_double(x: Any) -> Any:
    return x


def traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator that keeps the wrapped function reachable (functools.wraps)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


@traced
def decorated(x: Any) -> Any:
    return GLOBAL_ECHO(x)


GLOBAL_ECHO = Echo("g")


def uses_global(x: Any) -> Any:
    y = GLOBAL_ECHO(x)
    return y


def make_nested() -> type[Operator[Any, Any]]:
    """A class defined inside a function: its qualname has ``<locals>``."""

    class Nested(Operator[Any, Any]):
        def __init__(self) -> None:
            self.leaf = Echo("n")

        def forward(self, inputs: Any) -> Any:
            return self.leaf(inputs)

    return Nested


class Annotated(Operator[Any, Any]):
    """Sub-operators declared by annotations only (no ``__init__`` assignments)."""

    scorer: Echo
    panel: list[Echo]
    table: dict[str, Echo]

    def forward(self, inputs: Any) -> Any:
        return self.scorer(inputs)


class Built(Operator[Any, Any]):
    """Sub-operators assigned in ``__init__``: one, a list comprehension, a dict, and a plain
    value."""

    def __init__(self, n: int = 3) -> None:
        self.one = Echo("1")
        self.many = [Echo(str(i)) for i in range(n)]
        self.named = {"x": Echo("x"), "y": Echo("y")}
        self.size = n

    def forward(self, inputs: Any) -> Any:
        return self.one(inputs)


class RW(Operator[Any, Any]):
    """Statements whose read and write sets the tests check."""

    def __init__(self) -> None:
        self.a = Echo("a")

    def forward(self, inputs: Any) -> Any:
        x = self.a(inputs)
        y, z = x, inputs
        total = 0
        total += len(y)
        d = {}
        d[z] = [w for w in y]
        return d


def make_closure_fn(inner: Operator[Any, Any]) -> Callable[[Any], Any]:
    """A function calling an operator held in a closure cell and one from module globals."""

    def run_both(x: Any) -> Any:
        a = inner(x)
        b = GLOBAL_ECHO(x)
        return a + "+" + b

    return run_both


class Switch(Operator[Any, Any]):
    """``judge`` may be swapped for a plain function between calls (guards fail)."""

    def __init__(self) -> None:
        self.members = [Echo("a"), Echo("b")]
        self.judge: Callable[[Any], Any] = Join()

    def forward(self, inputs: Any) -> Any:
        answers = [m(inputs) for m in self.members]
        return self.judge({"answers": answers})


def plain_join(inputs: Any) -> Any:
    """Does what :class:`Join` does, but is not an operator."""
    return "|".join(map(str, inputs["answers"]))


class Glue(Operator[Any, Any]):
    """forward's own code (not an operator) raises, after an operator call."""

    def __init__(self) -> None:
        self.first = Echo("f")

    def forward(self, inputs: Any) -> Any:
        value = self.first(inputs)
        checked = value.upper()
        return {"v": checked}[inputs]


class NotAnOperator:
    def forward(self, inputs: Any) -> Any:
        return inputs


class Flip(Operator[Any, Any]):
    """Two forwards with the same body: swapping ``forward`` between them fails the plan's
    code guard on every call."""

    def __init__(self) -> None:
        self.leaf = Echo("f")

    def forward(self, inputs: Any) -> Any:
        return self.leaf(inputs)

    def forward_again(self, inputs: Any) -> Any:
        return self.leaf(inputs)
