"""Structural analysis: source retrieval, StructuralAnalysisError, skeleton call sites, read and
write sets, and the operator environment of a class alone. Nothing here runs ``forward``."""

from __future__ import annotations

import functools
import operator
from typing import Any

import _analysis_ops as ops
import pytest

from emberjit import Operator
from emberjit.analysis import (
    CallSite,
    Skeleton,
    build_skeleton,
    env_for_class,
    env_for_function,
    env_for_instance,
    find_forward,
    function_source,
)
from emberjit.errors import StructuralAnalysisError

OPS_FILE = ops.__file__


def _line_of(fn: Any, text: str) -> int:
    """The file line of the first line of ``fn``'s source containing ``text``."""
    src = function_source(fn)
    with open(src.filename) as f:
        lines = f.read().splitlines()
    for i in range(src.first_line - 1, len(lines)):
        if text in lines[i]:
            return i + 1
    raise AssertionError(f"{text!r} not in {fn}")


def _skeleton(target: Any) -> Skeleton:
    env = env_for_class(target) if isinstance(target, type) else env_for_instance(target)
    return build_skeleton(find_forward(target), env)


# -- source retrieval ------------------------------------------------------------------------


@pytest.mark.parametrize("target", [ops.Calls, ops.Calls()], ids=["class", "instance"])
def test_find_forward_of_class_and_instance(target: Any) -> None:
    src = find_forward(target)
    assert src.qualname == "Calls.forward"
    assert src.filename == OPS_FILE
    assert src.first_line == ops.Calls.forward.__code__.co_firstlineno
    assert src.node.name.value == "forward"
    assert src.location == f"{OPS_FILE}:{src.first_line}"
    assert len(src.sha256) == 64 and src.sha256 != src.file_sha256


def test_function_source_of_function_method_and_bound_method() -> None:
    fn = function_source(ops.plain_double)
    assert (fn.qualname, fn.node.name.value) == ("plain_double", "plain_double")
    helper = function_source(ops.Calls.combine)
    assert helper.qualname == "Calls.combine"
    bound = function_source(ops.Calls().forward)
    assert bound.function is ops.Calls.forward
    assert bound.sha256 == find_forward(ops.Calls).sha256


def test_function_source_of_decorated_function_unwraps() -> None:
    assert ops.decorated.__wrapped__ is not ops.decorated  # type: ignore[attr-defined]
    src = function_source(ops.decorated)
    assert src.qualname == "decorated"
    assert src.function is ops.decorated.__wrapped__  # type: ignore[attr-defined]
    assert src.first_line == _line_of(ops.decorated, "@traced")


def test_find_forward_of_nested_class() -> None:
    nested = ops.make_nested()
    assert "<locals>" in nested.__qualname__
    for target in (nested, nested()):
        src = find_forward(target)
        assert src.qualname == "make_nested.<locals>.Nested.forward"
        assert src.first_line == nested.forward.__code__.co_firstlineno
        assert "self.leaf(inputs)" in ops_source(src.first_line, 2)


def ops_source(first: int, n: int) -> str:
    with open(OPS_FILE) as f:
        return "".join(f.readlines()[first - 1: first - 1 + n])


def test_same_source_same_hash() -> None:
    assert function_source(ops.Calls.forward).sha256 == find_forward(ops.Calls()).sha256
    assert function_source(ops.Calls.forward).sha256 != function_source(ops.Calls.combine).sha256


# -- StructuralAnalysisError -------------------------------------------------------------------


def _check_error(exc: StructuralAnalysisError, obj: object, reason_part: str) -> None:
    assert exc.obj is obj
    assert reason_part in exc.reason
    assert exc.hint
    assert f"Hint: {exc.hint}" in str(exc)
    assert exc.reason in str(exc)


def test_lambda_is_rejected() -> None:
    fn = lambda x: x  # noqa: E731
    with pytest.raises(StructuralAnalysisError) as info:
        function_source(fn)
    _check_error(info.value, fn, "lambda")
    assert info.value.location == f"{__file__}:{fn.__code__.co_firstlineno}"
    assert "write it as a def" in info.value.hint


def test_builtin_is_rejected() -> None:
    with pytest.raises(StructuralAnalysisError) as info:
        function_source(len)
    _check_error(info.value, len, "builtin or C function")
    assert "len" in str(info.value)
    assert "mode='trace'" in info.value.hint


@pytest.mark.parametrize("c_callable", [operator.itemgetter(1), dict.get,
                                        functools.partial(len)], ids=["itemgetter", "method",
                                                                      "partial"])
def test_c_implemented_callable_is_rejected(c_callable: Any) -> None:
    with pytest.raises(StructuralAnalysisError) as info:
        function_source(c_callable)
    _check_error(info.value, c_callable, "builtin or C function")


def test_class_made_with_exec_has_no_source() -> None:
    namespace: dict[str, Any] = {"Operator": Operator}
    exec("class Made(Operator):\n    def forward(self, inputs):\n        return inputs\n",
         namespace)
    made = namespace["Made"]
    for target in (made, made()):
        with pytest.raises(StructuralAnalysisError) as info:
            find_forward(target)
        _check_error(info.value, target, "no source file")
        assert "<string>" in info.value.reason
        assert "Made" in str(info.value)


def test_non_operator_without_forward() -> None:
    with pytest.raises(StructuralAnalysisError) as info:
        find_forward(len)
    assert info.value.obj is len
    assert "no forward method" in info.value.reason
    assert "define forward(self, inputs)" in str(info.value)


# -- call sites ---------------------------------------------------------------------------------


def _sites(skeleton: Skeleton) -> dict[int, CallSite]:
    return {c.line: c for c in skeleton.call_sites()}


@pytest.mark.parametrize("target", [ops.Calls, ops.Calls()], ids=["class", "instance"])
def test_call_sites_of_each_kind(target: Any) -> None:
    sk = _skeleton(target)
    sites = _sites(sk)
    fwd = ops.Calls.forward

    refiner = sites[_line_of(fwd, "self.refiner(inputs)")]
    assert (refiner.kind, refiner.target, refiner.fanout) == ("operator", "refiner", None)
    assert "self.refiner" in refiner.callee

    indexed = sites[_line_of(fwd, "self.members[0](refined)")]
    assert (indexed.kind, indexed.target, indexed.fanout) == ("operator", "members[...]", None)
    assert "self.members[0]" in indexed.callee

    keyed = sites[_line_of(fwd, 'self.ops["k"](refined)')]
    assert (keyed.kind, keyed.target) == ("operator", "ops[...]")
    assert 'self.ops["k"]' in keyed.callee

    looped = sites[_line_of(fwd, "looped.append(m(refined))")]
    assert (looped.kind, looped.target) == ("operator", "members[*]")
    assert looped.fanout == "for over members"

    fanned = sites[_line_of(fwd, "fanned = [m(refined)")]
    assert (fanned.kind, fanned.target) == ("operator", "members[*]")
    assert fanned.fanout is not None and "members" in fanned.fanout

    helper = sites[_line_of(fwd, "self.combine(fanned)")]
    assert (helper.kind, helper.target) == ("helper", "combine")
    assert sk.helpers == ("combine",)

    judge = sites[_line_of(fwd, "return self.judge(")]
    assert (judge.kind, judge.target) == ("operator", "judge")
    assert len(sites) == 7
    assert "line" in str(judge) and "operator judge" in str(judge)


def test_comprehension_fanout_site() -> None:
    sk = _skeleton(ops.Pipeline([ops.Echo()]))
    (fan,) = [c for c in sk.call_sites() if c.target == "members[*]"]
    assert fan.kind == "operator"
    assert fan.fanout is not None and "members" in fan.fanout
    assert fan.line == _line_of(ops.Pipeline.forward, "[m(inputs) for m in self.members]")


def test_global_operator_in_function() -> None:
    src = function_source(ops.uses_global)
    env = env_for_function(ops.uses_global)
    assert "GLOBAL_ECHO" in env.global_ops
    sk = build_skeleton(src, env, is_method=False)
    (site,) = sk.call_sites()
    assert (site.kind, site.target) == ("operator", "GLOBAL_ECHO")
    assert "GLOBAL_ECHO" in site.callee
    assert site.line == _line_of(ops.uses_global, "y = GLOBAL_ECHO(x)")
    assert sk.params == ("x",) and not sk.is_method


def test_closure_operator_in_function() -> None:
    fn = ops.make_closure_fn(ops.Echo("c"))
    env = env_for_function(fn)  # type: ignore[arg-type]
    assert {"inner", "GLOBAL_ECHO"} <= env.global_ops
    sk = build_skeleton(function_source(fn), env, is_method=False)
    assert sorted(c.target for c in sk.call_sites()) == ["GLOBAL_ECHO", "inner"]


def test_non_operator_calls_are_not_sites() -> None:
    sk = _skeleton(ops.RW())
    assert [c.target for c in sk.call_sites()] == ["a"]  # len(...), str.upper etc. are not


# -- read and write sets ------------------------------------------------------------------------


def test_read_write_sets() -> None:
    sk = _skeleton(ops.RW())
    by_text = {s.text: s for s in sk.all_statements()}
    x = by_text["x = self.a(inputs)"]
    assert (x.kind, x.reads, x.writes) == ("assign", {"self", "inputs"}, {"x"})
    unpack = by_text["y, z = x, inputs"]
    assert (unpack.reads, unpack.writes) == ({"x", "inputs"}, {"y", "z"})
    aug = by_text["total += len(y)"]
    assert {"total", "y"} <= aug.reads and aug.writes == {"total"}
    store = by_text["d[z] = [w for w in y]"]
    assert {"d", "z", "y"} <= store.reads and "w" not in store.reads  # w is the comp's own
    ret = by_text["return d"]
    assert (ret.kind, ret.reads, ret.writes) == ("return", {"d"}, frozenset())
    assert [s.line for s in sk.statements] == sorted(s.line for s in sk.statements)


def test_for_statement_blocks() -> None:
    sk = _skeleton(ops.Calls())
    (loop,) = [s for s in sk.statements if s.kind == "for"]
    assert "m" in loop.writes and "self" in loop.reads
    body = loop.blocks[0]
    assert [s.text for s in body] == ["looped.append(m(refined))"]
    assert body[0].calls[0].fanout == "for over members"


# -- environments --------------------------------------------------------------------------------


def test_env_for_class_from_init_assignments() -> None:
    env = env_for_class(ops.Built)
    assert dict(env.attrs) == {"one": "operator", "many": "list", "named": "dict"}
    assert env.cls is ops.Built and env.owner == "Built"


def test_env_for_class_from_annotations() -> None:
    env = env_for_class(ops.Annotated)
    assert dict(env.attrs) == {"scorer": "operator", "panel": "list", "table": "dict"}
    sk = build_skeleton(find_forward(ops.Annotated), env)
    assert [c.target for c in sk.call_sites()] == ["scorer"]


def test_env_for_class_matches_instance() -> None:
    assert dict(env_for_class(ops.Calls).attrs) == dict(env_for_instance(ops.Calls()).attrs)
    env = env_for_instance(ops.Calls())
    assert set(env.helpers) == {"combine"}
    assert "combine" in str(env)


# -- regressions -----------------------------------------------------------------------------


def test_comprehension_fanout_is_labelled_as_a_comprehension() -> None:
    sk = _skeleton(ops.Pipeline([ops.Echo()]))
    (site,) = [c for c in sk.call_sites() if c.target == "members[*]"]
    assert site.fanout == "comprehension over members"


def test_callee_is_the_callee_expression_not_the_line() -> None:
    callees = {c.callee for c in _skeleton(ops.Calls()).call_sites()}
    assert {"self.refiner", "self.members[0]", 'self.ops["k"]', "m", "self.combine"} <= callees


def test_for_header_reads_its_iterable_not_its_target() -> None:
    sk = _skeleton(ops.Calls())
    (loop,) = [s for s in sk.all_statements() if s.kind == "for"]
    assert loop.reads == {"self"}
    assert loop.writes == {"m"}
