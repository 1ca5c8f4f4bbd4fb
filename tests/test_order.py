"""The program-order policy (emberjit.runtime.order) on its own, with calls whose outcomes the
test decides: which failure is raised, what is cancelled and what gets a note. The schedulers'
own tests check that each runner keeps it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from emberjit.runtime.order import ProgramOrder, drive


class Call:
    """A call that settles, when waited for, with the outcome it was given (or hangs)."""

    def __init__(self, name: str, error: BaseException | None = None, done: bool = False,
                 hangs: bool = False) -> None:
        self.name, self.outcome, self.hangs = name, error, hangs
        self.settled, self.error = done, error if done else None
        self.cancelled_by: BaseException | None = None


class Calls:
    """The runner's side: what the policy asks of the calls, recorded."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.waited: list[str] = []

    def wait(self, call: Call) -> bool:
        self.waited.append(call.name)
        if call.hangs:
            return False
        call.settled, call.error = True, call.outcome
        return True

    def done(self, call: Call) -> bool:
        return call.settled

    def error(self, call: Call) -> BaseException | None:
        return call.error

    def cancel(self, entries: Sequence[Call], error: BaseException) -> None:
        for call in entries:
            if not call.settled:
                call.settled, call.error, call.cancelled_by = True, error, error

    def timeout_error(self, call: Call) -> BaseException:
        return TimeoutError(f"{call.name} timed out")

    def add_note(self, error: BaseException, call: Call) -> None:
        self.notes.append((str(error), call.name))


def _order(*calls: Call) -> ProgramOrder[Call]:
    order: ProgramOrder[Call] = ProgramOrder()
    order.entries.extend(calls)
    return order


def test_a_later_failure_that_arrived_first_gives_way_to_an_earlier_one() -> None:
    first, second = ValueError("a failed"), KeyError("c failed")
    a, b = Call("a", first), Call("b")
    c = Call("c", second, done=True)  # failed first in time
    d = Call("d")  # not started yet
    order, calls = _order(a, b, c, d), Calls()
    raised = drive(order.result(calls, 2), calls.wait)  # the plan wants c's value
    assert raised is first  # eager would have stopped at a
    assert calls.waited == ["a"]  # b, after a, is not waited for
    assert b.cancelled_by is first and d.cancelled_by is first  # nothing after a may start
    assert calls.notes == [("a failed", "a")]
    # c came after the failure raised: eager never made it, so it never counts
    assert drive(order.barrier(calls), calls.wait) is None


def test_a_failure_is_noted_once_and_raised_once() -> None:
    error = ValueError("boom")
    order, calls = _order(Call("a", error, done=True)), Calls()
    assert drive(order.result(calls, 0), calls.wait) is error
    assert drive(order.result(calls, 0), calls.wait) is error  # waited for again: no new note
    assert calls.notes == [("boom", "a")]
    assert drive(order.barrier(calls), calls.wait) is None  # the plan has it (caught it)


def test_an_inherited_failure_names_the_call_that_raised_it() -> None:
    error = ValueError("input failed")
    a, b = Call("a", error, done=True), Call("b", error, done=True)  # b's input was a's
    order, calls = _order(a, b), Calls()
    order.raised.add(order.key(error))  # raised at a already and caught by the plan ...
    assert drive(order.result(calls, 1), calls.wait) is error  # ... b's value is wanted
    assert calls.notes == [("input failed", "a")]


def test_the_runs_own_timeout_has_no_note_but_a_calls_timeout_has_one() -> None:
    order, calls = _order(Call("a", hangs=True)), Calls()
    own = drive(order.barrier(calls), calls.wait)
    assert isinstance(own, TimeoutError) and str(own) == "a timed out"
    assert calls.notes == []
    inner = TimeoutError("a nested plan timed out")
    order, calls = _order(Call("b", inner)), Calls()
    assert drive(order.barrier(calls), calls.wait) is inner
    assert calls.notes == [("a nested plan timed out", "b")]


def test_abort_raises_an_earlier_calls_failure_instead_of_the_plans_own() -> None:
    earlier = ValueError("a failed")
    a, b = Call("a", earlier), Call("b", hangs=True)
    order, calls = _order(a, b), Calls()
    own = RuntimeError("the plan's own code")
    assert drive(order.abort(calls, own), calls.wait) == (earlier, True)
    assert b.cancelled_by is earlier  # nothing more may start

    order, calls = _order(Call("a")), Calls()
    assert drive(order.abort(calls, own), calls.wait) == (own, False)  # every call returned


def test_an_impure_call_waits_for_what_has_not_returned_since_the_last_impure_one() -> None:
    caught = ValueError("caught")
    a = Call("a")
    b, c = Call("b", caught, done=True), Call("c", ValueError("not raised"), done=True)
    d = Call("d", done=True)
    order, calls = _order(a, b, c, d), Calls()
    order.raised.add(order.key(caught))
    assert [x.name for x in order.impure_deps(calls)] == ["a", "c"]
    e = Call("e")
    order.entries.append(e)  # the impure call itself
    order.entries.append(Call("f"))
    assert [x.name for x in order.impure_deps(calls)] == ["e", "f"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), SystemExit(1)])
def test_an_interrupt_cancels_everything_and_is_raised_as_it_is(
        interrupt: BaseException) -> None:
    a, b = Call("a"), Call("b", ValueError("x"), done=True)
    order, calls = _order(a, b), Calls()
    assert drive(order.abort(calls, interrupt), calls.wait) == (interrupt, True)
    assert a.cancelled_by is interrupt and calls.waited == []
