"""Profiles of plan runs: ``with emberjit.profile("run.json") as prof:``.

Inside the block every operator call is recorded (on any scheduler, in nested plans too, made in
place by a plan's own code or inside an operator that runs eagerly, and every input of
:func:`emberjit.vmap`): its operator path
(``Pipeline.ensemble.members[3] (ModelCall)``), start, end, thread and scheduler, and the call it
ran inside of. On exit the calls are written as Chrome trace-event JSON (open the file in
https://ui.perfetto.dev or ``chrome://tracing``); :meth:`Profile.summary` gives the wall time, the
critical path (the longest chain of calls that ran one after another, nested chains included)
and the operators that took the most time.

The schedulers check one module-level flag (:data:`emberjit.profiling.hooks`, ``hooks.active``)
per call, so with no profile open the cost is one attribute read; an open profile installs its
recorder there (the hook protocol sits below the runtime, the recording here above it).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import dataclasses
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import operator_name
from .profiling import Label, Site, hooks

__all__ = ["Call", "Profile", "ProfileSummary", "hooks", "profile"]


@dataclasses.dataclass(eq=False)
class Call:
    """One recorded operator call. Times are ``time.perf_counter()`` seconds."""

    op: object
    scheduler: str
    start: float
    thread: int
    thread_name: str
    parent: Call | None
    label: Label | None  # (plan root, namer) or a name of its own
    end: float = 0.0
    error: str | None = None
    #: the runner that recorded this call has seen ``op(x)`` itself begin (Operator.__call__)
    entered: bool = False
    #: served without running: "hit" (from the result cache) or "merged" (an identical call's)
    cached: str | None = None
    _name: str | None = dataclasses.field(default=None, repr=False)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def path(self) -> str:
        """``Pipeline.ensemble.members[3]``: where the operator sits, from the outermost plan."""
        if self._name is None:
            self._name = self._path()
        return self._name

    @property
    def name(self) -> str:
        """``Pipeline.ensemble.members[3] (ModelCall)``."""
        return f"{self.path} ({operator_name(self.op)})"

    def _path(self) -> str:
        label, base = self.label, self.parent.path if self.parent is not None else None
        if isinstance(label, str):  # a batch input: its own name
            return f"{base}.{label}" if base else label
        if label is None:
            return f"{base}>{operator_name(self.op)}" if base else operator_name(self.op)
        root, namer = label
        relative = namer(self.op)
        if base is None:
            return f"{root}.{relative}" if relative else f"{root}>{operator_name(self.op)}"
        return f"{base}.{relative}" if relative else f"{base}>{operator_name(self.op)}"


@dataclasses.dataclass(frozen=True)
class ProfileSummary:
    """Wall time, critical path and top operators of a profile; ``str()`` prints a report."""

    wall_seconds: float
    calls: int
    critical_path_seconds: float
    critical_path: tuple[tuple[int, str, float], ...]  # (depth, call name, seconds)
    top: tuple[tuple[str, int, float], ...]  # (operator path, calls, total seconds)

    def __str__(self) -> str:
        lines = [f"wall time: {self.wall_seconds * 1000:.1f} ms, {self.calls} operator calls",
                 f"critical path: {self.critical_path_seconds * 1000:.1f} ms"]
        lines += [f"  {'  ' * depth}{name}  {seconds * 1000:.1f} ms"
                  for depth, name, seconds in self.critical_path]
        lines.append("top operators by time (inclusive):")
        width = max((len(name) for name, _, _ in self.top), default=10)
        lines += [f"  {name:<{width}}  {count:>5} calls  {total * 1000:9.1f} ms"
                  for name, count, total in self.top]
        return "\n".join(lines)


class Profile:
    """What :func:`profile` returns: a context manager that records calls (see module doc)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.calls: list[Call] = []
        self.started = self.ended = 0.0
        self._token: contextvars.Token[Profile | None] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Profile:
        if self._token is not None:
            raise RuntimeError("this profile is already recording; open a new emberjit.profile()")
        self._token = _current.set(self)
        hooks.opened(_RECORDER)
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.ended = time.perf_counter()
        hooks.closed()
        assert self._token is not None
        _current.reset(self._token)
        self._token = None
        if self.path is not None:
            self.write(self.path)

    # -- recording (called by the runners, through the hook) -----------------------------------

    @contextlib.contextmanager
    def _recording(self, call: Call) -> Iterator[None]:
        """``call`` is the parent of the calls made inside (named after its operator until a
        plan says otherwise); on exit it ends (failed, if the body raised) and is kept."""
        token, scope = _parent.set(call), _scope.set(None)
        try:
            yield
        except BaseException as exc:
            call.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            call.end = time.perf_counter()
            _scope.reset(scope)
            _parent.reset(token)
            with self._lock:
                self.calls.append(call)

    # -- results -------------------------------------------------------------------------------

    def trace(self) -> dict[str, Any]:
        """The Chrome trace-event document (``{"traceEvents": [...]}``, times in microseconds)."""
        pid, origin = os.getpid(), self.started
        tids: dict[int, int] = {}
        events: list[dict[str, Any]] = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                                         "args": {"name": "emberjit"}}]
        for call in sorted(self.calls, key=lambda c: (c.start, -c.end)):
            if call.thread not in tids:
                tids[call.thread] = len(tids) + 1
                events.append({"name": "thread_name", "ph": "M", "pid": pid,
                               "tid": tids[call.thread], "args": {"name": call.thread_name}})
            args: dict[str, Any] = {"operator": operator_name(call.op),
                                    "scheduler": call.scheduler, "thread": call.thread_name}
            if call.parent is not None:
                args["parent"] = call.parent.name
            if call.error is not None:
                args["error"] = call.error
            if call.cached is not None:
                args["cache"] = call.cached
            events.append({"name": call.name, "cat": call.scheduler, "ph": "X",
                           "ts": round((call.start - origin) * 1e6, 3),
                           "dur": round(call.duration * 1e6, 3),
                           "pid": pid, "tid": tids[call.thread], "args": args})
        return {"traceEvents": events, "displayTimeUnit": "ms",
                "otherData": {"producer": "emberjit.profile",
                              "wall_ms": round(self.wall_seconds * 1000, 3)}}

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`trace` as JSON to ``path`` (atomically); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.trace(), indent=1), encoding="utf-8")
        os.replace(temporary, target)
        return target

    @property
    def wall_seconds(self) -> float:
        end = self.ended or time.perf_counter()
        return end - self.started if self.started else 0.0

    def summary(self, top: int = 10) -> ProfileSummary:
        """Wall time, critical path, and the ``top`` operator paths by total time (indices
        folded: ``members[*]``)."""
        calls = list(self.calls)
        children: dict[int, list[Call]] = {}
        roots = []
        for call in calls:
            if call.parent is None:
                roots.append(call)
            else:
                children.setdefault(id(call.parent), []).append(call)
        seconds, chain = _critical(roots, children, 0)
        totals: dict[str, tuple[int, float]] = {}
        for call in calls:
            key = _INDEX.sub("[*]", call.name)
            count, total = totals.get(key, (0, 0.0))
            totals[key] = (count + 1, total + call.duration)
        ranked = sorted(totals.items(), key=lambda item: -item[1][1])[:top]
        return ProfileSummary(self.wall_seconds, len(calls), seconds, tuple(chain),
                              tuple((name, count, total) for name, (count, total) in ranked))


_INDEX = re.compile(r"\[\d+\]")


def _critical(calls: list[Call], children: dict[int, list[Call]],
              depth: int) -> tuple[float, list[tuple[int, str, float]]]:
    """The longest chain of calls that ran one after another (each starting after the previous
    one ended), by total duration; each call on it is followed by its own inner chain."""
    if not calls:
        return 0.0, []
    ordered = sorted(calls, key=lambda c: c.end)
    ends = [c.end for c in ordered]
    best: list[float] = []  # best[i]: longest chain ending with ordered[i]
    prefix: list[int] = []  # prefix[i]: index of the best chain among ordered[: i + 1]
    previous: list[int] = []
    for i, call in enumerate(ordered):
        j = bisect.bisect_right(ends, call.start, 0, i) - 1  # last call ending before this starts
        before = prefix[j] if j >= 0 else -1
        best.append(call.duration + (best[before] if before >= 0 else 0.0))
        previous.append(before)
        prefix.append(i if not prefix or best[i] > best[prefix[-1]] else prefix[-1])
    chain, i = [], prefix[-1]
    while i >= 0:
        chain.append(ordered[i])
        i = previous[i]
    lines: list[tuple[int, str, float]] = []
    for call in reversed(chain):
        lines.append((depth, call.name, call.duration))
        lines += _critical(children.get(id(call), []), children, depth + 1)[1]
    return best[prefix[-1]], lines


class _Recorder:
    """The :class:`~emberjit.profiling.Recorder` the runners call while a profile is open:
    each call is recorded in the profile of its context (if any)."""

    def record(self, op: object, site: Site) -> AbstractContextManager[None]:
        prof = _current.get()
        if prof is None:
            return contextlib.nullcontext()
        return prof._recording(_call(op, site.scheduler, site.label, site.task))

    def entered(self, op: object) -> AbstractContextManager[None]:
        prof = _current.get()
        if prof is None:
            return contextlib.nullcontext()
        parent, scope = _parent.get(), _scope.get()
        if parent is not None and not parent.entered and parent.op in (op, _unwrapped(op)):
            parent.entered = True  # the call its runner records: once is enough
            return contextlib.nullcontext()
        if scope is None:
            if parent is None:  # outside any plan or call: the root, named, not recorded
                return _scoped((operator_name(_unwrapped(op)), _namer(op)), op)
            label: Label = ("", _namer(parent.op))  # inside an eager forward: after its owner
        elif parent is None and scope[1] is op:  # the root again (its sync forward, off a loop)
            return contextlib.nullcontext()
        else:
            label = scope[0]
        in_task = asyncio._get_running_loop() is not None and asyncio.current_task() is not None
        return prof._recording(_call(op, "eager", label, in_task))

    def plan(self, label: Label) -> AbstractContextManager[None]:
        if _current.get() is None:
            return contextlib.nullcontext()
        return _scoped(label, None)

    def served(self, op: object, how: str) -> None:
        call = _parent.get()
        if call is not None and call.op in (op, _unwrapped(op)):
            call.cached = how


def _call(op: object, scheduler: str, label: Label, in_task: bool) -> Call:
    """A call of ``op`` starting now, on the track of the task (if ``in_task``) or thread."""
    if in_task:  # an asyncio task: its own track (tasks on one loop thread overlap)
        task = asyncio.current_task()
        track, name = id(task), f"asyncio {task.get_name() if task else 'task'}"
    else:
        thread = threading.current_thread()
        track, name = thread.ident or 0, thread.name
    return Call(op, scheduler, time.perf_counter(), track, name, _parent.get(), label)


@contextlib.contextmanager
def _scoped(label: Label, root: object) -> Iterator[None]:
    token = _scope.set((label, root))
    try:
        yield
    finally:
        _scope.reset(token)


def _unwrapped(op: object) -> object:
    """The operator a ``jit(instance)`` wrapper wraps, else ``op``."""
    wraps = getattr(type(op), "_emberjit_wraps", None)
    return vars(op).get(wraps, op) if wraps and hasattr(op, "__dict__") else op


def _namer(owner: object) -> Callable[[object], str]:
    """Names a sub-operator by its path in ``owner`` (``members[3]``); "" when not found."""
    def name(op: object) -> str:
        subs = getattr(_unwrapped(owner), "sub_operators", None)
        if subs is None:
            return ""
        return next((path for path, sub in subs() if sub is op or sub is _unwrapped(op)), "")
    return name


_RECORDER = _Recorder()
_current: contextvars.ContextVar[Profile | None] = contextvars.ContextVar(
    "emberjit_profile", default=None)
_parent: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "emberjit_profile_parent", default=None)
#: how a call made here, not by a runner, is named: ``(label, None)`` in a plan's own code,
#: ``(label, root operator)`` under a root call, None inside a recorded call (after its operator)
_scope: contextvars.ContextVar[tuple[Label, object] | None] = contextvars.ContextVar(
    "emberjit_profile_scope", default=None)


def profile(path: str | os.PathLike[str] | None = None) -> Profile:
    """Record every operator call plans make inside ``with profile(path) as prof:``; on exit
    write Chrome trace-event JSON to ``path`` (when given). ``prof.summary()`` reports the wall
    time, the critical path and the top operators; ``prof.trace()`` is the JSON document."""
    return Profile(path)
