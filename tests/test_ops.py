"""Tests of emberjit/ops: the exact dicts each built-in operator returns."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

import pytest

from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel
from emberjit.operator import Operator
from emberjit.ops import (
    Ensemble,
    JudgeSynthesis,
    MapOperator,
    ModelCall,
    MostCommon,
    QuestionRefinement,
    SequenceOperator,
)


class EchoModel:
    """Replies ``"<reply> to <prompt>"`` (or a fixed reply) and records every call."""

    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, prompt: str, **params: Any) -> str:
        self.seen.append((prompt, params))
        return self.reply if self.reply is not None else f"reply to {prompt}"


def test_map_operator() -> None:
    op: MapOperator[int, int] = MapOperator(lambda x: x * 3)
    assert op(4) == 12
    assert op(inputs=5) == 15
    assert isinstance(op, Operator)
    with pytest.raises(TypeError, match="needs a callable"):
        MapOperator(3)  # type: ignore[arg-type]


def test_sequence_operator() -> None:
    add: MapOperator[int, int] = MapOperator(lambda x: x + 1)
    double: MapOperator[int, int] = MapOperator(lambda x: x * 2)
    seq = SequenceOperator((add, double, lambda x: x - 3))
    assert isinstance(seq.ops, list) and len(seq.ops) == 3
    assert seq(5) == 9  # ((5 + 1) * 2) - 3
    assert SequenceOperator([])("same") == "same"
    assert [p for p, _ in seq.sub_operators()] == ["ops[0]", "ops[1]"]
    with pytest.raises(TypeError, match=r"ops\[1\] is int"):
        SequenceOperator([add, 1])  # type: ignore[list-item]


def test_model_call() -> None:
    model = EchoModel()
    call = ModelCall(model, "Q: {query} ({lang})", temperature=0.5)
    assert call({"query": "why?", "lang": "en", "extra": 1}) == {"text": "reply to Q: why? (en)"}
    assert model.seen == [("Q: why? (en)", {"temperature": 0.5})]
    assert ModelCall(model)({"query": "hi"}) == {"text": "reply to hi"}
    assert model.seen[-1] == ("hi", {})


def test_model_call_missing_key_names_operator_and_key() -> None:
    call = ModelCall(EchoModel(), "{query} in {lang}")
    with pytest.raises(KeyError) as info:
        call({"query": "why?"})
    message = info.value.args[0]
    assert message == ("ModelCall: template '{query} in {lang}' needs input key 'lang', "
                       "but the input has keys ['query']")


def test_model_call_attribute_field() -> None:
    assert ModelCall(EchoModel(), "{q.real}")({"q": 2}) == {"text": "reply to 2"}
    with pytest.raises(KeyError, match="needs input key 'q'"):
        ModelCall(EchoModel(), "{q[0]}")({})


def test_question_refinement() -> None:
    model = EchoModel()
    assert QuestionRefinement(model)({"query": "ML?"}) == {
        "query": "reply to Refine this question: ML?"}
    assert model.seen == [("Refine this question: ML?", {})]


def test_ensemble_forward() -> None:
    members = [ModelCall(EchoModel(f"a{i}")) for i in range(3)]
    ensemble = Ensemble(members)
    assert ensemble({"query": "q"}) == {"answers": ["a0", "a1", "a2"]}
    assert [p for p, _ in ensemble.sub_operators()] == ["members[0]", "members[1]", "members[2]"]
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])


def test_ensemble_forward_has_visible_fan_out() -> None:
    source = textwrap.dedent(inspect.getsource(Ensemble.forward))
    assert "answers = [m(inputs) for m in self.members]" in source
    assert 'return {"answers": [a["text"] for a in answers]}' in source


def test_ensemble_of() -> None:
    model = EchoModel()
    ensemble = Ensemble.of(model, 4, template="Say: {query}")
    assert len(ensemble.members) == 4
    assert all(isinstance(m, ModelCall) and m.model is model for m in ensemble.members)
    assert [m.params for m in ensemble.members] == [  # type: ignore[attr-defined]
        {"temperature": 0.25}, {"temperature": 0.5}, {"temperature": 0.75}, {"temperature": 1.0}]
    assert ensemble({"query": "x"}) == {"answers": ["reply to Say: x"] * 4}
    assert [params for _, params in model.seen] == [
        {"temperature": t} for t in (0.25, 0.5, 0.75, 1.0)]
    custom = Ensemble.of(model, 2, temperatures=[0.0, 0.3])
    assert [m.params for m in custom.members] == [  # type: ignore[attr-defined]
        {"temperature": 0.0}, {"temperature": 0.3}]
    assert len(Ensemble.of(model, 1).members) == 1
    assert repr(Ensemble.of(SimulatedModel(), 10)) == "Ensemble(members=[ModelCall x 10])"


@pytest.mark.parametrize("n, temperatures, message", [
    (0, None, "n >= 1"),
    (2, [0.5], "1 temperatures for n=2"),
])
def test_ensemble_of_rejects(n: int, temperatures: list[float] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Ensemble.of(EchoModel(), n, temperatures=temperatures)


@pytest.mark.parametrize("answers, expected", [
    (["a"], {"answer": "a", "votes": 1, "total": 1}),
    (["x", "y", "y", "z"], {"answer": "y", "votes": 2, "total": 4}),
    (["b", "a", "a", "b", "c"], {"answer": "b", "votes": 2, "total": 5}),  # tie: first seen
    (["a", "b", "a", "b"], {"answer": "a", "votes": 2, "total": 4}),
    (["c", "b", "a"], {"answer": "c", "votes": 1, "total": 3}),
])
def test_most_common(answers: list[str], expected: dict[str, Any]) -> None:
    assert MostCommon()({"answers": answers}) == expected


def test_most_common_empty() -> None:
    with pytest.raises(ValueError, match="MostCommon: cannot vote on an empty list"):
        MostCommon()({"answers": []})


def test_judge_prompt_and_structured_reply() -> None:
    model = EchoModel("Reasoning: most say B.\nAnswer: B")
    judge = JudgeSynthesis(model, temperature=0)
    assert judge({"query": "Q?", "answers": ["A", "B"]}) == {
        "answer": "B", "reasoning": "most say B."}
    assert model.seen == [(
        "Question: Q?\nCandidate answers:\n1. A\n2. B\n"
        "Judge the candidates and give the best final answer, "
        "as 'Reasoning: ...' then 'Answer: ...'.",
        {"temperature": 0},
    )]


def test_judge_plain_reply() -> None:
    judge = JudgeSynthesis(EchoModel("  B  "))
    assert judge({"query": "Q?", "answers": ["A", "B", "B"]}) == {
        "answer": "B",
        "reasoning": "judged 3 candidate answers (2 distinct); "
                     "the model gave no separate reasoning",
    }


def test_pipeline_on_simulated_model() -> None:
    model = SimulatedModel(latency=0)
    pipeline = Pipeline(model, n=5)
    assert [p for p, _ in pipeline.sub_operators()] == ["refiner", "ensemble", "vote", "judge"]
    result = pipeline({"query": "What is machine learning?"})
    assert model.calls == 7

    refined = model.respond("Refine this question: What is machine learning?")
    answers = [model.respond(refined, temperature=t) for t in (0.2, 0.4, 0.6, 0.8, 1.0)]
    winner = model.canonical(refined)
    assert answers.count(winner) == result["votes"]
    prompt = JudgeSynthesis.prompt(refined, [winner, *answers])
    assert result == {"answer": model.respond(prompt), "votes": result["votes"], "total": 5}
    assert result == {"answer": "Answer-677d9cc4: on 'What is machine learning?'",
                      "votes": 3, "total": 5}
