"""The dask scheduler: each plan step is a ``distributed`` task, results passed as futures.

``execution_options(scheduler="dask", client=client)`` (or the current client,
``distributed.get_client()``). The plan itself runs on the calling process; every ``run.submit``
becomes ``client.submit(op, arg, pure=False, retries=options.retries)`` with futures (and lists or
dicts of them) as arguments, so results stay on the workers until plain code reads them. Dask
reruns a call whose worker died (its own bookkeeping) and, with ``retries``, a call that raised.

Operators travel to the workers pickled (cloudpickle, as ``distributed`` does); one that cannot be
pickled fails before anything is submitted, with the operator's path and the attribute that
does not pickle. Errors are chosen as on the other schedulers: the first in program order.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from typing import Any

from ..errors import EmberJitError, ExecutionTimeoutError
from ..operator import CallArgs, Operator, is_pure
from ..options import ExecutionOptions
from .base import Block, Namer, Run, describe_operator, type_name
from .early import Deferred, Failed, Later
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


def _all_operators(value: object) -> bool:
    if isinstance(value, Operator):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(v, Operator) for v in value)
    if isinstance(value, dict) and value:
        return all(isinstance(v, Operator) for v in value.values())
    return False


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
            if name.startswith("_emberjit") or _all_operators(value):
                continue  # operators are checked one by one
            try:
                cloudpickle.dumps(value)
            except Exception as exc:  # pickling raises TypeError, PicklingError, AttributeError..
                where = f"{root}.{path}" if path else root
                raise UnpicklableOperatorError(
                    f"{where} ({type_name(op)}): attribute {name!r} ({type(value).__name__}) "
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
    """One plan invocation on a ``distributed`` cluster. See the module docstring."""

    __slots__ = ("_cancelled_by", "_impure_from", "_inflight", "_raised", "_settled", "client",
                 "futures", "limit", "ops", "retries", "timeout")
    scheduler_name = "dask"

    def __init__(self, root: str, namer: Namer, options: ExecutionOptions, owner: Any) -> None:
        super().__init__(root, namer, None)  # sub-operators ship whole: no nested routes
        self.client = _client(options)
        if owner is not None:
            _check_once(owner, root)
        self.retries = options.retries or None
        self.limit = options.max_concurrency
        self.timeout = options.timeout
        self.futures: list[Any] = []
        self.ops: list[Any] = []
        self._inflight: list[Any] = []
        self._settled = 0
        # errors come back deserialized (a new object each time): known by type and args
        self._raised: set[tuple[type, str]] = set()
        self._cancelled_by: BaseException | None = None
        self._impure_from = 0

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        deps: list[Any] = []
        if not is_pure(op):  # eager runs it after every earlier call returned
            deps = [f for f in self.futures[self._impure_from:] if f.status != "finished"]
            self._impure_from = len(self.futures)
        if self.limit is not None:  # at most ``limit`` calls in flight: wait for one to end
            self._inflight = [f for f in self._inflight if not f.done()]
            while len(self._inflight) >= self.limit:
                distributed.wait(self._inflight,  # type: ignore[no-untyped-call]
                                 return_when="FIRST_COMPLETED")
                self._inflight = [f for f in self._inflight if not f.done()]
        key = f"emberjit-{type_name(op)}-{uuid.uuid4().hex}"
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
        if kind is list:
            for i, item in enumerate(value):
                value[i] = self.wait(item)
        elif kind is dict:
            for key, item in value.items():
                value[key] = self.wait(item)
        elif kind is tuple:
            return tuple(self.wait(item) for item in value)
        return value

    def _settle(self, future: Any, seq: int) -> BaseException | None:
        """Wait for ``future``; its error (None when it finished)."""
        try:
            distributed.wait([future], timeout=self.timeout)  # type: ignore[no-untyped-call]
        except distributed.TimeoutError:
            raise self._raise_seen(ExecutionTimeoutError(
                describe_operator(self.root, self.namer, self.ops[seq]),
                self.timeout or 0.0)) from None
        if future.status == "finished":
            return None
        if future.status == "cancelled":
            return self._cancelled_by or distributed.client.FutureCancelledError(
                future.key, reason="cancelled", msg=None)
        error: BaseException | None = future.exception()
        return error

    def _raise_seen(self, error: BaseException) -> BaseException:
        self._raised.add(_fingerprint(error))
        self._cancel_from(0, error)
        return error

    def _result(self, future: Any) -> Any:
        seq = self._seq(future)
        error = self._settle(future, seq)
        if error is not None:
            raise self._fail(seq, error)
        return future.result()

    def _seq(self, future: Any) -> int:
        for i in range(len(self.futures) - 1, -1, -1):
            if self.futures[i] is future:
                return i
        raise ValueError("a future this run did not submit")  # pragma: no cover

    def barrier(self) -> None:
        while self._settled < len(self.futures):
            error = self._settle(self.futures[self._settled], self._settled)
            if error is not None and _fingerprint(error) not in self._raised:
                raise self._fail(self._settled, error)
            self._settled += 1

    def abort(self, exc: BaseException) -> BaseException:
        if _fingerprint(exc) not in self._raised and isinstance(exc, Exception):
            try:
                self.barrier()
            except Exception as earlier:
                exc = earlier
            else:
                return exc
        self._cancel_from(0, exc)
        return exc

    def _fail(self, seq: int, error: BaseException) -> BaseException:
        """The first failure in program order (earlier calls are waited for first)."""
        for i in range(self._settled, seq):
            found = self._settle(self.futures[i], i)
            if found is not None and _fingerprint(found) not in self._raised:
                seq, error = i, found
                break
        self._raised.add(_fingerprint(error))
        self._cancel_from(seq + 1, error)
        if isinstance(error, Exception):
            self.note(error, self.ops[seq])
        return error

    def _cancel_from(self, start: int, error: BaseException) -> None:
        if self._cancelled_by is None:
            self._cancelled_by = error
        pending = [f for f in self.futures[start:] if not f.done()]
        if pending:
            self.client.cancel(pending)


def _fingerprint(error: BaseException) -> tuple[type, str]:
    return type(error), repr(error.args)
