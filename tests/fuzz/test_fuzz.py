"""A time-bounded differential fuzzing sample, plus replay of the saved regressions."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .generator import DISABLED, PRELUDE, FnChooser, RandomChooser, generate
from .runner import INPUTS, REGRESSIONS, Run, check_source, compare, load

REGRESSION_FILES = sorted(REGRESSIONS.glob("case_*.py"))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_jit_matches_eager_on_generated_programs(data: st.DataObject) -> None:
    source = generate(FnChooser(lambda n: data.draw(st.integers(0, n - 1))))
    assert check_source(source) == [], source


def test_jit_matches_eager_on_seeded_programs() -> None:
    """Time-bounded: up to 300 seeded programs or ~25 s, whichever comes first."""
    deadline = time.monotonic() + float(os.environ.get("EMBERJIT_FUZZ_SECONDS", "25"))
    checked = 0
    for seed in range(1000, 1300):
        source = generate(RandomChooser(seed))
        assert check_source(source) == [], source
        checked += 1
        if time.monotonic() > deadline:
            break
    assert checked >= 20


#: substrings some of the first 100 seeded programs must contain, by construct name (a construct
#: in generator.DISABLED is not required)
CONSTRUCTS = {
    "fanout": ["[m(x) for m in self.members]"], "append": [".append(m(x + 1))"],
    "dict_loop": ["in self.ops.items()"], "carried": ["for m in self.members:\n"],
    "ifelse": ["else:"], "early": ["    return x + 1"], "helper": ["self.helper(x)"],
    "try": ["except (ValueError, KeyError):"], "pure": ["pure = False"], "nested": ["= C"],
    "raising": ["Boom("],
    "mutate": ['seen', '= {"n": x, "m": 0}', "= [x, 1]", '["n"] += 1', 'del box', "[0] += 1",
               "del xs", '["n"] = 5', "[0] = 5", ".append(3)", 'alias', '["inner"]["n"] += 1',
               '["inner"][0] += 1', "self.peek(outer"],
    "star": ["self.a(*[x])", "self.b(*(x,))"],
    "zip": ['x = [w(x + 1) for w, s in zip([self.a, self.b], ("p", "q"))][0]',
            "in zip(self.members,"],
    "via": ["def via(v, op):", "x = via(x + 1, self.a)", "[via(x, m) for m in self.members]"],
    "self_via": ["x = self._via(self.b, x)", "def _via(self, op, v):"],
    "subscript": ['x = self.pair(x)["v"]', "x = int(str(self.a(x)).strip())", "Pair("],
    "impure": ["x = self.log(*[x])", "zip([self.a, self.log]", "x = via(x, self.log)",
               "x = self._via(self.log, x)"],
    "failing_fanout": ["Slow("],
    "named": ["x = self.named(x)\n", "x = self.named(x=x)", "x = self.named(*[x, 1])",
              "x = self.named(x, y", ", scale=2)", "Named("],
    "named_forward": ["def forward(self, x, y=0):", "x = self.inner(x=x)",
                      "x = self.inner(x, y=3)", "self.inner = C", "self.a(x=x)",
                      "self.b(x, y=3)"],
    "glue": [" * 2 + 1\n", " - 7) % 97\n", " = str(y", "[:3] or 0)", "x = self.agg([z"],
    "postproc": ["(x) % 7 for m in self.members]", "[m(x + i) for i, m in enumerate(self.members)]",
                 ".append(m(x) + 1)", "{k: op(x) * 2 for k, op in self.ops.items()}"],
    "glue_arg": [" + 1, z", " % 13)", "x = self.agg([self._half(y"],
    "alias": ["members = self.members\n", "for m in members]",
              "for op, bump in [(self.a, 1), (self.b, 2)]:", ".append(op(x + bump))",
              "[w(x) for w in (self.a, self.b)]"],
    "range": ["(x + i) for i in range(3)]"],
    "reuse": [".append(m(x))\n", "x = sum(m % 5 for m in out", "+ m(x)) % 1009"],
    "condexpr": ["x = self.a(x) if x % 2 else self.b(x)",
                 "x = (x % 3 == 0 and self.a(x)) or self.b(x + 1)",
                 "x = self.log(x) if x % 5 == 0 else x + 1", ") if y"],
    "augassign": ['= "p" + str(x)', ' += "q"', "= self.b(len(s"],
    "running": ["    if v", " = -1\n", " % 7\n", ' = "s"\n', " += [v", "keep",
                " = [0] * len(self.members)", "[i] += m(x + i) % 7", ": 0 for i in range("],
    "rounds": ["for r in range(", ".append(m(sum(prev", ".append(x)\n"],
    "localdef": ["        def f", "(i) for i in range(3)]", "(7)) % 1009", "list(map(f",
                 "            r = self.a(w", "            return r * 2 + r % 3",
                 "            r = self.log(v)"],
    "looptry": ["        v", " = m(x + 1)\n",
                "    except (ValueError, KeyError, ZeroDivisionError):\n", " % 3 == 0:\n",
                " = 100 // (x % 4 + ", "        continue\n", "    i = i + x % 2", "2 = q",
                " % 11 + 1)\n"],
    "tryblock": ["with contextlib.suppress(ValueError, ZeroDivisionError):", "    raise\n",
                 " = 100 // (v", "    finally:\n", "    else:\n", "[0] = -x\n",
                 "except (KeyError, RuntimeError):\n", " % 50)\n",
                 " % 50 + i) for i, m in enumerate(self.members)]) % 1009",
                 "x = (self._safe(x) + self._safe(x + 3) + ", " % 97)\n", ".append(-1)\n"],
    "scored": ["@staticmethod", "[self.score(m(x)) for m in self.members]",
               " = self.score(self.a(x))", " = self._each(self.members, x)",
               " = self._each([self.a, self.b], x)"],
    "variadic": ["def forward(self, *args):", "def forward(self, inputs, **kwargs):",
                 "def forward(self, *args, **kwargs):", "x = args[0]",
                 "def forward(self, *, inputs)"],
}


def _classes(source: str) -> list[str]:
    return ["class " + part for part in source.split("\nclass ")[1:]]


def test_generator_is_deterministic_and_covers_the_constructs() -> None:
    sources = [generate(RandomChooser(seed)) for seed in range(300)]
    assert sources[:5] == [generate(RandomChooser(seed)) for seed in range(5)]
    text = "\n".join(sources)
    for name, substrings in CONSTRUCTS.items():
        for construct in substrings if name not in DISABLED else ():
            assert construct in text, (name, construct)
    classes = [cls for source in sources for cls in _classes(source)]
    members = [line for cls in classes for line in cls.splitlines() if "self.members = [" in line]
    if "failing_fanout" not in DISABLED:  # a Boom beside slow siblings
        assert any("Boom(" in m and ("Slow(" in m or ", 0.002)" in m) for m in members)
    if "unmarked" not in DISABLED:  # impure leaves in a class not marked pure = False
        assert any("Log(" in cls and "pure = False" not in cls for cls in classes)


def test_generated_programs_run_eagerly() -> None:
    """Valid Python that runs: every failure is a leaf's own (``boom ...``)."""
    for seed in range(60):
        module = load(generate(RandomChooser(seed)))
        for x in INPUTS:
            try:
                module.Root()(x)
            except (ValueError, KeyError, RuntimeError, ZeroDivisionError) as exc:
                assert "boom" in str(exc), (seed, x, exc)


def test_compare_counts_calls_only_where_no_leaf_raised() -> None:
    calls = {"Inc(1, 0.0)#0": 1}
    ok = Run(("value", 3), [], calls)
    assert compare(ok, Run(("value", 3), [], calls)) is None
    assert "[calls]" in (compare(ok, Run(("value", 3), [], {**calls, "Slow(2, 0.002)#1": 1})) or "")
    raised = Run(("raised", "ValueError", "boom"), [(1, 2)], calls, failed=1)
    extra = Run(("raised", "ValueError", "boom"), [(1, 2)], {**calls, "Slow(2, 0.002)#1": 1})
    assert compare(raised, extra) is None  # a sibling may have started beside the failure
    assert "[log]" in (compare(raised, Run(raised.outcome, [], calls)) or "")
    assert "[running]" in (compare(raised, Run(raised.outcome, raised.log, calls, running=1))
                           or "")


def test_check_source_sees_leaf_calls_left_running() -> None:
    source = PRELUDE + """
import threading
import time


class C0(Operator):
    def __init__(self):
        self.a = Slow(1, 0.05)

    def forward(self, inputs):
        threading.Thread(target=self.a, args=(inputs,)).start()
        time.sleep(0.01)
        return inputs


Root = C0
"""
    problems = check_source(source, inputs=(1,))
    assert problems and all("[running]" in p for p in problems), problems


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[p.stem for p in REGRESSION_FILES])
def test_saved_regression(path: Path) -> None:
    assert check_source(path.read_text()) == []
