"""The design page's pipeline, and ``emberjit demo``: run it on a simulated model and time it.

``Pipeline`` is defined at module level in a real file so a source compiler can read its
``forward``. ``run_demo`` runs it eagerly and jitted (structural mode) side by side.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .jit import JitStats, get_jit_stats, jit
from .jit.preload import compiler_import
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


def run_demo(out: TextIO | None = None, latency: float = 0.05, n: int = 10,
             show_plan: bool = True, model: Model | None = None) -> int:
    """Build :class:`Pipeline` on a :class:`SimulatedModel`, run it eagerly and jitted
    (structural mode) side by side, and print both wall times, the speed-up, whether the answers
    are equal, and (unless ``show_plan`` is False) the plan's source.

    ``out`` defaults to ``sys.stdout`` as it is at call time (so redirection works). Returns 0,
    or 1 when the jitted answer differs from the eager one. ``model`` replaces the simulated
    model (``emberjit demo --model openai:NAME``); a real model samples, so its answers may
    differ between the two runs without failing the demo.
    """
    if out is None:
        out = sys.stdout
    given = model is not None
    if model is None:
        model = SimulatedModel(latency=latency)
    pipeline = Pipeline(model, n=n)
    query = {"query": DEMO_QUERY}
    per_call = "" if given else f" ({latency * 1000:g} ms per call)"
    print(f"model: {model!r}{per_call}", file=out)
    print(f"query: {DEMO_QUERY!r}", file=out)

    fast: Any = jit(pipeline, mode="structural")  # like @jit: the compiler imports meanwhile
    eager, eager_ms = _timed(pipeline, query)
    print(f"eager: 1 refine + {n} ensemble members + vote + judge, sequential "
          f"({getattr(model, 'calls', n + 2)} model calls)", file=out)
    _print_result(eager, eager_ms, out)

    first_started = time.perf_counter()
    first, first_ms = _timed(fast, query)  # compiles the plans, starts the pool
    first_stats = get_jit_stats(fast)
    jitted, jit_ms = _timed(fast, query)
    same = jitted == eager and first == eager
    print(f"jit (mode=structural): the ensemble's {n} members run concurrently", file=out)
    _print_result(jitted, jit_ms, out)
    print(f"  first call: {_first_call(first_ms, first_stats, first_started)}", file=out)
    speedup = eager_ms / jit_ms if jit_ms > 0 else float("inf")
    print(f"speed-up: {speedup:.1f}x ({eager_ms:.1f} ms eager -> {jit_ms:.1f} ms jitted)",
          file=out)
    if given and not same:
        print("same answer: no (a real model samples: its answers may differ)", file=out)
        same = True
    else:
        print(f"same answer: {'yes' if same else 'NO'}", file=out)
    if show_plan:
        print("plan:", file=out)
        for line in fast.plan.source.rstrip().splitlines():
            print(f"  {line}".rstrip(), file=out)
    return 0 if same else 1


def _first_call(first_ms: float, stats: JitStats, started: float) -> str:
    """Where the first call's time went: compiling (its plans, and any wait for the compiler's
    import) and running."""
    compile_ms = stats.compile_seconds * 1000
    plans = f"{stats.compiles} plan{'s' if stats.compiles != 1 else ''}"
    text = (f"{first_ms:.1f} ms = compiling {plans} {compile_ms:.1f} ms + running "
            f"{max(first_ms - compile_ms, 0.0):.1f} ms")
    span = compiler_import()
    if span is not None:
        start, end = span
        waited = max(end - started, 0.0) * 1000
        text += (f"\n    (importing the compiler, libcst, took {(end - start) * 1000:.0f} ms in "
                 "the background from jit() on, " + (f"{waited:.0f} ms of it in this call)"
                                                    if waited else "done before this call)"))
    return text


def _timed(op: Any, inputs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = op(inputs)
    return result, (time.perf_counter() - start) * 1000


def _print_result(result: dict[str, Any], ms: float, out: TextIO) -> None:
    print(f"  answer: {result['answer']}", file=out)
    print(f"  votes: {result['votes']}/{result['total']}", file=out)
    print(f"  wall time: {ms:.1f} ms", file=out)
