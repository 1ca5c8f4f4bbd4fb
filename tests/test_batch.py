"""Batches: emberjit.vmap and Operator.map (emberjit/batch.py)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Any

import pytest

from emberjit import Operator, execution_options, jit, vmap
from emberjit.demo import Pipeline
from emberjit.errors import InvalidOptionError
from emberjit.models import SimulatedModel
from emberjit.options import current


class Tracker:
    """A callable that sleeps, counts how many calls run at once, and fails on request."""

    def __init__(self, latency: float = 0.0, fail: frozenset[int] = frozenset()) -> None:
        self.latency, self.fail = latency, fail
        self.in_flight = self.max_in_flight = 0
        self.seen: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, x: int) -> int:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.seen.append(x)
        try:
            # later inputs finish first: order must come from the inputs, not completion
            time.sleep(self.latency * (1 + (x % 5 == 0)) if self.latency else 0)
            if x in self.fail:
                raise ValueError(f"input {x} is bad")
            return x * x
        finally:
            with self.lock:
                self.in_flight -= 1


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_results_keep_input_order_and_run_concurrently() -> None:
    tracker = Tracker(latency=0.05)
    start = time.perf_counter()
    results = vmap(tracker, max_concurrency=20)(list(range(20)))
    elapsed = time.perf_counter() - start
    assert results == [x * x for x in range(20)]
    assert tracker.max_in_flight >= 10
    assert elapsed < 0.5, f"20 x 50 ms on 20 threads took {elapsed:.2f}s"


def test_thousand_inputs_show_progress_and_keep_order(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = jit(Pipeline(SimulatedModel(latency=0), n=3))
    inputs = [{"query": f"Question number {i}?"} for i in range(1000)]
    expected = [Pipeline(SimulatedModel(latency=0), n=3)(x) for x in inputs]
    terminal = _TTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    results = pipeline.map(inputs)
    assert results == expected
    bar = terminal.getvalue()
    assert "1000/1000" in bar and "Pipeline" in bar and "input/s" in bar


def test_no_progress_bar_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()  # isatty() is False
    monkeypatch.setattr(sys, "stderr", piped)
    assert vmap(Tracker())(list(range(50))) == [x * x for x in range(50)]
    assert piped.getvalue() == ""
    assert vmap(Tracker(), progress=True)(list(range(5))) == [0, 1, 4, 9, 16]
    assert "5/5" in piped.getvalue()  # progress=True forces the bar


def test_no_progress_bar_without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    terminal = _TTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert vmap(Tracker())(list(range(10))) == [x * x for x in range(10)]
    assert terminal.getvalue() == ""


def test_a_bar_asked_for_without_tqdm_says_why_there_is_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    with pytest.warns(UserWarning, match=r"tqdm is not installed .*emberjit\[progress\]") as got:
        assert vmap(Tracker(), progress=True)([1, 2]) == [1, 4]
    assert got[0].filename == __file__  # at the call that asked for it


_SCRIPT = "from emberjit import vmap; print(vmap(abs)(list(range(-300, 0)))[:2])"


def test_terminal_and_pipe_in_a_real_process() -> None:
    piped = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                           check=True, timeout=60)
    assert piped.stdout == "[300, 299]\n" and piped.stderr == ""
    leader, follower = pty.openpty()
    # a terminal 100 columns wide (a fresh pty has 0, and tqdm then draws nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run([sys.executable, "-c", _SCRIPT], stdout=subprocess.PIPE,
                              stderr=follower, check=True, timeout=60)
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert proc.stdout == b"[300, 299]\n"
    assert b"300/300" in seen


def test_max_concurrency_is_respected() -> None:
    tracker = Tracker(latency=0.02)
    assert vmap(tracker, max_concurrency=3)(list(range(12))) == [x * x for x in range(12)]
    assert tracker.max_in_flight == 3
    tracker = Tracker(latency=0.02)
    with execution_options(max_concurrency=2):
        tracker_results = vmap(tracker)(list(range(8)))
    assert tracker_results == [x * x for x in range(8)]
    assert tracker.max_in_flight == 2


def test_errors_return_puts_exceptions_in_place() -> None:
    results = vmap(Tracker(fail=frozenset({3, 7})), errors="return")(list(range(10)))
    assert [r for i, r in enumerate(results) if i not in (3, 7)] == [
        x * x for x in range(10) if x not in (3, 7)]
    for i in (3, 7):
        assert isinstance(results[i], ValueError)
        assert str(results[i]) == f"input {i} is bad"
    assert None not in results


def test_errors_raise_gives_the_first_failure_in_input_order() -> None:
    tracker = Tracker(latency=0.01, fail=frozenset({4, 9}))
    with pytest.raises(ValueError, match="input 4 is bad") as info:
        vmap(tracker, max_concurrency=1)(list(range(20)))
    assert "emberjit: raised by the batch's input [4]" in info.value.__notes__
    assert tracker.seen == [0, 1, 2, 3, 4]  # nothing after the failure started


def test_errors_raise_prefers_the_earlier_input_even_if_it_fails_later() -> None:
    def slow_first(x: int) -> int:
        if x == 0:
            time.sleep(0.1)
            raise KeyError("first")
        if x == 5:
            raise ValueError("fast")
        return x

    with pytest.raises(KeyError, match="first"):
        vmap(slow_first, max_concurrency=8)(list(range(8)))


def test_operator_map_and_options_reach_the_inputs() -> None:
    class Scheduler(Operator[int, str]):
        def forward(self, inputs: int) -> str:
            return f"{inputs}:{current().scheduler}"

    with execution_options(scheduler="sequential"):
        assert Scheduler().map([1, 2]) == ["1:sequential", "2:sequential"]
    assert Scheduler().map([]) == []
    assert vmap(Scheduler())(inputs=[3]) == ["3:auto"]


def test_bad_arguments() -> None:
    with pytest.raises(InvalidOptionError, match="errors policy 'ignore'; valid: raise, return"):
        vmap(abs, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="max_concurrency"):
        vmap(abs, max_concurrency=0)
    with pytest.raises(TypeError, match="takes one list of inputs"):
        vmap(abs)([1], [2])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="needs an operator or a callable"):
        vmap(42)  # type: ignore[arg-type]
    assert repr(vmap(abs)) == "vmap(abs, max_concurrency=None, errors='raise')"


def test_jitted_operator_map_equals_eager_loop() -> None:
    model = SimulatedModel(latency=0.01)
    eager = Pipeline(model, n=4)
    inputs: list[dict[str, Any]] = [{"query": f"What is {i}?"} for i in range(12)]
    assert jit(eager).map(inputs, max_concurrency=6) == [eager(x) for x in inputs]


def test_errors_raise_always_raises_even_when_skipped_inputs_finish_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Inputs after a failure are skipped at once; they must never stand in for the failure.
    # Here the failing input's future completes 0.2 s after it marked the failure, so the
    # skipped inputs finish first (the batch used to return their results then).
    import emberjit.batch as batch

    original = batch._one

    def late(fn: Any, item: Any, index: int, stop: Any) -> Any:
        try:
            return original(fn, item, index, stop)
        except ValueError:
            time.sleep(0.2)
            raise

    monkeypatch.setattr(batch, "_one", late)

    def fails_at_3(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        time.sleep(0.01 if x < 3 else 0.05)
        return x

    with pytest.raises(ValueError, match="three"):
        vmap(fails_at_3, max_concurrency=16)(list(range(16)))
