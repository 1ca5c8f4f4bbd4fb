"""The dask scheduler: each plan step is a ``distributed`` task, results passed as futures.

``execution_options(scheduler="dask", client=client)`` (or the current client,
``distributed.get_client()``). The plan itself runs on the calling process; every ``run.submit``
becomes ``client.submit(op, arg, pure=False, retries=options.retries)`` with futures (and lists or
dicts of them) as arguments, so results stay on the workers until plain code reads them. Dask
reruns a call whose worker died (its own bookkeeping) and, with ``retries``, a call that raised.

Operators travel to the workers pickled (cloudpickle, as ``distributed`` does); one that cannot be
pickled fails before anything is submitted, with the operator's path and the attribute that
does not pickle. Errors are chosen as on the other schedulers, by the policy of :mod:`.order`:
the first in program order. This module supplies how to wait (``distributed.wait``) and how a
failure is known again (errors come back deserialized, a new object each time: by type and
arguments).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ..errors import EmberJitError, ExecutionTimeoutError, operator_name
from ..operator import CallArgs, Operator, container_kind, is_pure
from ..options import ExecutionOptions
from . import handles
from .base import Block, Namer, Run, describe_operator
from .early import Deferred, Failed, Later
from .order import ProgramOrder, drive
from .sequential import SequentialRun

try:
    import cloudpickle  # type: ignore[import-untyped]
    import distributed
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise EmberJitError(
        "scheduler='dask' needs dask's distributed scheduler: pip install 'emberjit[dask]'"
    ) from exc

__all__ = ["DaskRun", "UnpicklableOperatorError", "check_picklable"]


class UnpicklableOperatorError(EmberJitError, TypeError):
    """An operator (or one of its attributes) cannot be pickled, so it cannot run on workers."""


def _call(op: Callable[[Any], Any], arg: Any, after: list[Any]) -> Any:
    """What a worker runs: ``op(arg)`` (``after`` only orders the call after other futures)."""
    return op(arg)


def _call_args(op: Callable[[Any], Any], args: tuple[Any, ...], kwargs: dict[str, Any],
               after: list[Any]) -> Any:
    """``op(question=q, ...)`` on a worker: Dask finds the futures in ``args`` and ``kwargs``."""
    return op(CallArgs(args, kwargs))


def _operators(owner: Any) -> list[tuple[str, Any]]:
    if isinstance(owner, Operator):
        return [("", owner), *owner.sub_operators(recursive=True)]
    cells = [c for c in getattr(owner, "__closure__", None) or ()]
    names = getattr(getattr(owner, "__code__", None), "co_freevars", ())
    found = []
    for name, cell in zip(names, cells, strict=False):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, Operator):
            found.append((name, value))
    return found


def check_picklable(owner: Any, root: str) -> None:
    """Raise :class:`UnpicklableOperatorError` naming the first sub-operator (deepest first)
    and attribute that cannot be pickled (the root itself stays on the client)."""
    for path, op in reversed(_operators(owner)):
        if path == "":
            continue  # the plan (and so the root's own code) runs here: only calls ship
        for name, value in vars(op).items():
            if name.startswith("_emberjit") or container_kind(value) is not None:
                continue  # operators are checked one by one
            try:
                cloudpickle.dumps(value)
            except Exception as exc:  # pickling raises TypeError, PicklingError, AttributeError..
                where = f"{root}.{path}" if path else root
                raise UnpicklableOperatorError(
                    f"{where} ({operator_name(op)}): attribute {name!r} ({type(value).__name__}) "
                    f"cannot be pickled, so scheduler='dask' cannot send it to the workers "
                    f"({type(exc).__name__}: {exc}). Fix: hold picklable state (create locks, "
                    "clients and lambdas lazily on the worker, or define __getstate__/"
                    "__setstate__), or run this operator with scheduler='threads'") from None


_checked: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _check_once(owner: Any, root: str) -> None:
    try:
        if _checked.get(owner):
            return
    except TypeError:  # not weak-referenceable: check every time
        check_picklable(owner, root)
        return
    check_picklable(owner, root)
    _checked[owner] = True


def _client(options: ExecutionOptions) -> Any:
    if options.client is not None:
        return options.client
    try:
        return distributed.get_client()
    except ValueError:
        raise EmberJitError(
            "scheduler='dask' needs a distributed client: pass execution_options(client=...) "
            "or create one first (distributed.Client(...) or LocalCluster().get_client())"
        ) from None


class DaskRun(Run):
    """One plan invocation on a ``distributed`` cluster. See the module docstring. The
    :class:`~emberjit.runtime.order.Calls` of its policy are its futures."""

    __slots__ = ("_cancelled_by", "_inflight", "client", "limit", "ops", "order", "retries",
                 "timeout")
    scheduler_name = "dask"

    def __init__(self, root: str, namer: Namer, options: ExecutionOptions, owner: Any) -> None:
        super().__init__(root, namer, None)  # sub-operators ship whole: no nested routes
        self.client = _client(options)
        if owner is not None:
            _check_once(owner, root)
        self.retries = options.retries or None
        self.limit = options.max_concurrency
        self.timeout = options.timeout
        self.ops: list[Any] = []  # ops[i]: the operator of call i
        self._inflight: list[Any] = []
        self._cancelled_by: BaseException | None = None
        self.order: ProgramOrder[Any] = ProgramOrder(_fingerprint)

    @property
    def futures(self) -> list[Any]:
        """Every call started, in program order."""
        return self.order.entries

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        deps: list[Any] = []
        if not is_pure(op):  # eager runs it after every earlier call returned
            deps = self.order.impure_deps(self)
        if self.limit is not None:  # at most ``limit`` calls in flight: wait for one to end
            self._inflight = [f for f in self._inflight if not f.done()]
            while len(self._inflight) >= self.limit:
                distributed.wait(self._inflight,  # type: ignore[no-untyped-call]
                                 return_when="FIRST_COMPLETED")
                self._inflight = [f for f in self._inflight if not f.done()]
        key = f"emberjit-{operator_name(op)}-{uuid.uuid4().hex}"
        if type(arg) is CallArgs:
            future = self.client.submit(_call_args, op, arg.args, arg.kwargs, deps, key=key,
                                        pure=False, retries=self.retries)
        else:
            future = self.client.submit(_call, op, arg, deps, key=key, pure=False,
                                        retries=self.retries)
        self.futures.append(future)
        self.ops.append(op)
        if self.limit is not None:
            self._inflight.append(future)
        return future

    def then(self, fn: Callable[..., Any], *values: Any) -> Any:
        """A continuation runs here, once its values arrived: shipping a few lines of the
        plan's own code to a worker would cost more than it saves."""
        return fn(*(self.wait(v) for v in values))

    def block(self, fn: Callable[..., Any], *values: Any, calls: tuple[Any, ...] = ()) -> Any:
        """As :meth:`then`: a ``try``/``with`` block runs here once its values arrived; one
        with an impure callee first waits for every earlier call, as eager runs it."""
        return self._block(Block(fn, calls), values)

    def fork_block(self, fn: Callable[..., Any], *values: Any,
                   calls: tuple[Any, ...] = ()) -> Any:
        return self._block(Block(fn, calls, self.fork), values)

    def fork(self) -> Run:
        """A block's calls, made here in order (as :meth:`then`'s)."""
        return SequentialRun(self.root, self.namer, self.route)

    def _block(self, block: Block, values: tuple[Any, ...]) -> Any:
        if not block.pure:
            self.barrier()
        try:
            return block(tuple(self.wait(v) for v in values))
        except Exception as exc:
            self.note(exc, block)
            raise

    def early_after(self, op: Callable[[Any], Any], make_input: Callable[..., Any],
                    *handles: Any) -> Any:
        """As :meth:`then`: the input is computed here once the calls it reads have finished,
        then the call starts early (see :meth:`Run.early_after`)."""
        if any(h is None for h in handles):
            return None  # an iteration the loop skips (``continue``): never taken
        if not is_pure(op) or any(type(h) in (Failed, Deferred, Later) for h in handles):
            return Later(op)
        outcomes = [self.wait(h) for h in handles]
        failed = next((o.error for o in outcomes if o.error is not None), None)
        if failed is not None:  # never taken: the loop raises at that call first
            return Failed(failed)
        try:
            arg = make_input(*(o.value for o in outcomes))
        except Exception as exc:
            return Failed(exc)
        return self.early(op, arg)

    def wait(self, value: Any) -> Any:
        if isinstance(value, distributed.Future):
            return self._result(value)
        kind = type(value)
        if kind is list or kind is dict or kind is tuple:
            for future in handles.pending(value, distributed.Future):
                self._result(future)
            return handles.resolve(value, distributed.Future, _future_value)
        return value

    def _result(self, future: Any) -> Any:
        error = drive(self.order.result(self, self._seq(future)), self._wait)
        if error is not None:
            raise error
        return future.result()

    def _seq(self, future: Any) -> int:
        futures = self.order.entries
        for i in range(len(futures) - 1, -1, -1):
            if futures[i] is future:
                return i
        raise ValueError("a future this run did not submit")  # pragma: no cover

    def barrier(self) -> None:
        error = drive(self.order.barrier(self), self._wait)
        if error is not None:
            raise error

    def abort(self, exc: BaseException) -> BaseException:
        return drive(self.order.abort(self, exc), self._wait)[0]

    # -- what the program-order policy asks of the calls (order.Calls) -------------------------

    def _wait(self, future: Any) -> bool:
        try:
            distributed.wait([future], timeout=self.timeout)  # type: ignore[no-untyped-call]
        except distributed.TimeoutError:
            return False
        return True

    @staticmethod
    def done(future: Any) -> bool:
        return future.done()  # type: ignore[no-any-return]

    def error(self, future: Any) -> BaseException | None:
        if future.status == "finished":
            return None
        if future.status == "cancelled":
            return self._cancelled_by or distributed.client.FutureCancelledError(
                future.key, reason="cancelled", msg=None)
        error: BaseException | None = future.exception()
        return error

    def cancel(self, futures: Sequence[Any], error: BaseException) -> None:
        if self._cancelled_by is None:
            self._cancelled_by = error
        pending = [f for f in futures if not f.done()]
        if pending:
            self.client.cancel(pending)

    def timeout_error(self, future: Any) -> ExecutionTimeoutError:
        call = describe_operator(self.root, self.namer, self.ops[self._seq(future)])
        return ExecutionTimeoutError(call, self.timeout or 0.0)

    def add_note(self, error: BaseException, future: Any) -> None:
        self.note(error, self.ops[self._seq(future)])


def _future_value(future: Any) -> Any:
    return future.result()


def _fingerprint(error: BaseException) -> Hashable:
    """Errors come back deserialized, a new object each time: known by type and arguments."""
    return type(error), repr(error.args)
