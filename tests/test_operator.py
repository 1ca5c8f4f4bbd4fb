"""Tests of emberjit/operator.py: calling conventions, sub-operator discovery, repr, compose."""

from __future__ import annotations

from typing import Any

import pytest

from emberjit.errors import OperatorCallError
from emberjit.operator import Operator
from emberjit.ops.basic import Composed, compose


class AddOne(Operator[int, int]):
    def forward(self, inputs: int) -> int:
        return inputs + 1


class Double(Operator[int, int]):
    def forward(self, *, inputs: int) -> int:  # type: ignore[override]  # Ember's form
        return inputs * 2


class NoInput(Operator[Any, Any]):
    def forward(self) -> Any:  # type: ignore[override]
        return 1


class TwoInputs(Operator[Any, Any]):
    def forward(self, a: Any, b: Any) -> Any:  # type: ignore[override]
        return a, b


class NoForward(Operator[Any, Any]):
    pass


class Holder(Operator[Any, Any]):
    def __init__(self, **attrs: Any) -> None:
        for name, value in attrs.items():
            setattr(self, name, value)

    def forward(self, inputs: Any) -> Any:
        return inputs


@pytest.mark.parametrize("op, expected", [(AddOne(), 4), (Double(), 6)])
def test_both_forward_styles_callable_both_ways(op: Operator[int, int], expected: int) -> None:
    assert op(3) == expected
    assert op(inputs=3) == expected


@pytest.mark.parametrize("args, kwargs, got", [
    ((), {}, "nothing"),
    ((1, 2), {}, "int, int"),
    ((), {"x": 1}, "x=..."),
    ((1,), {"inputs": 2}, "int, inputs=..."),
])
def test_wrong_call_names_operator(args: tuple[Any, ...], kwargs: dict[str, Any],
                                   got: str) -> None:
    with pytest.raises(OperatorCallError) as info:
        AddOne()(*args, **kwargs)
    assert isinstance(info.value, TypeError)
    message = str(info.value)
    assert "AddOne takes exactly one input" in message
    assert "AddOne(x) or AddOne(inputs=x)" in message
    assert message.endswith(f"not with {got}")


def test_forward_without_input_errors_clearly_on_call() -> None:
    op = NoInput()  # defining it is fine; calling it is not
    with pytest.raises(OperatorCallError,
                       match=r"NoInput cannot be called: forward takes no input"):
        op(1)


def test_forward_with_two_required_inputs_errors() -> None:
    with pytest.raises(OperatorCallError, match=r"more than one input \(b\)"):
        TwoInputs()(1)


def test_missing_forward_errors_on_call() -> None:
    with pytest.raises(OperatorCallError, match="forward is not defined"):
        NoForward()(1)


def test_sub_operators_attributes_and_containers() -> None:
    a, b, c, d, e, f, g = (AddOne() for _ in range(7))
    holder = Holder(
        first=a,
        members=[b, c, d],
        pair=(e,),
        ops={"judge": f},
        nested=[[1, g]],
        plain=5,
    )
    paths = [(path, op) for path, op in holder.sub_operators()]
    assert paths == [
        ("first", a),
        ("members[0]", b),
        ("members[1]", c),
        ("members[2]", d),
        ("pair[0]", e),
        ("ops['judge']", f),
        ("nested[0][1]", g),
    ]


def test_sub_operators_recursive_dotted_paths() -> None:
    leaf = AddOne()
    inner = Holder(members=[Double(), leaf])
    outer = Holder(inner=inner, other=AddOne())
    shallow = [path for path, _ in outer.sub_operators()]
    assert shallow == ["inner", "other"]
    deep = dict(outer.sub_operators(recursive=True))
    assert list(deep) == ["inner", "inner.members[0]", "inner.members[1]", "other"]
    assert deep["inner.members[1]"] is leaf


def test_sub_operators_cycles_terminate() -> None:
    a = Holder()
    b = Holder(parent=a)
    a.child = b  # type: ignore[attr-defined]
    a.me = a  # type: ignore[attr-defined]
    loop: list[Any] = []
    loop.append(loop)
    a.loop = loop  # type: ignore[attr-defined]
    assert [p for p, _ in a.sub_operators(recursive=True)] == ["child"]


def test_shared_operator_yielded_once() -> None:
    shared = AddOne()
    holder = Holder(x=shared, y=[shared])
    assert [p for p, _ in holder.sub_operators()] == ["x"]


def test_pure_default_and_override() -> None:
    class Writer(Operator[int, int]):
        pure = False

        def forward(self, inputs: int) -> int:
            return inputs

    assert AddOne.pure is True and AddOne().pure is True
    assert Writer.pure is False and Writer().pure is False


def test_repr_readable() -> None:
    holder = Holder(step=AddOne(), members=[AddOne() for _ in range(5)], k=3, name="x")
    assert repr(holder) == "Holder(step=AddOne(), members=[AddOne x 5], k=3, name='x')"
    small = Holder(ops={"a": AddOne()}, pair=[AddOne(), Double()])
    assert repr(small) == "Holder(ops={'a': AddOne()}, pair=[AddOne(), Double()])"


def test_repr_cycle_and_long_values() -> None:
    a = Holder()
    a.me = a  # type: ignore[attr-defined]
    assert repr(a) == "Holder(me=<Holder (cycle)>)"
    long = Holder(text="y" * 100)
    assert repr(long) == "Holder(text='" + "y" * 56 + "...)"


def test_compose() -> None:
    a, b = AddOne(), Double()
    composed = compose(a, b)
    assert isinstance(composed, Operator) and isinstance(composed, Composed)
    assert composed(5) == a(b(5)) == 11
    assert compose(b, a)(5) == 12
    assert compose(a)(inputs=1) == 2
    assert compose(lambda x: x - 1, a)(10) == 10
    assert [p for p, _ in composed.sub_operators()] == ["ops[0]", "ops[1]"]


def test_compose_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="argument 1 is int, not callable"):
        compose(AddOne(), 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one"):
        compose()
