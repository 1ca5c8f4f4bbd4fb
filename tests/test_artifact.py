"""The plan artifact (issue 14): one frozen, serializable PlanCode that every code generator
returns, from which the graph, table, mermaid and dot are derived, linked in one place; one
record of what a plan assumes, from which its guard, its readable guards and the names it binds
(with where another process finds them) are derived."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import networkx as nx
import pytest

from emberjit import jit
from emberjit.compiler import PlanCode, Step
from emberjit.compiler.assumptions import Assumption, Assumptions
from emberjit.compiler.plan import link
from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel
from emberjit.operator import Operator
from emberjit.ops import ModelCall


def _structural() -> Any:
    return jit(Pipeline(SimulatedModel(latency=0), n=3), mode="structural").plan


class Fan(Operator[dict[str, Any], list[str]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(3)]

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        return [m(inputs)["text"] for m in self.members]


def _traced() -> Any:
    jitted = jit(Fan(SimulatedModel(latency=0)), mode="trace")
    jitted({"query": "A?"})
    return jitted.plan


@pytest.mark.parametrize("make", [_structural, _traced], ids=["structural", "trace"])
def test_every_generator_returns_the_artifact_and_it_round_trips(make: Any) -> None:
    plan = make()
    code = plan.code
    assert isinstance(code, PlanCode) and all(isinstance(s, Step) for s in code.steps)
    with pytest.raises(dataclasses.FrozenInstanceError):
        code.source = "changed"  # type: ignore[misc]
    data = json.loads(json.dumps(code.to_dict()))  # plain data, as AOT writes it
    again = PlanCode.from_dict(data)
    assert again == code
    assert again.table() == plan.table() and again.to_dot() == plan.to_dot()
    assert again.to_mermaid() == plan.to_mermaid()
    assert plan.source.splitlines()[0].startswith("# emberjit plan for ")  # one header writer
    assert "# guards:" in plan.source


def test_the_graph_and_the_views_come_from_the_steps() -> None:
    plan = _structural()
    graph = plan.graph
    assert isinstance(graph, nx.DiGraph)
    assert sorted(graph.nodes) == sorted(s.name for s in plan.code.steps)
    assert graph.number_of_edges() == len(plan.code.edges)
    for step in plan.code.steps:
        assert graph.nodes[step.name]["text"] == step.text
        assert graph.nodes[step.name]["kind"] == step.kind
    rows = plan.table().splitlines()[2:]
    assert [r.split()[0] for r in rows] == [s.name for s in plan.code.ordered_steps()]
    groups = plan.code.groups()
    step = {s.text.split(" = ")[0]: s.name for s in plan.code.steps if " = " in s.text}
    refine, ensemble, judge = step["refined"], step["answers"], step["judged"]
    assert (groups[refine], groups[ensemble], groups[judge]) == (0, 1, 4)  # longest data path
    assert f'{refine}["{refine}: refined = self.refiner(inputs)"]' in plan.to_mermaid()
    assert f'"{refine}" -> "{ensemble}" [label="refined"];' in plan.to_dot()


def test_a_plan_binds_names_with_references_and_linking_checks_them() -> None:
    plan = _structural()
    binds = dict(plan.code.binds)
    assert binds["_code_0"] == "code:forward"  # where another process finds forward's code
    assert plan.code.methods[0] == "forward"
    code = plan.code
    with pytest.raises(ValueError, match=r"no value for the names it binds: .*_code_0"):
        link(code, "no constants", {})
    linked = link(code, "again", plan.fn.__globals__, constants={
        name: plan.fn.__globals__[name] for name, _ in code.binds})
    assert linked.code is code and linked.guard(Pipeline(SimulatedModel(latency=0), n=3)) is None


def test_assumptions_derive_the_guard_the_readable_facts_and_the_binds() -> None:
    marker = object()
    assumed = Assumptions((
        Assumption("source of f sha256 0123"),  # a fact the guard does not check per call
        Assumption.holds("self.x is _x", "self.x is the one compiled", {"_x": "nowhere"},
                         _x=marker),
        Assumption("len(self.y) == 2", ("    if len(self.y) != 2:",
                                         "        return 'len(self.y) changed'")),
    ))
    assert assumed.readable == ("source of f sha256 0123", "self.x is the one compiled",
                                "len(self.y) == 2")
    assert assumed.constants == {"_x": marker} and assumed.binds == (("_x", "nowhere"),)
    namespace: dict[str, Any] = {"_x": marker}
    exec(assumed.guard_source("guard"), namespace)

    class Obj:
        x, y = marker, [1, 2]

    obj = Obj()
    assert namespace["guard"](obj) is None
    obj.y = [1]  # type: ignore[assignment]
    assert namespace["guard"](obj) == "len(self.y) changed"
    obj.x = None  # type: ignore[assignment]
    assert namespace["guard"](obj) == "no longer: self.x is the one compiled"


def test_notes_replace_what_explain_says_not_the_plan_a_reader_holds() -> None:
    plan = _structural()
    noted = plan.with_notes(("a note",), ("a site",))
    assert (noted.explanations, noted.sites) == (("a note",), ("a site",))
    assert plan.explanations != ("a note",) and noted.source == plan.source
    assert noted.fn is plan.fn
