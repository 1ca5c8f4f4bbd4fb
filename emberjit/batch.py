"""Batches: run one operator (jitted or not) over many inputs at once.

``vmap(op)(inputs_list)`` and ``op.map(inputs_list)`` call ``op`` on every input concurrently, on
threads (model calls are I/O-bound), and return the results in input order. A ``tqdm`` progress
bar is shown when stderr is a terminal (and tqdm is installed), never when output is piped.

``max_concurrency`` bounds how many inputs are in flight (default: ``execution_options``'
``max_concurrency``, else 16). Each input runs in a copy of the caller's context, so
``execution_options`` and :func:`emberjit.profile` reach its plan.

``errors="raise"`` (default) raises what a plain ``for`` loop would (the program-order policy of
:mod:`emberjit.runtime.order`, the inputs being the calls): the failure of the first failing
input in input order, after the inputs before it finished; inputs after it that have not started
are cancelled. A PEP 678 note names the input's index. ``errors="return"`` never raises for an
input: its place in the results holds the exception object.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, Literal

from . import operator as _operator
from .errors import InvalidOptionError, operator_name, warn_user
from .executors import map_executor
from .options import current
from .profiling import Site, hooks
from .runtime.order import ProgramOrder, drive

__all__ = ["DEFAULT_MAX_CONCURRENCY", "Batched", "map_inputs", "vmap"]

DEFAULT_MAX_CONCURRENCY = 16
ErrorPolicy = Literal["raise", "return"]
_POLICIES = ("raise", "return")


def _shown(fn: object) -> object:
    """What to name ``fn`` after: the operator a ``jit(instance)`` wraps, else ``fn``."""
    return vars(fn).get("original", fn) if hasattr(fn, "__dict__") else fn


def _name(fn: object) -> str:
    return operator_name(_shown(fn))


class Batched:
    """What :func:`vmap` returns: ``batched(inputs_list) -> list`` (or ``inputs=inputs_list``)."""

    def __init__(self, fn: Callable[[Any], Any], max_concurrency: int | None = None,
                 errors: ErrorPolicy = "raise", progress: bool | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"vmap needs an operator or a callable, got {type(fn).__name__}")
        _check(max_concurrency, errors)
        self.fn, self.max_concurrency, self.errors, self.progress = (
            fn, max_concurrency, errors, progress)

    def __call__(self, *args: Any, **kwargs: Any) -> list[Any]:
        if len(args) == 1 and not kwargs:
            inputs = args[0]
        elif not args and set(kwargs) == {"inputs"}:
            inputs = kwargs["inputs"]
        else:
            raise TypeError(f"vmap({_name(self.fn)}) takes one list of inputs: "
                            f"call it as batched(inputs_list) or batched(inputs=inputs_list)")
        return map_inputs(self.fn, inputs, max_concurrency=self.max_concurrency,
                          errors=self.errors, progress=self.progress)

    def __repr__(self) -> str:
        return f"vmap({_name(self.fn)}, max_concurrency={self.max_concurrency}, " \
               f"errors={self.errors!r})"


def vmap(fn: Callable[[Any], Any], *, max_concurrency: int | None = None,
         errors: ErrorPolicy = "raise", progress: bool | None = None) -> Batched:
    """``vmap(op)`` is a callable over a list of inputs: ``[op(x) for x in inputs]``, run
    concurrently, in input order. See the module docstring for the options."""
    return Batched(fn, max_concurrency, errors, progress)


def _check(max_concurrency: int | None, errors: str) -> None:
    if errors not in _POLICIES:
        raise InvalidOptionError("errors policy", errors, _POLICIES)
    if max_concurrency is not None and (isinstance(max_concurrency, bool)
                                        or not isinstance(max_concurrency, int)
                                        or max_concurrency < 1):
        raise InvalidOptionError("max_concurrency", max_concurrency, ["a positive int", "None"])


def map_inputs(fn: Callable[[Any], Any], inputs: Iterable[Any], *,
               max_concurrency: int | None = None, errors: ErrorPolicy = "raise",
               progress: bool | None = None) -> list[Any]:
    """``[fn(x) for x in inputs]``, concurrently; what :func:`vmap` and ``Operator.map`` run."""
    _check(max_concurrency, errors)
    items = list(inputs)
    if not items:
        return []
    limit = max_concurrency or current().max_concurrency or DEFAULT_MAX_CONCURRENCY
    bar = _progress_bar(len(items), _name(fn), progress)
    context = contextvars.copy_context()
    results: list[Any] = [None] * len(items)
    stop = _Stop(errors == "raise")
    with map_executor(min(limit, len(items))) as pool:
        futures = [pool.submit(context.copy().run, _one, fn, item, i, stop)
                   for i, item in enumerate(items)]
        if bar is not None:
            for future in futures:
                future.add_done_callback(lambda _: bar.update(1))
        try:
            if errors == "raise":
                _Inputs(futures).raise_first_failure()
            for i, future in enumerate(futures):
                error = future.exception()
                results[i] = error if error is not None else future.result()
        finally:
            for future in futures:
                future.cancel()  # only after a failure or an interrupt: the rest never starts
            if bar is not None:
                bar.close()
    return results


class _Stop:
    """Under ``errors="raise"``: the index of the first input that failed so far; inputs after
    it do not start (a ``for`` loop would never have reached them)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.first = sys.maxsize
        self.lock = threading.Lock()

    def failed(self, index: int) -> None:
        if self.active:
            with self.lock:
                self.first = min(self.first, index)


class _Skipped(Exception):
    """An input not run because an earlier one failed (never raised to the caller)."""


def _one(fn: Callable[[Any], Any], item: Any, index: int, stop: _Stop) -> Any:
    if index > stop.first:
        raise _Skipped(index)
    try:
        if hooks.active:  # an emberjit.profile is open: record this input
            return hooks.call(_shown(fn), Site("map", f"{_name(fn)}[{index}]"), fn, item)
        return fn(item)
    except BaseException:
        stop.failed(index)
        raise


class _Inputs:
    """The inputs' futures as the calls of the program-order policy (``order.Calls``)."""

    def __init__(self, futures: list[Future[Any]]) -> None:
        self.index = {id(f): i for i, f in enumerate(futures)}
        self.order: ProgramOrder[Future[Any]] = ProgramOrder()
        self.order.entries.extend(futures)

    def raise_first_failure(self) -> None:
        """Wait for the inputs in order; raise the first failure, as a ``for`` loop would have.

        In order, not "first exception to arrive": a later input may fail (and make the ones
        after it skip) while an earlier one is still running and fails too; the earlier one
        wins."""
        error = drive(self.order.barrier(self), _wait)
        if error is not None:
            raise error

    @staticmethod
    def done(future: Future[Any]) -> bool:
        return future.done()

    @staticmethod
    def error(future: Future[Any]) -> BaseException | None:
        if future.cancelled():
            return None  # only after a failure raised first: it never counts
        error = future.exception()
        return None if isinstance(error, _Skipped) else error

    @staticmethod
    def cancel(futures: Sequence[Future[Any]], error: BaseException) -> None:
        for future in futures:
            future.cancel()

    @staticmethod
    def timeout_error(future: Future[Any]) -> BaseException:
        raise AssertionError("a batch waits for its inputs without a timeout")  # never called

    def add_note(self, error: BaseException, future: Future[Any]) -> None:
        error.add_note(f"emberjit: raised by the batch's input [{self.index[id(future)]}]")


def _wait(future: Future[Any]) -> bool:
    concurrent.futures.wait([future])
    return True  # no timeout: an input runs until it returns


class _Bar:
    """The few methods of ``tqdm`` used here (so mypy needs no stubs for it)."""

    def __init__(self, bar: Any) -> None:
        self._bar, self._lock = bar, threading.Lock()

    def update(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def close(self) -> None:
        with self._lock:
            self._bar.close()


def _progress_bar(total: int, name: str, progress: bool | None) -> _Bar | None:
    """A tqdm bar on stderr: when ``progress`` is True, or when it is None and stderr is a
    terminal. None when tqdm is not installed (``pip install 'emberjit[progress]'``; a warning
    says so when the bar was asked for by name)."""
    asked = progress is True
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not progress:
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ModuleNotFoundError:
        if asked:  # asked for by name, not chosen because stderr is a terminal: say why not
            warn_user("progress=True, but no progress bar can be shown: tqdm is not installed "
                      "(pip install 'emberjit[progress]')", UserWarning)
        return None
    return _Bar(tqdm(total=total, desc=name, unit="input", file=sys.stderr, mininterval=0.1))


_operator.register(map_inputs=map_inputs)  # Operator.map runs here
