"""Built-in operators: plain functions, sequences, model calls, ensembles, votes and judges."""

from __future__ import annotations

from .aggregate import MostCommon
from .basic import MapOperator, SequenceOperator
from .llm import Ensemble, JudgeSynthesis, ModelCall, QuestionRefinement

__all__ = [
    "Ensemble",
    "JudgeSynthesis",
    "MapOperator",
    "ModelCall",
    "MostCommon",
    "QuestionRefinement",
    "SequenceOperator",
]
