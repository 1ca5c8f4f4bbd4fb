"""Operators for the regression tests of issue 12: programs whose plans once differed from eager
(mutation after a call, impure operators reached other than as call sites, calls subscripted at
once under async, a failing call beside a sync sibling, variadic forwards, composites that hold
impure operators). Kept in a module of their own so Dask workers can import them."""

from __future__ import annotations

import threading
import time
from typing import Any

from emberjit import Operator

LOG: list[str] = []
RUNNING = [0]  # leaf calls running right now
_lock = threading.Lock()


def _enter() -> None:
    with _lock:
        RUNNING[0] += 1


def _leave() -> None:
    with _lock:
        RUNNING[0] -= 1


def total(value: Any) -> int:
    """A deterministic number from the *current* contents of ints, lists and dicts."""
    if isinstance(value, dict):
        return sum(total(v) * (i + 1) for i, v in enumerate(value.values()))
    if isinstance(value, list | tuple):
        return sum(total(v) * (i + 1) for i, v in enumerate(value))
    return value if isinstance(value, int) else len(str(value))


class Peek(Operator[Any, int]):
    """Reads its input only after a pause: a mutation made meanwhile would show."""

    def __init__(self, delay: float = 0.03) -> None:
        self.delay = delay

    def forward(self, inputs: Any) -> int:
        _enter()
        try:
            time.sleep(self.delay)
            return total(inputs)
        finally:
            _leave()


class Logged(Operator[Any, Any]):
    """Impure: appends its tag to ``LOG`` after a pause."""

    pure = False

    def __init__(self, tag: str, delay: float = 0.0) -> None:
        self.tag, self.delay = tag, delay

    def forward(self, inputs: Any) -> Any:
        time.sleep(self.delay)
        LOG.append(self.tag)
        return inputs


class Fail(Operator[Any, Any]):
    def forward(self, inputs: Any) -> Any:
        raise ValueError(f"fail on {inputs!r}")


class Text(Operator[Any, dict[str, str]]):
    def forward(self, inputs: Any) -> dict[str, str]:
        return {"text": f"  {inputs}  "}


# -- 1. mutation after a call ---------------------------------------------------------------

class AugSubscript(Operator[int, int]):
    def __init__(self) -> None:
        self.a = Peek()

    def forward(self, inputs: int) -> int:
        box = {"n": inputs, "m": 0}
        seen = self.a(box)
        box["n"] += 1
        return seen


class DelKey(Operator[int, int]):
    def __init__(self) -> None:
        self.a = Peek()

    def forward(self, inputs: int) -> int:
        box = {"n": inputs, "m": 3}
        seen = self.a(box)
        del box["m"]
        return seen + len(box)


class ListItems(Operator[int, int]):
    def __init__(self) -> None:
        self.a, self.b = Peek(), Peek(0.01)

    def forward(self, inputs: int) -> int:
        xs = [inputs, 2, [7]]
        seen = self.a(xs)
        xs[0] += 1
        other = self.b(xs)
        del xs[1]
        xs[-1].append(5)
        return seen * 1000 + other


class ThroughAliases(Operator[int, int]):
    def __init__(self) -> None:
        self.a, self.b = Peek(), Peek(0.01)

    def forward(self, inputs: int) -> int:
        box = {"n": inputs}
        alias = box
        outer = {"inner": box}
        seen = self.a(outer)
        alias["n"] += 2
        held = self.b(box)
        outer["inner"]["n"] = -1
        return seen * 1000 + held


# -- 2. impure operators reached other than as call sites -------------------------------------

def via(inputs: Any, op: Any) -> Any:
    return op(inputs)


class _Ordered(Operator[str, list[Any]]):
    def __init__(self) -> None:
        self.first = Logged("first", delay=0.05)
        self.second = Logged("second")


class StarCall(_Ordered):
    def forward(self, inputs: str) -> list[Any]:
        a = self.first(inputs)
        b = self.second(*[inputs])
        return [a, b]


class ZipComprehension(_Ordered):
    def forward(self, inputs: str) -> list[Any]:
        a = self.first(inputs)
        b = [w(f"{s}:{inputs}") for w, s in zip([self.second], ("terse",), strict=True)][0]  # noqa: RUF015
        return [a, b]


class HelperGivenOperator(_Ordered):
    def _via(self, op: Any, x: Any) -> Any:
        return op(x)

    def forward(self, inputs: str) -> list[Any]:
        a = self.first(inputs)
        b = self._via(self.second, inputs)
        return [a, b]


class ModuleFunction(_Ordered):
    def forward(self, inputs: str) -> list[Any]:
        a = self.first(inputs)
        b = via(inputs + "!", self.second)
        return [a, b]


class SleepsBetween(_Ordered):
    """Standard-library code emberjit does not follow: it runs after the calls before it."""

    def forward(self, inputs: str) -> list[Any]:
        a = self.first(inputs)
        time.sleep(0)
        b = self.second(inputs)
        return [a, b]


# -- 3. a call subscripted at once --------------------------------------------------------------

class SubscriptedAtOnce(Operator[str, str]):
    def __init__(self) -> None:
        self.a = Text()

    def forward(self, inputs: str) -> str:
        return self.a(inputs)["text"].strip() + self.a(inputs)["text"].upper()


# -- 4. a failing call beside a slow sync sibling ------------------------------------------------

class FailBesideSlow(Operator[int, list[int]]):
    def __init__(self) -> None:
        self.members: list[Operator[Any, Any]] = [Fail(), Peek(0.2)]

    def forward(self, inputs: int) -> list[int]:
        return [m(inputs) for m in self.members]


class GeneratorSum(Operator[int, int]):
    """Its plan waits inside a generator expression, so it has no async variant: under the
    async scheduler it runs on a thread, which a cancelled caller must still wait for."""

    def __init__(self) -> None:
        self.members = [Peek(0.2), Peek(0.2)]

    def forward(self, inputs: int) -> int:
        return sum(m(inputs) for m in self.members)


class FailBesideNested(Operator[int, list[int]]):
    def __init__(self) -> None:
        self.members: list[Operator[Any, Any]] = [Fail(), GeneratorSum()]

    def forward(self, inputs: int) -> list[int]:
        return [m(inputs) for m in self.members]


# -- 5. variadic forwards -------------------------------------------------------------------------

class StarArgs(Operator[int, int]):
    def __init__(self) -> None:
        self.a = Peek(0.0)

    def forward(self, *args: Any) -> int:
        return self.a(args[0]) + len(args)


class StarKwargs(Operator[int, int]):
    def __init__(self) -> None:
        self.a = Peek(0.0)

    def forward(self, inputs: int, **kwargs: Any) -> int:
        return self.a(inputs) + len(kwargs)


class Both(Operator[int, int]):
    def __init__(self) -> None:
        self.a = Peek(0.0)

    def forward(self, *args: Any, **kwargs: Any) -> int:
        x = args[0]
        return self.a(x) * 2 + len(kwargs) + len(args)


# -- 6. a composite that holds an impure operator ----------------------------------------------

class Wraps(Operator[str, Any]):
    """Does not say ``pure = False``, but calls an impure operator."""

    def __init__(self) -> None:
        self.inner = Logged("wrapped")

    def forward(self, inputs: str) -> Any:
        return self.inner(inputs)


class DerivedImpure(Operator[str, list[Any]]):
    def __init__(self) -> None:
        self.slow = Logged("slow", delay=0.05)
        self.wraps = Wraps()

    def forward(self, inputs: str) -> list[Any]:
        a = self.slow(inputs)
        b = self.wraps(inputs)
        return [a, b]
