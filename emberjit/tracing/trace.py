"""What a trace holds: :class:`Source` (where a value came from), :class:`Call`, :class:`Trace`."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Call", "Source", "Trace", "format_path"]


def format_path(path: tuple[Any, ...]) -> str:
    """``("answers", 0)`` -> ``['answers'][0]``."""
    return "".join(f"[{p!r}]" for p in path)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a value came from.

    ``kind`` is ``"input"`` (``path`` into the input; ``()`` is the input itself), ``"result"``
    (``path`` into the result of top-level call number ``call``), ``"attribute"`` (``self.name``
    of the root), ``"literal"`` (``None``/``True``/``False``), ``"build"`` (a new ``container``
    holding ``items``, each ``(key, Source)``), or ``"unknown"`` (``why`` it cannot be rebuilt).
    """

    kind: str
    path: tuple[Any, ...] = ()
    call: int = -1
    name: str = ""
    value: Any = None
    container: str = ""
    items: tuple[tuple[Any, Source], ...] = ()
    why: str = ""

    def calls(self) -> set[int]:
        """The calls whose results this value reads."""
        if self.kind == "result":
            return {self.call}
        found: set[int] = set()
        for _, item in self.items:
            found |= item.calls()
        return found

    def __str__(self) -> str:
        if self.kind == "input":
            return "inputs" + format_path(self.path)
        if self.kind == "result":
            return f"#{self.call}" + format_path(self.path)
        if self.kind == "attribute":
            return f"self.{self.name}"
        if self.kind == "literal":
            return repr(self.value)
        if self.kind == "build":
            if self.container == "dict":
                return "{" + ", ".join(f"{k!r}: {s}" for k, s in self.items) + "}"
            inner = ", ".join(str(s) for _, s in self.items)
            return f"[{inner}]" if self.container == "list" else f"({inner},)"
        return f"<glue: {self.why}>"


@dataclasses.dataclass(eq=False)
class Call:
    """One recorded operator call. ``parent`` is the index of the call it was made in (None: made
    by the traced operator's own ``forward``); ``orphan`` calls ran in a thread that did not copy
    the context, so their parent is unknown."""

    index: int
    op: Any = dataclasses.field(repr=False)
    path: str  # in the root, e.g. "ensemble.members[2]"; "" if the root does not hold it
    type_name: str
    parent: int | None
    arg_id: int
    source: Source
    thread: str
    orphan: bool
    start: float
    seconds: float = 0.0
    result_id: int = 0
    error: str | None = None
    #: where the call was made: (file, line, end line, column, end column; columns in UTF-8
    #: bytes, as ``code.co_positions()`` gives them), or None when unknown
    site: tuple[str, int, int, int, int] | None = None

    def describe(self) -> str:
        where = f"self.{self.path}" if self.path else "<not held by the root>"
        return f"#{self.index} {where} ({self.type_name})"


@dataclasses.dataclass(eq=False)
class Trace:
    """One recorded run: every operator call in start order, and where the output came from.
    ``str(trace)`` is a table (nested calls indented under their parent)."""

    root_name: str
    input_type: str
    calls: list[Call]
    output: Source
    seconds: float

    def top_level(self) -> list[Call]:
        return [c for c in self.calls if c.parent is None]

    def critical_path(self) -> float:
        """Seconds of the longest chain of dependent top-level calls (the best a parallel
        replay can do, ignoring glue code)."""
        best: dict[int, float] = {}
        for call in self.top_level():
            deps = call.source.calls()
            best[call.index] = call.seconds + max((best.get(d, 0.0) for d in deps), default=0.0)
        return max(best.values(), default=0.0)

    def __str__(self) -> str:
        t0 = self.calls[0].start if self.calls else 0.0
        depth: dict[int, int] = {}
        lines = [f"Trace of {self.root_name} on a {self.input_type}: {len(self.calls)} calls, "
                 f"{self.seconds * 1e3:.1f} ms (critical path {self.critical_path() * 1e3:.1f} ms)"]
        for call in self.calls:
            level = 0 if call.parent is None else depth.get(call.parent, 0) + 1
            depth[call.index] = level
            flags = " [other thread, parent unknown]" if call.orphan else ""
            flags += f" raised {call.error}" if call.error else ""
            lines.append(f"  {'  ' * level}{call.describe()} <- {call.source}  "
                         f"+{(call.start - t0) * 1e3:.1f} ms, {call.seconds * 1e3:.1f} ms"
                         f"{flags}")
        lines.append(f"  output <- {self.output}")
        return "\n".join(lines)
