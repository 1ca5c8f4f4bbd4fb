"""Bad input: each case here has a row in docs/errors.md (what you did, what you get, the fix)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from emberjit import Operator, execution_options, jit
from emberjit.errors import InvalidOptionError, OperatorCallError, StructuralAnalysisError
from emberjit.runtime import get_pool


class Leaf(Operator[int, int]):
    def forward(self, x: int) -> int:
        return x + 1


class Holder(Operator[int, int]):
    def __init__(self) -> None:
        self.leaf = Leaf()

    def forward(self, x: int) -> int:
        y = self.leaf(x)
        return y * 2


class SelfRef(Holder):
    def __init__(self) -> None:
        super().__init__()
        self.me = self  # an operator that contains itself


class Wide(Operator[int, int]):
    def __init__(self, n: int) -> None:
        self.members = [Leaf() for _ in range(n)]

    def forward(self, x: int) -> int:
        ys = [m(x) for m in self.members]
        return sum(ys)


@pytest.mark.parametrize(("options", "valid"), [
    ({"schedulr": "threads"}, "scheduler, max_workers, timeout"),
    ({"scheduler": "gpu"}, "auto, sequential, threads"),
    ({"timeout": -1}, "a positive number of seconds"),
    ({"timeout": float("inf")}, "a positive number of seconds"),
    ({"max_workers": 0}, "a positive int"),
    ({"max_workers": True}, "a positive int"),
    ({"retries": -1}, "an int >= 0"),
])
def test_wrong_execution_options(options: dict[str, Any], valid: str) -> None:
    with pytest.raises(InvalidOptionError, match=valid) as info, execution_options(**options):
        pass
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("options", "valid"), [
    ({"moda": "structural"}, "mode, sample_input"),
    ({"mode": "fast"}, "auto, structural, trace, enhanced"),
    ({"strict": "yes"}, "True, False"),
    ({"recompile_limit": -1}, "an int >= 0"),
])
def test_wrong_jit_options(options: dict[str, Any], valid: str) -> None:
    with pytest.raises(InvalidOptionError, match=valid):
        jit(Holder(), **options)


@pytest.mark.parametrize("target", [42, "Holder", len, [Leaf()]])
def test_jit_on_non_operators(target: object) -> None:
    with pytest.raises(TypeError, match="jit\\(\\) takes an Operator class, an Operator instance"):
        jit(target)


def _generator(x: int) -> Any:
    yield x


async def _coroutine(x: int) -> int:
    return x


@pytest.mark.parametrize(("fn", "kind"), [(_generator, "a generator"),
                                          (_coroutine, "an async function")])
def test_generators_and_async_functions(fn: Any, kind: str) -> None:
    with pytest.raises(TypeError, match=kind):
        jit(fn)


class NoForward(Operator[int, int]):
    pass


def test_operator_without_forward_cannot_be_called() -> None:
    with pytest.raises(OperatorCallError, match="NoForward cannot be called: forward is not"):
        NoForward()(1)


class NoInput(Operator[int, int]):
    def forward(self) -> int:  # type: ignore[override]
        return 1


def test_forward_without_input() -> None:
    with pytest.raises(OperatorCallError, match="forward takes no input"):
        NoInput()(1)
    with pytest.raises(TypeError):
        jit(NoInput(), mode="structural")(1)


def test_wrong_call_arguments() -> None:
    fast = jit(Holder(), mode="structural")
    with pytest.raises(OperatorCallError, match="takes exactly one input"):
        fast(1, 2)
    with pytest.raises(OperatorCallError, match="takes exactly one input"):
        fast(y=1)
    assert fast(x=1) == Holder()(x=1) == fast(1)  # forward's own parameter, by name


def test_source_not_found_is_a_structural_analysis_error() -> None:
    namespace: dict[str, Any] = {"Operator": Operator}
    exec("class Made(Operator):\n    def forward(self, x):\n        return x + 1\n", namespace)
    made = namespace["Made"]()
    with pytest.raises(StructuralAnalysisError, match=r"Made .*no source file.*mode='trace'"):
        jit(made, mode="structural")(1)
    assert jit(made)(1) == 2  # auto mode falls back to a trace, or leaves it eager


def test_operator_that_contains_itself() -> None:
    op = SelfRef()
    assert [path for path, _ in op.sub_operators(recursive=True)] == ["leaf"]
    assert "SelfRef" in repr(op)
    assert jit(op, mode="structural")(3) == op(3) == 8


def test_cycles_in_sub_operator_attributes() -> None:
    a, b = Holder(), Holder()
    a.peer = b  # type: ignore[attr-defined]
    b.peer = a  # type: ignore[attr-defined]
    paths = [path for path, _ in a.sub_operators(recursive=True)]
    assert paths == ["leaf", "peer", "peer.leaf"]
    assert "(cycle)" in repr(a)
    for scheduler in ("sequential", "threads"):
        with execution_options(scheduler=scheduler):
            assert jit(a, mode="structural")(3) == 8


def test_huge_fan_out_stays_within_the_pool() -> None:
    op = Wide(10_000)
    fast = jit(op, mode="structural")
    peak = threading.active_count()
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, threading.active_count())
            stop.wait(0.001)

    watcher = threading.Thread(target=watch)
    before = threading.active_count()
    watcher.start()
    try:
        with execution_options(scheduler="threads", max_workers=16):
            assert fast(1) == 20_000
    finally:
        stop.set()
        watcher.join()
    assert get_pool(16).thread_count() <= 16
    assert peak <= before + 1 + 16  # the watcher plus at most the pool
