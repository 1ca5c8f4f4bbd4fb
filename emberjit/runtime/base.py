"""The interface generated plans call: one :class:`Run` per plan invocation.

A plan never calls an operator directly; it asks its run:

``run.submit(op, arg, *after)``
    start ``op(arg)`` as soon as ``arg`` and everything in ``after`` is ready; returns a handle
    (or, on the sequential scheduler, the value itself). ``arg`` may be a handle, and ``after``
    names pending values that ``arg`` holds inside it (``{"answers": answers}`` with
    ``answers`` a list of handles).
``run.wait(x)``
    the value of ``x``: a handle is awaited; lists and dicts holding handles are resolved in
    place (tuples rebuilt); anything else is returned as is. Cheap when nothing is pending.
``run.call(op, arg, *after)``
    ``run.wait(run.submit(op, arg, *after))``: a result needed at once.
``run.submit_any(callee, arg, *after)``
    (enhanced plans, at call sites the trace saw calling an operator) ``submit`` when
    ``callee`` is an :class:`~emberjit.operator.Operator` at run time; otherwise, as eager code
    would, wait for every call started so far and call it directly, returning its value.
``run.barrier()``
    wait for every call started so far (before and after ``try``/``with`` blocks, opaque helpers).
``run.args(*args, **kwargs)``
    the inputs of a call with named or several inputs (``self.generate(question=q)``) as one
    value: ``run.submit(self.generate, run.args(question=q), q)``.
``run.ready(x)``
    ``x`` once it exists, without waiting for what a list or dict holds.
``run.early(op, arg, *after)`` / ``run.take(handle)``
    a loop's call started before the loop and taken where the body uses it: its failure is
    raised at ``take``, never earlier (see :mod:`emberjit.runtime.early`).
``run.then(fn, *values)``
    a continuation: ``fn(*values)`` once every pending value among ``values`` is ready (ordinary
    code of forward that reads pending results); a handle, like ``submit``'s. Its failure is
    the code's own exception, raised in program order like a call's, without an operator note.
``run.block(fn, *values, calls=(...))`` / ``run.parts(handle, n)``
    a ``try`` or ``with`` block of forward run as one task once ``values`` are ready (see
    :mod:`emberjit.compiler.blocks`): ``fn(*values)`` makes the block's calls itself, as eager
    code does; ``calls`` are its callees (an impure one orders the block like an impure call).
    ``parts`` splits the handle of the names it binds into one handle each.
    ``run.fork_block(fn, *values, calls=(...))``: the same for a block whose calls start
    together, ``fn(inner, *values)`` given a run of its own (``run.fork()``).

Whatever fails, the exception raised is the one eager execution would have raised: the first in
program order. The jit layer calls :meth:`Run.finish` when the plan returns and :meth:`Run.abort`
when it raises, so no call is left running or pending.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import add_operator_note, operator_name
from ..leaves import LeafCall
from ..operator import CallArgs, Operator, is_pure
from ..profiling import Site
from .early import Captured, Chained, Deferred, Failed, Later

__all__ = ["CODE", "Block", "Continuation", "Namer", "Run", "describe_operator"]

#: ``namer(op)`` gives the path of ``op`` inside the plan's root (``members[3]``), or "" if unknown.
Namer = Callable[[object], str]


def describe_operator(root: str, namer: Namer, op: object) -> str:
    """``Pipeline.members[3] (Answer)``: how errors and timeouts name a call."""
    path = namer(op)
    return f"{root}.{path} ({operator_name(op)})" if path else f"{root} -> {operator_name(op)}"


class Continuation:
    """``run.then``'s work: ordinary code of forward (a nested function of the plan) applied to
    values once they are ready. Schedulers run it like a cheap call; it is pure by
    construction (codegen makes continuations only of code that stays in the plan's locals)."""

    __slots__ = ("fn",)
    pure = True

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, values: tuple[Any, ...]) -> Any:
        return self.fn(*values)

    def __repr__(self) -> str:
        return f"<continuation {getattr(self.fn, '__name__', '?')}>"


class Block:
    """``run.block``'s work: a ``try``/``with`` block of forward (a nested function of the
    plan) run as one task beside independent work; it calls its operators (``calls``)
    directly, in order, as the eager block does. Pure unless one of them is not."""

    __slots__ = ("calls", "fn", "fork", "pure")

    def __init__(self, fn: Callable[..., Any], calls: tuple[Any, ...],
                 fork: Callable[[], Run] | None = None) -> None:

        self.fn, self.calls, self.fork = fn, calls, fork
        self.pure = all(is_pure(c) for c in calls)

    def __call__(self, values: tuple[Any, ...]) -> Any:
        if self.fork is None:
            return self.fn(*values)
        inner = self.fork()  # a block whose calls start together: a run of its own
        try:
            return inner.finish(self.fn(inner, *values))
        except BaseException as exc:
            chosen = inner.abort(exc)
            if chosen is exc:
                raise
            raise chosen from None

    def raiser(self, exc: BaseException) -> object:
        """The callee whose call raised ``exc`` out of the block, or None (its own code, or a
        call the block's own run already named)."""
        if self.fork is not None:
            return None
        owners = {id(getattr(c, "__self__", c)): c for c in self.calls}
        tb = exc.__traceback__
        while tb is not None:
            found = owners.get(id(tb.tb_frame.f_locals.get("self")))
            if found is not None:
                return found
            tb = tb.tb_next
        return None

    def __repr__(self) -> str:
        return f"<block {getattr(self.fn, '__name__', '?')}>"


#: tasks that run forward's own code, not an operator: no operator note, no profile record
CODE = (Continuation, Block)


class Run(ABC):
    """One invocation of a plan on a scheduler. See the module docstring for the protocol."""

    __slots__ = ("inline", "namer", "root", "route")

    scheduler_name: str = "?"

    def __init__(self, root: str, namer: Namer, route: Mapping[int, Any] | None = None) -> None:
        self.root = root
        self.namer = namer
        # id(sub-operator) -> its own jit state (recursive=True): calls go through its plan
        self.route: Mapping[int, Any] = route if route is not None else {}
        #: ids of operators measured as cheap (enhanced mode): the threads scheduler runs their
        #: calls in the thread that makes them ready instead of queueing them
        self.inline: frozenset[int] = frozenset()

    def target(self, op: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """What to call for ``op``: its own plan when it has one here, else ``op`` itself."""
        state = self.route.get(id(op))
        if state is not None and state.owner is op:
            return state.call  # type: ignore[no-any-return]
        return op

    def site(self) -> Site:
        """Who makes this run's calls, as a profile names them (see :mod:`emberjit.profiling`)."""
        return Site(self.scheduler_name, (self.root, self.namer))

    @abstractmethod
    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any: ...

    @abstractmethod
    def wait(self, value: Any) -> Any: ...

    def call(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        return self.wait(self.submit(op, arg, *after))

    def submit_any(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        """``submit`` for an operator; any other callable runs as eager code would: after every
        call started so far (so it sees their effects and their failures come first)."""

        if isinstance(op, Operator):
            return self.submit(op, arg, *after)
        self.barrier()
        return op(self.wait(arg))

    @abstractmethod
    def barrier(self) -> None: ...

    #: ``run.args(q, context=c)``: the inputs of ``op(q, context=c)`` as one value to submit
    args = staticmethod(CallArgs.of)
    #: ``run.leaf(self.model.generate)``: a leaf that is not an operator, as schedulers take one
    leaf = staticmethod(LeafCall)

    def then(self, fn: Callable[..., Any], *values: Any) -> Any:
        """``fn(*values)`` once the values are ready: a handle (see the module docstring)."""
        return self.submit(Continuation(fn), values, *values)

    def block(self, fn: Callable[..., Any], *values: Any, calls: tuple[Any, ...] = ()) -> Any:
        """A ``try``/``with`` block as one task: ``fn(*values)`` once the values are ready."""
        return self.submit(Block(fn, calls), values, *values)

    def fork_block(self, fn: Callable[..., Any], *values: Any,
                   calls: tuple[Any, ...] = ()) -> Any:
        """:meth:`block` for a block whose calls start together: ``fn(inner, *values)`` with a
        run of its own (:meth:`fork`), finished before the block's task ends."""
        return self.submit(Block(fn, calls, self.fork), values, *values)

    def fork(self) -> Run:
        """A run for the calls of one block inside a task: its barriers wait for them alone."""
        return self

    def parts(self, handle: Any, n: int) -> tuple[Any, ...]:
        """One handle for each of the ``n`` values of ``handle`` (a block's bound names)."""
        return tuple(self.then(operator.itemgetter(i), handle) for i in range(n))

    def ready(self, value: Any) -> Any:
        """``value`` itself once it exists: a pending result is waited for, a list, dict or
        tuple is returned as it is (its elements may stay pending: ``totals[i] += v`` updates
        one element without waiting for the others)."""
        return value if type(value) in (list, dict, tuple) else self.wait(value)

    def early(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        """Start ``op(arg)`` ahead of the statement that uses it (see :mod:`.early`); an impure
        operator's call is left for :meth:`take` to make in its place."""

        if not is_pure(op):
            return Deferred(op, arg)
        return self.submit(Captured(self.target(op), op), arg, *after)

    def ahead(self, start: Callable[..., Any], *loop_vars: Any) -> Any:
        """``start(*loop_vars)``: one iteration's :meth:`early` call, started before its loop;
        an exception computing the call's input is kept for :meth:`take` to raise."""
        try:
            return start(*loop_vars)
        except Exception as exc:
            return Failed(exc)

    def early_after(self, op: Callable[[Any], Any], make_input: Callable[..., Any],
                    *handles: Any) -> Any:
        """Start ``op(make_input(*results))`` once the early calls ``handles`` have finished
        (see :class:`~emberjit.runtime.early.Chained`); an impure operator, or a call after
        one that was not started early, is left for :meth:`take` to make in its place."""

        if any(h is None for h in handles):
            return None  # an iteration the loop skips (``continue``): never taken
        if not is_pure(op) or any(type(h) in (Failed, Deferred, Later) for h in handles):
            return Later(op)
        return self.submit(Chained(Captured(self.target(op), op), make_input), handles,
                           *handles)

    def take(self, handle: Any, make_input: Callable[[], Any] | None = None) -> Any:
        """The value of an early call where the plan uses it; its failure is raised here.
        ``make_input``: the input, computed here, of a chained call made in its place."""
        if type(handle) is Failed:
            raise handle.error
        if type(handle) is Deferred:
            return self.call(handle.op, handle.arg)
        if type(handle) is Later:
            assert make_input is not None
            return self.call(handle.op, make_input())
        outcome = self.wait(handle)
        if outcome.error is not None:
            if outcome.op is not None:
                self.note(outcome.error, outcome.op)
            raise outcome.error
        return outcome.value

    def finish(self, result: Any) -> Any:
        """Called when the plan returned ``result``: wait for everything, return the value.
        If a call failed, the rest is settled (:meth:`abort`) before its exception is raised."""
        try:
            self.barrier()
            return self.wait(result)
        except BaseException as exc:
            raise self.abort(exc)  # noqa: B904  (re-raises the same exception)

    @abstractmethod
    def abort(self, exc: BaseException) -> BaseException:
        """Called when the plan raised ``exc``: settle every call (cancel what has not started,
        let what runs finish) and return the exception to raise: ``exc``, or an operator's
        exception that eager execution would have raised first."""

    def note(self, exc: BaseException, op: object) -> None:
        """Name the operator that raised ``exc`` (PEP 678 note); a continuation's exception is
        the user's own code's, as eager raises it, and an interrupt (not an ``Exception``) is
        no operator's failure: neither gets a note."""
        if not isinstance(exc, Exception):
            return
        if type(op) is Block:  # an operator's failure out of a try/with block: name it
            op = op.raiser(exc)
            if op is None:
                return
        if type(op) not in CODE:
            add_operator_note(exc, self.root, self.namer(op), operator_name(op))
