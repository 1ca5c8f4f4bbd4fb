"""Operators that combine answers without a model: :class:`MostCommon`."""

from __future__ import annotations

from typing import Any

from ..operator import Operator

__all__ = ["MostCommon"]


class MostCommon(Operator[dict[str, Any], dict[str, Any]]):
    """Majority vote over a list of answers.

    Input: ``{"answers": [answer, ...]}`` (hashable answers, usually strings). Output:
    ``{"answer": winner, "votes": count, "total": n}``. Ties go to the answer that appears first
    in the list. An empty list raises ``ValueError``.
    """

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Return the most common answer with its vote count and the number of answers."""
        answers = list(inputs["answers"])
        if not answers:
            raise ValueError("MostCommon: cannot vote on an empty list of answers")
        counts: dict[Any, int] = {}
        for answer in answers:
            counts[answer] = counts.get(answer, 0) + 1
        winner = max(counts, key=counts.__getitem__)  # max keeps the first of equal counts
        return {"answer": winner, "votes": counts[winner], "total": len(answers)}
