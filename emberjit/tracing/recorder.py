"""The recorder: one traced run of an operator, every operator call it made, and where each
argument came from.

:func:`record` runs ``root``'s ``forward`` eagerly while a recorder is active. The recorder lives in
a context variable (so it follows plans into scheduler threads, which copy the caller's context,
and nested operators); ``Operator.__call__`` reports calls to it through a hook that is installed
only while some trace is active, so eager calls otherwise pay one global read. Calls made in
threads that did not copy the context (a ``ThreadPoolExecutor`` in glue code) are still recorded
when exactly one trace is active and the callee belongs to its root; their parent is unknown.

Arguments are described by identity: the input itself, a path into it, an earlier top-level
call's result or a path into one, an attribute of the root (a constant), ``None``/``True``/
``False``, or a new list/dict/tuple of such parts. Anything else was built by glue code and
cannot be rebuilt from a new input.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
import threading
import time
import types
from typing import Any

from .. import operator as _operator_module
from ..operator import Operator, call_eager, call_untraced
from .timer import Timer, slow_calls
from .trace import Call, Source, Trace, format_path

__all__ = ["Recorder", "record"]

_MAX_DEPTH = 4
_recorder: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "emberjit_trace_recorder", default=None)
_parent: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "emberjit_trace_parent", default=None)
_active: list[Recorder] = []
_active_lock = threading.Lock()


def _walk(value: Any, path: tuple[Any, ...], depth: int, into: dict[int, tuple[Any, ...]],
          twice: dict[int, tuple[Any, ...]] | None = None) -> None:
    """Register ``id(part) -> path`` for ``value`` and its dict/list/tuple parts. A part found at
    two paths (``r["vote"]["answer"]`` is also ``r["answers"][0]``) goes to ``twice`` too: which
    path later code read cannot be told by identity."""
    if id(value) not in into:
        into[id(value)] = path
    elif twice is not None and into[id(value)] != path:
        twice.setdefault(id(value), path)
    if depth >= _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str | int) and not isinstance(key, bool):
                _walk(item, (*path, key), depth + 1, into, twice)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(item, (*path, i), depth + 1, into, twice)


def _paths(root: Operator[Any, Any]) -> dict[int, str]:
    """``id(op) -> path`` of every operator ``root`` holds; inside a ``jit(instance)`` wrapper
    the wrapper's own path is used (``inner.members[0]``, not ``inner.original.members[0]``)."""
    found = list(root.sub_operators(recursive=True))
    wrappers = [(path, f"{path}.{op._emberjit_wraps}") for path, op in found
                if op._emberjit_wraps is not None]
    paths: dict[int, str] = {}
    for path, op in found:
        for own, prefix in wrappers:
            if path.startswith(prefix + ".") or path.startswith(prefix + "["):
                path = own + path[len(prefix):]
        paths.setdefault(id(op), path)
    return paths


class Recorder:
    """Collects the calls of one traced run of ``root`` on ``inputs``."""

    def __init__(self, root: Operator[Any, Any], inputs: Any) -> None:
        self.root = root
        self.inputs = inputs
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.keep: list[Any] = [inputs]  # pins every object whose id() is in the maps
        self.paths = _paths(root)
        self.input_ids: dict[int, tuple[Any, ...]] = {}
        twice: dict[int, tuple[Any, ...]] = {}
        _walk(inputs, (), 0, self.input_ids, twice)
        self.result_ids: dict[int, tuple[int, tuple[Any, ...]]] = {}
        self.ambiguous: dict[int, str] = {
            key: f"the same object is inputs{format_path(self.input_ids[key])} and "
                 f"inputs{format_path(path)}: which one was used is ambiguous"
            for key, path in twice.items()}
        self.const_ids: dict[int, str] = {}
        for name, value in vars(root).items():
            if not name.startswith("_") and not isinstance(value, Operator):
                self.const_ids.setdefault(id(value), name)

    # -- where a value came from -------------------------------------------------------------

    def source_of(self, value: Any, depth: int = 0) -> Source:
        if value is None or isinstance(value, bool):
            return Source("literal", value=value)
        key = id(value)
        if key in self.ambiguous:
            return Source("unknown", why=self.ambiguous[key])
        if key in self.input_ids:
            return Source("input", path=self.input_ids[key])
        if key in self.result_ids:
            call, path = self.result_ids[key]
            return Source("result", call=call, path=path)
        if key in self.const_ids:
            return Source("attribute", name=self.const_ids[key])
        if type(value) in (dict, list, tuple) and depth < _MAX_DEPTH:
            if type(value) is dict:
                keys = list(value)
                if not all(isinstance(k, str | int) and not isinstance(k, bool) for k in keys):
                    return Source("unknown", why="a dict with keys other than str/int")
                items = tuple((k, self.source_of(value[k], depth + 1)) for k in keys)
            else:
                items = tuple((i, self.source_of(v, depth + 1)) for i, v in enumerate(value))
            bad = next((s for _, s in items if s.kind == "unknown"), None)
            if bad is not None:
                return Source("unknown", why=bad.why)
            return Source("build", container=type(value).__name__, items=items)
        return Source("unknown", why=f"a {type(value).__name__} not found by identity in the "
                                     "input, an earlier result or the operator's attributes")

    # -- the hook's two halves ---------------------------------------------------------------

    def begin(self, op: Operator[Any, Any], inputs: Any, parent: int | None,
              orphan: bool, site: tuple[str, int, int, int, int] | None = None) -> Call:
        with self.lock:
            call = Call(index=len(self.calls), op=op, path=self.paths.get(id(op), ""),
                        type_name=type(op).__qualname__, parent=parent,
                        arg_id=id(inputs), source=self.source_of(inputs),
                        thread=threading.current_thread().name, orphan=orphan,
                        start=time.perf_counter(), site=site)
            self.calls.append(call)
            self.keep.append(inputs)
        return call

    def end(self, call: Call, result: Any, error: BaseException | None) -> None:
        with self.lock:
            call.seconds = time.perf_counter() - call.start
            call.result_id = id(result)
            call.error = None if error is None else repr(error)[:80]
            self.keep.append(result)
            if call.parent is None and error is None:
                found: dict[int, tuple[Any, ...]] = {}
                twice: dict[int, tuple[Any, ...]] = {}
                _walk(result, (), 0, found, twice)
                for key, path in found.items():
                    self._register(key, call.index, path)
                for key, path in twice.items():
                    self.ambiguous.setdefault(
                        key, f"the same object is #{call.index}{format_path(found[key])} and "
                             f"#{call.index}{format_path(path)}: which one was used is ambiguous")

    def _register(self, key: int, index: int, path: tuple[Any, ...]) -> None:
        """``id`` ``key`` is at ``path`` in call ``index``'s result. An object that two origins
        hold (the input and a result, or two results) is ambiguous: which one the glue code
        read cannot be told by identity, so it is never rebuilt from either."""
        earlier = self.result_ids.get(key)
        if key in self.input_ids:
            other = "inputs" + format_path(self.input_ids[key])
        elif earlier is not None and earlier[0] != index:
            other = f"#{earlier[0]}" + format_path(earlier[1])
        else:
            self.result_ids.setdefault(key, (index, path))
            return
        self.ambiguous.setdefault(key, f"the same object is {other} and #{index}"
                                       f"{format_path(path)}: which one was used is ambiguous")


def call_site(frame: types.FrameType | None) -> tuple[str, int, int, int, int] | None:
    """The position of the call ``frame`` is making: (file, line, end line, column, end
    column), from ``co_positions`` (columns in UTF-8 bytes)."""
    if frame is None:
        return None
    code = frame.f_code
    pos = next(itertools.islice(code.co_positions(), frame.f_lasti // 2, None), None)
    if pos is None or None in pos:
        return None
    line, end_line, col, end_col = pos
    assert line is not None and end_line is not None and col is not None and end_col is not None
    return code.co_filename, line, end_line, col, end_col


def _hook(op: Operator[Any, Any], inputs: Any) -> Any:
    """Called by ``Operator.__call__`` and ``JitOperator.__call__`` (so the caller's frame is
    two up) while a trace records."""
    rec = _recorder.get()
    orphan = False
    if rec is None:
        with _active_lock:  # a thread that did not copy the context: only if unambiguous
            rec = _active[0] if len(_active) == 1 else None
        if rec is None or id(op) not in rec.paths:
            return call_untraced(op, inputs)
        orphan = True
    call = rec.begin(op, inputs, _parent.get(), orphan, call_site(sys._getframe(2)))
    token = _parent.set(call.index)
    try:
        result = call_untraced(op, inputs)
    except BaseException as exc:
        rec.end(call, None, exc)
        raise
    finally:
        _parent.reset(token)
    rec.end(call, result, None)
    return result


def _activate(rec: Recorder) -> None:
    with _active_lock:
        _active.append(rec)
        _operator_module._trace_hook = _hook


def _deactivate(rec: Recorder) -> None:
    with _active_lock:
        _active.remove(rec)
        if not _active:
            _operator_module._trace_hook = None


def record(root: Operator[Any, Any], inputs: Any) -> tuple[Any, Trace]:
    """Run ``root.forward`` on ``inputs`` eagerly, recording every operator call: returns the
    real result and the :class:`Trace`. An exception from the run propagates unchanged."""
    rec = Recorder(root, inputs)
    code = getattr(getattr(type(root), "forward", None), "__code__", None)
    start = time.perf_counter()
    _activate(rec)
    token = _recorder.set(rec)
    parent = _parent.set(None)
    try:
        with Timer(code) as timer:  # what forward's own calls took (the slow ordinary ones)
            result = call_eager(root, inputs)
    finally:
        _parent.reset(parent)
        _recorder.reset(token)
        _deactivate(rec)
    seconds = time.perf_counter() - start
    spans = [(c.start, c.start + c.seconds) for c in rec.calls if c.parent is None]
    slow = slow_calls(timer.spans, spans, seconds, code.co_filename if code else "")
    trace = Trace(root_name=type(root).__qualname__, input_type=type(inputs).__qualname__,
                  calls=list(rec.calls), output=rec.source_of(result), seconds=seconds,
                  slow=tuple(slow))
    return result, trace
