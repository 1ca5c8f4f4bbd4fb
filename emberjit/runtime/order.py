"""The program-order policy every concurrent runner shares: which failure a run raises, when.

Eager code makes its calls one after another, so the first call to fail is the one it raises,
and the calls after it never happen. A concurrent runner (threads, async, Dask, a batch) starts
calls that finish in any order; whatever fails, it raises what eager would have raised. This
module is that rule, written once; a runner supplies only what it knows about its own calls
(:class:`Calls`, passed to each step) and how it waits for one (:func:`drive` for blocking
waits, :func:`adrive` for ``await``).

The state, one :class:`ProgramOrder` per run:

``entries``
    every call the run started, in program order (``entries[i]`` is call ``i``), each the
    runner's own handle: a pool ``Task``, an asyncio ``Handle``, a Dask or a batch future.
``settled``
    ``entries[:settled]`` are done and checked: none of them holds a failure still to raise.
``raised``
    the failures already raised into the plan, by :attr:`ProgramOrder.key` (identity; for
    Dask, whose errors come back deserialized, a new object each time: type and arguments).
    They are never raised or counted again: the plan has them (it raised, or caught them).
``void``
    the places of calls started before a failure was raised into the plan but after it in
    program order: eager never made them (the failure came first), so their failures never
    count.
``impure_from``
    the place of the last impure call: it waited for every call before it, so the next one
    waits only for the calls since.
``noted`` / ``own``
    the ids of the failures that already carry their operator's note, and of the timeouts
    the run raised itself (their message names the call: no note).

The rules, as eager has them:

* a failure is raised in program order: before raising one, every earlier call is waited for
  (bounded by the timeout) and the first of them that failed is raised instead;
* raising it cancels every later call that has not started (:meth:`Calls.cancel`) and makes
  them void; a call that is waited for past the timeout fails with the runner's timeout error;
* a failure raised into the plan the first time gets a note naming the operator whose call
  raised it (the call itself, or an earlier call whose failure it inherited as an input);
* an impure call waits for every call since the last impure one that has not returned, except
  failures the plan already has (:meth:`ProgramOrder.impure_deps`);
* when the plan itself raises, every call started before it came first, as in eager: the first
  of them that failed is raised instead; then nothing more may start (:meth:`ProgramOrder.abort`).

The steps that wait are generators: they yield the call to wait for and are sent whether it
finished in time (True) or the timeout passed first (False). They return the failure to raise
(the runner raises it: raised inside a generator, an operator's ``StopIteration`` would turn
into a ``RuntimeError``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

__all__ = ["Calls", "ProgramOrder", "Steps", "adrive", "drive", "identity"]

H = TypeVar("H")
R = TypeVar("R")
C = TypeVar("C", contravariant=True)

#: a waiting step of the policy: yields calls to wait for, is sent whether each finished in time
Steps = Generator[H, bool, R]


class Calls(Protocol[C]):
    """What a runner tells the policy about its calls (``C``: its handle type)."""

    def done(self, entry: C) -> bool:
        """Whether the call has settled (returned, failed or been cancelled)."""

    def error(self, entry: C) -> BaseException | None:
        """A settled call's failure (a cancelled call's: the failure that cancelled it)."""

    def cancel(self, entries: Sequence[C], error: BaseException) -> None:
        """Stop the calls among ``entries`` that have not started: they never run and fail
        with ``error``."""

    def timeout_error(self, entry: C) -> BaseException:
        """The error of a call that did not finish within the run's timeout."""

    def add_note(self, error: BaseException, entry: C) -> None:
        """Name, on ``error``, the call ``entry`` that raised it (PEP 678 note)."""


def identity(error: BaseException) -> Hashable:
    """How a failure is known again in-process: the object itself."""
    return id(error)


class ProgramOrder(Generic[H]):
    """The policy's state for one run; see the module docstring."""

    __slots__ = ("entries", "impure_from", "key", "noted", "own", "raised", "settled", "void")

    def __init__(self, key: Callable[[BaseException], Hashable] = identity) -> None:
        self.key = key
        self.entries: list[H] = []
        self.settled = 0
        self.raised: set[Hashable] = set()
        self.void: set[int] = set()
        self.impure_from = 0
        self.noted: set[int] = set()
        self.own: set[int] = set()

    # -- starting calls ------------------------------------------------------------------------

    def impure_deps(self, calls: Calls[H]) -> list[H]:
        """What the next call, an impure one, waits for: eager makes it only once every earlier
        call returned. The last impure call waited for all before it, so the calls since then
        that have not returned, except failures the plan already has (a caught failure does not
        hold it back). Call before adding the impure call."""
        found = []
        for entry in self.entries[self.impure_from:]:
            if not calls.done(entry):
                found.append(entry)
            else:
                error = calls.error(entry)
                if error is not None and self.key(error) not in self.raised:
                    found.append(entry)
        self.impure_from = len(self.entries)
        return found

    def timed_out(self, calls: Calls[H], entry: H) -> BaseException:
        """The run's own timeout error for ``entry`` (it names the call: no note is added)."""
        error = calls.timeout_error(entry)
        self.own.add(id(error))
        return error

    def counts(self, seq: int, error: BaseException) -> bool:
        """Whether call ``seq``'s failure ``error`` is one still to raise."""
        return self.key(error) not in self.raised and seq not in self.void

    # -- waiting -------------------------------------------------------------------------------

    def barrier(self, calls: Calls[H]) -> Steps[H, BaseException | None]:
        """Wait for every call started so far, in program order: the first failure to raise,
        or None."""
        entries = self.entries
        while self.settled < len(entries):
            seq = self.settled
            entry = entries[seq]
            if not calls.done(entry) and not (yield entry):
                return (yield from self.fail(calls, seq, self.timed_out(calls, entry)))
            error = calls.error(entry)
            if error is not None and self.counts(seq, error):
                return (yield from self.fail(calls, seq, error))
            self.settled = seq + 1
        return None

    def result(self, calls: Calls[H], seq: int) -> Steps[H, BaseException | None]:
        """Wait for call ``seq``, whose value is wanted: the failure to raise (its own, or an
        earlier call's), or None."""
        entry = self.entries[seq]
        if not calls.done(entry) and not (yield entry):
            return (yield from self.fail(calls, seq, self.timed_out(calls, entry)))
        error = calls.error(entry)
        if error is not None:
            return (yield from self.fail(calls, seq, error))
        return None

    def abort(self, calls: Calls[H], exc: BaseException) -> Steps[H, tuple[BaseException, bool]]:
        """The plan raised ``exc``: the exception to raise instead, and whether the rest was
        cancelled (the runner then waits for what still runs, bounded by its timeout)."""
        if self.key(exc) not in self.raised and isinstance(exc, Exception):
            # the plan's own code raised: every call started before it, so eager would have
            # run them all first; the first of them that failed is what eager raises
            earlier = yield from self.barrier(calls)
            if earlier is None:
                return exc, False
            if not isinstance(earlier, Exception):  # an interrupt: raised as it is
                return earlier, False
            exc = earlier
        # an operator's failure chosen by program order, or an interrupt: nothing may start
        self.cancel_from(calls, 0, exc)
        return exc, True

    # -- failures ------------------------------------------------------------------------------

    def fail(self, calls: Calls[H], seq: int, error: BaseException) -> Steps[H, BaseException]:
        """The exception to raise now that call ``seq`` failed with ``error``: the first failure
        in program order (earlier calls are waited for first, each within the timeout)."""
        for i in range(self.settled, seq):
            earlier = self.entries[i]
            if calls.done(earlier) or (yield earlier):
                found = calls.error(earlier)
                if found is not None and self.counts(i, found):
                    seq, error = i, found
                    break
        self.raised.add(self.key(error))
        self.void.update(range(seq + 1, len(self.entries)))
        self.cancel_from(calls, seq + 1, error)
        if id(error) not in self.noted and id(error) not in self.own:
            self.noted.add(id(error))
            calls.add_note(error, self._origin(calls, seq, error))
        return error

    def _origin(self, calls: Calls[H], seq: int, error: BaseException) -> H:
        """The call whose operator raised ``error``: call ``seq`` itself, or an earlier call
        whose failure it inherited (an input that failed fails its dependents alike)."""
        for entry in self.entries[:seq]:
            if calls.done(entry) and calls.error(entry) is error:
                return entry
        return self.entries[seq]

    def cancel_from(self, calls: Calls[H], start: int, error: BaseException) -> None:
        if start < len(self.entries):
            calls.cancel(self.entries[start:], error)


def drive(steps: Steps[H, R], wait: Callable[[H], bool]) -> R:
    """Run a waiting step with a blocking ``wait(call)``: True once the call is done, False
    when the timeout passed first."""
    try:
        entry = next(steps)
        while True:
            entry = steps.send(wait(entry))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(steps: Steps[H, R], wait: Callable[[H], Awaitable[bool]]) -> R:
    """:func:`drive` for a runner that waits with ``await``."""
    try:
        entry = next(steps)
        while True:
            entry = steps.send(await wait(entry))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
