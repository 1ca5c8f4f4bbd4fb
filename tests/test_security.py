"""Security: plans never hold input values, and odd identifiers never reach generated code."""

from __future__ import annotations

from typing import Any

import pytest

from emberjit import Operator, execution_options, jit
from emberjit.errors import StructuralAnalysisError
from emberjit.jit.api import state_of

SECRET = "sk-SECRET-7f3a9c"


class Shout(Operator[Any, Any]):
    def forward(self, x: Any) -> Any:
        return f"{x}!"


class Join(Operator[Any, Any]):
    def forward(self, xs: Any) -> Any:
        return "|".join(xs)


class Inner(Operator[Any, Any]):
    def __init__(self) -> None:
        self.members = [Shout(), Shout()]
        self.join = Join()

    def forward(self, x: Any) -> Any:
        ys = [m(x) for m in self.members]
        return self.join(ys)


class Outer(Operator[Any, Any]):
    def __init__(self) -> None:
        self.inner = Inner()
        self.shout = Shout()
        self.ops = {"a": Shout(), "b": Inner()}

    def forward(self, inputs: Any) -> Any:
        first = self.shout(inputs["query"])
        rest = {}
        for key, op in self.ops.items():
            rest[key] = op(first)
        if inputs["query"].startswith("sk-"):
            return {"masked": self.inner(first), "rest": rest}
        return rest


def all_plan_sources(fast: Any) -> list[str]:
    state = state_of(fast)
    assert state is not None
    sources = [fast.plan.source]
    for child in state.route.values():
        spec = child.spec
        if spec is not None and spec.plan is not None:
            sources.append(spec.plan.source)
    return sources


@pytest.mark.parametrize("mode", ["structural", "auto"])
def test_plans_never_contain_input_values(mode: str) -> None:
    fast = jit(Outer(), mode=mode)
    for scheduler in ("sequential", "threads"):
        with execution_options(scheduler=scheduler):
            result = fast({"query": SECRET})
    assert SECRET in repr(result)
    sources = all_plan_sources(fast)
    assert len(sources) >= 2  # the root plan and at least one sub-operator's plan
    for source in sources:
        assert "SECRET" not in source and "7f3a9c" not in source


class Odd(Operator[Any, Any]):
    def __init__(self) -> None:
        self.leaf = Shout()
        setattr(self, "a')\nPWNED = 1\n#", Shout())
        self.members = {"k'\nPWNED = 2\n#": Shout()}

    def forward(self, x: Any) -> Any:
        y = self.leaf(x)
        return {k: m(y) for k, m in self.members.items()}


def test_odd_attribute_names_and_keys_stay_out_of_plans() -> None:
    fast = jit(Odd(), mode="structural")
    assert fast("a") == Odd()("a")
    assert "PWNED" not in fast.plan.source
    assert "PWNED" not in fast.plan.fn.__globals__


class Renamed(Operator[Any, Any]):
    def __init__(self) -> None:
        self.leaf = Shout()

    def forward(self, x: Any) -> Any:
        y = self.leaf(x)
        return y


def test_injected_qualname_is_refused_by_structural_mode() -> None:
    original = Renamed.forward.__qualname__
    Renamed.forward.__qualname__ = "Renamed.forward\nPWNED = 3\n#"
    try:
        with pytest.raises(StructuralAnalysisError):
            jit(Renamed(), mode="structural")("a")
    finally:
        Renamed.forward.__qualname__ = original
    fast = jit(Renamed(), mode="structural")
    assert fast("a") == "a!"
    assert "PWNED" not in fast.plan.fn.__globals__


def test_trace_plan_quotes_dict_keys_and_refuses_odd_attribute_names() -> None:
    from emberjit.compiler.trace_plan import safe_path

    assert safe_path("members['k']") and safe_path("a.b[2]")
    assert not safe_path("a')\nX = 1\n#") and not safe_path("x y")


TRAP = '''
import os
from emberjit import Operator, jit


class Leaf(Operator):
    def forward(self, x):
        open(os.environ["TRAP_FILE"], "a").write("leaf forward ran\\n")
        return x


@jit
class Root(Operator):
    def __init__(self):
        self.a = Leaf()
        self.b = Leaf()

    def forward(self, x):
        open(os.environ["TRAP_FILE"], "a").write("root forward ran\\n")
        return [self.a(x), self.b(x)]
'''


def test_compile_and_show_never_call_forward(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "trapped.py").write_text(TRAP)
    trap = tmp_path / "trap.log"
    env = {**os.environ, "TRAP_FILE": str(trap), "PYTHONPATH": str(tmp_path)}
    commands = [["compile", "trapped.py", "-o", "plans"], ["show", "trapped:Root"],
                ["show", "trapped.py:Root", "--explain"], ["show", "trapped:Root", "--graph",
                                                            "dot"]]
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "emberjit", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (args, done.stderr)
    assert (tmp_path / "plans" / "manifest.json").exists()
    assert not trap.exists(), trap.read_text()  # no forward ran, in any command
