"""What a trace holds: :class:`Source` (where a value came from), :class:`Call`, :class:`Trace`."""

from __future__ import annotations

import dataclasses
from typing import Any

from .timer import SlowCall

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
    #: ordinary calls of forward that took a noticeable share of the run (see tracing.timer)
    slow: tuple[SlowCall, ...] = ()

    def top_level(self) -> list[Call]:
        return [c for c in self.calls if c.parent is None]

    def site_lines(self, held: str | None = None) -> tuple[str, ...]:
        """explain's call sites for a trace plan: one line per source line that made top-level
        calls (``concurrent``, or ``dependent`` on the lines whose results it read; ``held``:
        why the plan runs forward eagerly, if it does), then a summary with the critical path
        in calls and in the traced seconds."""
        top = self.top_level()
        line_of = {c.index: c.site[1] if c.site else 0 for c in top}
        by_line: dict[int, list[Call]] = {}
        for call in top:
            by_line.setdefault(line_of[call.index], []).append(call)
        out, counts = [], {"concurrent": 0, "dependent": 0, "held back": 0}
        for line, calls in sorted(by_line.items()):
            deps = sorted({line_of[d] for c in calls for d in c.source.calls() if d in line_of})
            status = ("held back" if held is not None else "dependent" if deps else "concurrent")
            detail = (f": {held}" if held is not None else
                      ": waits on the results of line " + ", ".join(map(str, deps)) if deps
                      else "")
            where = f"line {line}" if line else "line ?"
            out.append(f"{where} self.{calls[0].path or calls[0].type_name}(...): {status}"
                       f"{detail} (traced {len(calls)} call{'s' * (len(calls) != 1)}, "
                       f"{max(c.seconds for c in calls) * 1e3:.1f} ms)")
            counts[status] += 1
        depth: dict[int, int] = {}
        for call in top:
            depth[call.index] = 1 + max((depth.get(d, 0) for d in call.source.calls()),
                                        default=0)
        longest = max(depth.values(), default=0)
        ideal = (f"{longest} call{'s' * (longest != 1)}, {self.critical_path() * 1e3:.1f} ms by "
                 "the trace's timings")
        path = (f"critical path {len(top)} call{'s' * (len(top) != 1)} (forward runs eagerly; "
                f"dataflow ideal {ideal})" if held is not None else f"critical path {ideal}")
        out.append(f"{len(by_line)} call site{'s' * (len(by_line) != 1)}: "
                   f"{counts['concurrent']} concurrent, {counts['dependent']} dependent, "
                   f"{counts['held back']} held back; {path}; the traced run took "
                   f"{self.seconds * 1e3:.1f} ms")
        return tuple(out)

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
