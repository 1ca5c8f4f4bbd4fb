"""``@jit`` operators and a jitted function, compiled ahead of time by the tests."""

from __future__ import annotations

from typing import Any

from emberjit import Operator, jit

from .leaves import Join, Tag


class Fanout(Operator[dict[str, Any], dict[str, Any]]):
    """Not ``@jit`` itself: a composite child (its plan comes from CHILDREN when AOT)."""

    def __init__(self, n: int, delay: float = 0.0) -> None:
        self.members = [Tag(f"m{i}", delay) for i in range(n)]
        self.join = Join()

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        parts = [m(inputs) for m in self.members]
        return self.join({"parts": parts})


@jit
class Pipeline(Operator[dict[str, Any], dict[str, Any]]):
    """Tag, fan out to ``n`` members, join, tag again."""

    def __init__(self, n: int = 3, delay: float = 0.0) -> None:
        self.first = Tag("first", delay)
        self.fanout = Fanout(n, delay)
        self.last = Tag("last")

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        first = self.first(inputs)
        joined = self.fanout(first)
        return self.last(joined)


@jit(mode="structural")
class WithHelper(Operator[dict[str, Any], dict[str, Any]]):
    """``forward`` calls a helper method that calls operators."""

    def __init__(self) -> None:
        self.a = Tag("a")
        self.b = Tag("b")
        self.join = Join()

    def both(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.a(inputs), self.b(inputs)]

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        parts = self.both(inputs)
        return self.join({"parts": parts})


@jit
class Leafy(Operator[dict[str, Any], dict[str, Any]]):
    """A ``@jit`` leaf: auto mode keeps it eager (the decision is compiled too)."""

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"text": inputs["text"].upper()}


shout = Tag("shout")
whisper = Tag("whisper")


@jit
def both_ways(inputs: dict[str, Any]) -> dict[str, Any]:
    """A jitted function calling two module-level operators."""
    loud = shout(inputs)
    quiet = whisper(inputs)
    return {"text": loud["text"] + "|" + quiet["text"]}
