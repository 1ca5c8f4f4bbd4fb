"""Errors through plans: the operator's own exception with a note naming it, siblings settled,
full paths through nested plans, timeouts, and tracebacks into the generated plan."""

from __future__ import annotations

import linecache
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import _analysis_ops as ops
import pytest

from emberjit import Operator, execution_options, jit
from emberjit.errors import ExecutionTimeoutError
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall


def _members(n: int = 6, failing: int = 3, delay: float = 0.02) -> list[ops.Answer]:
    return [ops.Answer(str(i), delay=delay, fail=i == failing) for i in range(n)]


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_fanout_error_surfaces_with_note(scheduler: str) -> None:
    members = _members()
    fast = jit(ops.Pipeline(members), mode="structural")
    with execution_options(scheduler=scheduler), pytest.raises(ValueError) as info:
        fast("x")
    exc = info.value
    assert type(exc) is ValueError and str(exc) == "3 failed on 'x'"
    assert exc.__notes__ == ["emberjit: raised by Pipeline.members[3] (Answer)"]
    # siblings finished or were cancelled: none is still running the plan's calls
    assert [m.running for m in members] == [0] * len(members)
    members[3].fail = False
    with execution_options(scheduler=scheduler):
        assert fast("x") == "|".join(f"{i}:x" for i in range(6))


def test_first_failure_in_program_order_wins() -> None:
    members = _members(failing=4)
    members[1].fail = True
    members[1].delay = 0.1  # fails later in time, but first in program order
    fast = jit(ops.Pipeline(members), mode="structural")
    with execution_options(scheduler="threads"), pytest.raises(ValueError) as info:
        fast("x")
    assert str(info.value) == "1 failed on 'x'"
    assert info.value.__notes__ == ["emberjit: raised by Pipeline.members[1] (Answer)"]


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_nested_failure_names_full_path(scheduler: str) -> None:
    inner = ops.Pipeline([ops.Answer("0"), ops.Answer("1", fail=True), ops.Answer("2")])
    fast = jit(ops.Outer(inner), mode="structural")
    with execution_options(scheduler=scheduler), pytest.raises(ValueError) as info:
        fast("x")
    assert str(info.value) == "1 failed on 'first(x)'"
    assert info.value.__notes__ == ["emberjit: raised by Outer.inner.members[1] (Answer)"]


@pytest.mark.timeout(20)
def test_timeout_names_the_operator() -> None:
    release = threading.Event()
    hanging = ops.Answer("1", hang=release)
    fast = jit(ops.Pipeline([ops.Answer("0"), hanging]), mode="structural")
    try:
        start = time.perf_counter()
        with execution_options(scheduler="threads", timeout=0.2), \
                pytest.raises(ExecutionTimeoutError) as info:
            fast("x")
        elapsed = time.perf_counter() - start
        assert "Pipeline.members[1] (Answer)" in str(info.value)
        assert "timeout=0.2" in str(info.value)
        assert isinstance(info.value, TimeoutError)
        assert elapsed < 2.0
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while hanging.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hanging.running == 0
    hanging.hang = None
    assert fast("y") == "0:y|1:y"  # the next call works


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_glue_error_traceback_points_into_plan(scheduler: str) -> None:
    fast = jit(ops.Glue(), mode="structural")
    with execution_options(scheduler=scheduler), pytest.raises(KeyError) as info:
        fast("w")
    text = "".join(traceback.format_exception(info.value))
    line = next(n for n, t in enumerate(Path(ops.__file__).read_text().splitlines(), 1)
                if 'return {"v": checked}[inputs]' in t)
    # your file and line, as eager would show them (issue 15, item 1), not the plan's name
    assert f'File "{ops.__file__}", line {line}, in Glue__forward' in text
    assert 'return {"v": checked}[inputs]' in text
    assert "<emberjit-plan" not in text
    for frame in traceback.extract_tb(info.value.__traceback__):  # what pdb's list reads too
        assert linecache.getline(frame.filename, frame.lineno).strip(), frame
    assert not getattr(info.value, "__notes__", None)  # forward's own code: no operator note


class _Rag(Operator[Any, Any]):
    def __init__(self) -> None:
        self.llm = ModelCall(SimulatedModel(latency=0))

    def forward(self, inputs: Any) -> Any:
        reply = self.llm({"query": inputs["query"]})
        answer = reply["text"].strip()  # runs when the reply arrives (a continuation)
        return answer + inputs["context"]  # a KeyError: the input has no "context"


@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
def test_your_own_error_points_at_your_line_on_every_scheduler(scheduler: str) -> None:
    fast = jit(_Rag(), mode="structural")
    with execution_options(scheduler=scheduler), pytest.raises(KeyError) as info:
        fast({"query": "q"})
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.line) == (__file__, 'return answer + inputs["context"]  # a '
                                          'KeyError: the input has no "context"')
    with pytest.raises(KeyError) as eager:
        _Rag()({"query": "q"})
    assert last.lineno == traceback.extract_tb(eager.value.__traceback__)[-1].lineno
