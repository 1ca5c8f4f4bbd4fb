"""The design page's pipeline, and ``emberjit demo``: run it on a simulated model and time it.

``Pipeline`` is defined at module level in a real file so a source compiler can read its
``forward``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .models import Model, SimulatedModel
from .operator import Operator
from .ops import Ensemble, JudgeSynthesis, MostCommon, QuestionRefinement

__all__ = ["DEMO_QUERY", "Pipeline", "run_demo"]

DEMO_QUERY = "What is machine learning?"


class Pipeline(Operator[dict[str, Any], dict[str, Any]]):
    """Refine the question, ask an ensemble of ``n`` members, vote, and let a judge decide.

    Input: ``{"query": question}``. Output: ``{"answer": text, "votes": count, "total": n}``,
    the judge's answer with the majority vote's count out of the ensemble's ``n`` answers.
    """

    def __init__(self, model: Model, n: int = 10) -> None:
        self.refiner = QuestionRefinement(model)
        self.ensemble = Ensemble.of(model, n)
        self.vote = MostCommon()
        self.judge = JudgeSynthesis(model)

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Refine, fan out to the ensemble, vote, then judge the winner among all answers."""
        refined = self.refiner(inputs)
        answers = self.ensemble(refined)
        vote = self.vote(answers)
        candidates = [vote["answer"], *answers["answers"]]
        judged = self.judge({"query": refined["query"], "answers": candidates})
        return {"answer": judged["answer"], "votes": vote["votes"], "total": vote["total"]}


def run_demo(out: TextIO | None = None, latency: float = 0.05, n: int = 10) -> int:
    """Build :class:`Pipeline` on a :class:`SimulatedModel`, run it, and print what happened.

    ``out`` defaults to ``sys.stdout`` as it is at call time (so redirection works). Returns 0.
    """
    if out is None:
        out = sys.stdout
    model = SimulatedModel(latency=latency)
    pipeline = Pipeline(model, n=n)
    print(f"model: {model!r} ({latency * 1000:g} ms per call)", file=out)
    print(f"query: {DEMO_QUERY!r}", file=out)

    start = time.perf_counter()
    result = pipeline({"query": DEMO_QUERY})
    eager_ms = (time.perf_counter() - start) * 1000
    print(f"eager: 1 refine + {n} ensemble members + vote + judge, sequential "
          f"({model.calls} model calls)", file=out)
    print(f"  answer: {result['answer']}", file=out)
    print(f"  votes: {result['votes']}/{result['total']}", file=out)
    print(f"  wall time: {eager_ms:.1f} ms", file=out)

    # JIT RUN GOES HERE: once emberjit.jit exists, compile the pipeline, run it on the same
    # query, check it gives the same result, and print its wall time and the speed-up next to
    # the eager run above.
    return 0
