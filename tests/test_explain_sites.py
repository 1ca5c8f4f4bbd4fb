"""explain_jit_selection accounts for every call site: concurrent, dependent on a value (named
with its line), or held back (with the line's reason), and sums them up; strict=True refuses a
plan that holds a site back, naming it."""

from __future__ import annotations

import os
from typing import Any

import pytest

from emberjit import Operator, explain_jit_selection, jit
from emberjit.errors import JitFallbackError
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall


class Mixed(Operator[dict[str, Any], Any]):
    def __init__(self, model: SimulatedModel) -> None:
        self.a, self.b, self.c = ModelCall(model), ModelCall(model), ModelCall(model)
        self.d = ModelCall(model)

    def forward(self, inputs: dict[str, Any]) -> Any:
        first = self.a(inputs)
        second = self.b({"query": first["text"]})
        logged = os.path.exists(self.c(inputs)["text"])  # I/O: in program order
        if self.d(inputs)["text"]:
            return [second, logged]
        return None


def _line(offset: int) -> int:
    return Mixed.forward.__code__.co_firstlineno + offset


def test_every_site_is_accounted_for() -> None:
    fast = jit(Mixed(SimulatedModel(latency=0.0)), mode="structural")
    fast({"query": "Q?"})
    sites = explain_jit_selection(fast).sites
    assert sites == (
        f"line {_line(1)} self.a(...): concurrent",
        f"line {_line(2)} self.b(...): dependent: waits on first (line {_line(1)})",
        f"line {_line(3)} self.c(...): held back: its line calls os.path.exists(), code "
        "emberjit does not follow (it may reach impure operators or other effects), so it runs "
        "after every earlier call returned",
        f"line {_line(4)} self.d(...): dependent: line {_line(4)} branches on its result",
        "4 call sites: 1 concurrent, 2 dependent, 1 held back; critical path 3 calls (dataflow "
        "ideal 2)",
    )
    report = str(explain_jit_selection(fast))
    assert "  call sites:\n" in report and report.count("held back") >= 2


def test_strict_names_the_site_it_holds_back() -> None:
    with pytest.raises(JitFallbackError, match=rf"line {_line(3)} self.c\(\.\.\.\): held back"):
        jit(Mixed(SimulatedModel(latency=0.0)), mode="structural", strict=True)({"query": "Q"})


class PlanThenTools(Operator[dict[str, Any], Any]):
    """planner -> tools chosen from its reply -> joiner over a dict the loop fills, with a
    helper whose two calls are a chain: the critical path counts the loop's control
    dependency, the dict filled in the loop, and the helper's own chain."""

    def __init__(self, model: SimulatedModel) -> None:
        self.planner, self.joiner = ModelCall(model), ModelCall(model)
        self.tools = {k: ModelCall(model, f"[{k}] {{query}}") for k in ("calc", "web")}
        self.draft, self.polish = ModelCall(model), ModelCall(model)

    def write(self, text: str) -> Any:
        first = self.draft({"query": text})
        return self.polish({"query": first["text"]})

    def forward(self, inputs: dict[str, Any]) -> Any:
        plan = self.planner(inputs)["text"]
        found = {}
        for name in sorted(self.tools) if plan else []:
            found[name] = self.tools[name](inputs)["text"]
        joined = self.joiner({"query": " ".join(found.values())})
        return joined, self.write(joined["text"])


def test_the_critical_path_follows_control_filled_containers_and_helpers() -> None:
    fast = jit(PlanThenTools(SimulatedModel(latency=0.0)), mode="structural")
    fast({"query": "Q?"})
    summary = explain_jit_selection(fast).sites[-1]
    # planner, a tool, joiner, then the helper's draft and polish
    assert summary.endswith("critical path 5 calls (dataflow ideal 5)"), summary
