"""Operators that call a language model: :class:`ModelCall`, :class:`QuestionRefinement`,
:class:`Ensemble` and :class:`JudgeSynthesis`.

All of them take and return ``dict[str, Any]``; each class docstring lists the keys.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from typing import Any

from ..models import Model
from ..operator import Operator

__all__ = ["Ensemble", "JudgeSynthesis", "ModelCall", "QuestionRefinement"]

Record = dict[str, Any]

_ANSWER_MARK = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE | re.MULTILINE)
_REASONING_MARK = re.compile(r"^\s*reasoning\s*:\s*", re.IGNORECASE)


def _template_keys(template: str) -> list[str]:
    """The top-level field names ``template`` refers to (``"{a.b}"`` gives ``"a"``)."""
    keys = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field:
            keys.append(re.split(r"[.\[]", field, maxsplit=1)[0])
    return keys


class ModelCall(Operator[Record, Record]):
    """One model call: format ``template`` with the input's keys and ask the model.

    Input: a dict holding every key the template names (``{"query": ...}`` for the default
    ``"{query}"``). Output: ``{"text": reply}``. Extra keyword arguments (``temperature=0.7``) are
    passed to the model on every call. A key missing from the input raises ``KeyError`` naming the
    operator and the key.
    """

    def __init__(self, model: Model, template: str = "{query}", **params: Any) -> None:
        if not callable(model):
            raise TypeError(f"ModelCall needs a callable model, got {type(model).__name__}")
        self.model = model
        self.template = template
        self.params = params
        self._keys = _template_keys(template)

    def forward(self, inputs: Record) -> Record:
        """Return ``{"text": model(template.format(**inputs), **params)}``."""
        for key in self._keys:
            if key not in inputs:
                raise KeyError(
                    f"ModelCall: template {self.template!r} needs input key {key!r}, "
                    f"but the input has keys {sorted(map(str, inputs))}"
                )
        prompt = self.template.format(**inputs)
        return {"text": self.model(prompt, **self.params)}


class QuestionRefinement(Operator[Record, Record]):
    """Ask the model to sharpen a question before it is answered.

    Input: ``{"query": question}``. Output: ``{"query": refined_question}``, the model's reply to
    ``"Refine this question: <question>"``.
    """

    def __init__(self, model: Model, **params: Any) -> None:
        self.model = model
        self.params = params

    def forward(self, inputs: Record) -> Record:
        """Return ``{"query": <the refined question>}``."""
        refined = self.model(f"Refine this question: {inputs['query']}", **self.params)
        return {"query": refined}


class Ensemble(Operator[Record, Record]):
    """Ask every member the same thing; collect their replies in member order.

    Members are operators returning ``{"text": ...}`` (usually :class:`ModelCall`). Input: the dict
    every member takes (``{"query": ...}``). Output: ``{"answers": [text of member 0, ...]}``.
    """

    def __init__(self, members: Iterable[Operator[Record, Record]]) -> None:
        self.members = list(members)
        if not self.members:
            raise ValueError("Ensemble needs at least one member")

    @classmethod
    def of(cls, model: Model, n: int, template: str = "{query}",
           temperatures: Sequence[float] | None = None) -> Ensemble:
        """``n`` :class:`ModelCall` members on ``model``, sampled at varied temperatures.

        By default member ``i`` uses temperature ``(i + 1) / n``, spread over (0, 1].
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Ensemble.of needs n >= 1 members, got {n!r}")
        if temperatures is None:
            temperatures = [(i + 1) / n for i in range(n)]
        elif len(temperatures) != n:
            raise ValueError(
                f"Ensemble.of got {len(temperatures)} temperatures for n={n} members"
            )
        return cls(ModelCall(model, template, temperature=t) for t in temperatures)

    def forward(self, inputs: Record) -> Record:
        """Call every member on ``inputs``; return their texts in member order."""
        answers = [m(inputs) for m in self.members]
        return {"answers": [a["text"] for a in answers]}


def _split_reply(reply: str) -> tuple[str, str] | None:
    """``(answer, reasoning)`` from a reply of the form ``Reasoning: ... Answer: ...``."""
    marks = list(_ANSWER_MARK.finditer(reply))
    if not marks:
        return None
    last = marks[-1]
    answer = reply[last.end():].strip()
    reasoning = _REASONING_MARK.sub("", reply[: last.start()], count=1).strip()
    return answer, reasoning


class JudgeSynthesis(Operator[Record, Record]):
    """Ask the model to judge candidate answers and give one final answer.

    Input: ``{"query": question, "answers": [candidate, ...]}``. Output:
    ``{"answer": text, "reasoning": text}`` from one model call whose prompt lists the numbered
    candidates. A reply of the form ``"Reasoning: ...\\nAnswer: ..."`` is split into the two keys;
    any other reply is the answer whole, and the reasoning then says how many candidates (and how
    many distinct ones) the model judged.
    """

    def __init__(self, model: Model, **params: Any) -> None:
        self.model = model
        self.params = params

    @staticmethod
    def prompt(query: str, answers: Sequence[str]) -> str:
        """The judging prompt for ``query`` and its candidate ``answers``."""
        listed = "\n".join(f"{i}. {answer}" for i, answer in enumerate(answers, 1))
        return (
            f"Question: {query}\n"
            f"Candidate answers:\n{listed}\n"
            "Judge the candidates and give the best final answer, "
            "as 'Reasoning: ...' then 'Answer: ...'."
        )

    def forward(self, inputs: Record) -> Record:
        """Return ``{"answer": ..., "reasoning": ...}`` from one model call."""
        answers = list(inputs["answers"])
        reply = self.model(self.prompt(inputs["query"], answers), **self.params)
        split = _split_reply(reply)
        if split is not None:
            return {"answer": split[0], "reasoning": split[1]}
        distinct = len(dict.fromkeys(answers))
        reasoning = (f"judged {len(answers)} candidate answers ({distinct} distinct); "
                     "the model gave no separate reasoning")
        return {"answer": reply.strip(), "reasoning": reasoning}
