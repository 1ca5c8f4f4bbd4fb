"""Where a traced run spent its time outside operator calls: the slow ordinary calls.

A plan starts operator calls and leaves (``emberjit.leaf``) concurrently; every other call in
``forward`` is ordinary code that runs in program order. When one of those is slow (a model
reached through a plain object, an HTTP client, a search library), the plan cannot overlap it,
and explain should say so and how to mark it. :class:`Timer` times the calls ``forward``'s own
frame makes during the one traced run (``sys.setprofile`` on the tracing thread, restored after);
:func:`slow_calls` subtracts the operator calls each one made, and keeps those that took a
noticeable share of the run.
"""

from __future__ import annotations

import dataclasses
import linecache
import sys
import time
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["SlowCall", "Timer", "slow_calls"]

#: a call is reported when it spent at least this long, and this share of the traced run,
#: outside operator calls
MIN_SECONDS, MIN_SHARE = 0.01, 0.1


@dataclasses.dataclass(frozen=True)
class SlowCall:
    """An ordinary call ``forward`` made on ``line`` that took ``seconds`` outside operator
    calls during the traced run."""

    line: int
    callee: str
    seconds: float
    text: str = ""  # the line as written

    def __str__(self) -> str:
        what = f"{self.callee}(...)" if "<" not in self.callee else "its ordinary code"
        where = f"line {self.line} ({self.text})" if self.text else f"line {self.line}"
        return (f"{where}: {what} took {self.seconds * 1e3:.0f} ms of the "
                "traced run outside any operator call, and the plan runs it as ordinary code, in "
                "program order; if it calls a model or a service (its result depends only on its "
                "arguments), mark its method or function with @emberjit.leaf and it becomes a "
                "call site that starts concurrently")


class Timer:
    """Times the calls made directly by frames running ``code`` (on this thread), while
    active: ``(line, callee, start, end)`` spans."""

    def __init__(self, code: types.CodeType | None) -> None:
        self.code = code
        self.spans: list[tuple[int, str, float, float]] = []
        self._open: dict[object, tuple[int, str, float]] = {}
        self._previous: Any = None
        self._active = False

    def __enter__(self) -> Timer:
        # another profiler (a debugger, coverage) keeps the thread: then nothing is timed
        if self.code is not None and sys.getprofile() is None:
            self._active = True
            sys.setprofile(self._event)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            sys.setprofile(None)
            self._active = False

    def _event(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call":
            back = frame.f_back
            if back is not None and back.f_code is self.code:
                self._open[frame] = (back.f_lineno, frame.f_code.co_qualname, time.perf_counter())
        elif event == "return":
            self._close(frame)
        elif event == "c_call":
            if frame.f_code is self.code:
                name = getattr(arg, "__qualname__", None) or getattr(arg, "__name__", "?")
                self._open[(id(frame), id(arg))] = (frame.f_lineno, str(name), time.perf_counter())
        elif event in ("c_return", "c_exception"):
            self._close((id(frame), id(arg)))

    def _close(self, key: object) -> None:
        opened = self._open.pop(key, None)
        if opened is not None:
            line, name, start = opened
            self.spans.append((line, name, start, time.perf_counter()))


def slow_calls(spans: Sequence[tuple[int, str, float, float]],
               operator_calls: Sequence[tuple[float, float]], total: float,
               filename: str = "") -> list[SlowCall]:
    """The spans that took at least ``MIN_SECONDS`` and ``MIN_SHARE`` of ``total`` after the
    operator calls made during them (``(start, end)``) are taken out; per line, the longest
    (``filename``: forward's file, to show the line)."""
    found: dict[int, SlowCall] = {}
    for line, callee, start, end in spans:
        inside = sum(min(end, e) - max(start, s) for s, e in operator_calls
                     if s < end and e > start)
        own = end - start - inside
        if own >= MIN_SECONDS and own >= MIN_SHARE * total and (
                line not in found or own > found[line].seconds):
            text = linecache.getline(filename, line).strip() if filename else ""
            found[line] = SlowCall(line, callee, own, text[:70])
    return sorted(found.values(), key=lambda c: c.line)
