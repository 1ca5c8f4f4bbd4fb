"""The result cache (issue 16): a 100-question evaluation run twice against the simulated model
(50 ms per call) with ``execution_options(cache=<a file in a temp dir>)``. Target: the second run
at least 20x faster than the first, with equal answers.

    .venv/bin/python -m benchmarks.caching [--runs 3]

The evaluation is deterministic: each question is refined at temperature 0, answered by three
samples at temperature 0.7 with a seed each, and judged at temperature 0 (three rounds of model
calls, five calls). It runs ``pipeline.map(questions, max_concurrency=CONCURRENCY)``
(``CONCURRENCY`` questions at once, as an evaluation within a rate limit would). A few questions
are asked twice in a row, so identical calls are in flight at once: those are merged (one runs,
the other gets a copy of its answer), counted by ``get_jit_stats(op).result_merged``. Each run is
a fresh process's view: a new pipeline and a new model on the same cache file, so the second run
is served from the file. Each run's row is the median (min) over ``runs`` cache files."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from emberjit import Operator, ResultCache, execution_options, get_jit_stats, jit
from emberjit.models import SimulatedModel
from emberjit.ops import JudgeSynthesis, ModelCall, QuestionRefinement

from .harness import print_report

__all__ = ["CONCURRENCY", "LATENCY", "QUESTIONS", "Evaluate", "questions", "rows", "table",
           "target"]

LATENCY = 0.05
QUESTIONS = 100
CONCURRENCY = 8
REPEATED = 5  # questions asked twice in a row
SPEEDUP = 20.0


class Evaluate(Operator[dict[str, Any], dict[str, Any]]):
    """Refine the question, sample three seeded answers, judge them."""

    def __init__(self, model: SimulatedModel, samples: int = 3) -> None:
        self.refine = QuestionRefinement(model, temperature=0)
        self.samples = [ModelCall(model, "Answer: {query}", temperature=0.7, seed=seed)
                        for seed in range(samples)]
        self.judge = JudgeSynthesis(model, temperature=0)

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        refined = self.refine(inputs)
        answers = [sample(refined)["text"] for sample in self.samples]
        return self.judge({"query": refined["query"], "answers": answers})


def questions(n: int = QUESTIONS, repeated: int = REPEATED) -> list[dict[str, Any]]:
    """``n`` questions; ``repeated`` of them (spread out) asked twice in a row."""
    asked: list[dict[str, Any]] = []
    twice = {round(i * (n - repeated) / repeated) for i in range(repeated)}
    i = 0
    while len(asked) < n:
        asked.append({"query": f"Question {i}: what does step {i} of the plan compute?"})
        if i in twice and len(asked) < n:
            asked.append(dict(asked[-1]))
        i += 1
    return asked


def _run(path: Path, asked: list[dict[str, Any]], latency: float) -> dict[str, Any]:
    """One run, as a new process would make it: a new pipeline and model, the file as it is."""
    model = SimulatedModel(latency=latency)
    pipeline = jit(Evaluate(model))
    with execution_options(cache=ResultCache(path)):
        start = time.perf_counter()
        answers = pipeline.map(asked, max_concurrency=CONCURRENCY)
        seconds = time.perf_counter() - start
    stats = get_jit_stats(pipeline)
    return {"seconds": seconds, "answers": answers, "model_calls": model.calls,
            "merged": stats.result_merged, "hits": stats.result_hits}


def rows(runs: int = 3, quick: bool = False, n: int = QUESTIONS,
         latency: float = LATENCY) -> list[dict[str, Any]]:
    """The first and second run's rows: medians and minimums over ``runs`` fresh cache files
    (one with ``quick``), each run on ``n`` questions."""
    asked = questions(n)
    samples: dict[str, list[dict[str, Any]]] = {"first run": [], "second run": []}
    for _ in range(1 if quick else runs):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "results.db"
            first = _run(path, asked, latency)
            second = _run(path, asked, latency)
            if second["answers"] != first["answers"]:
                raise AssertionError("the second run's answers differ from the first's")
            samples["first run"].append(first)
            samples["second run"].append(second)
    found = []
    for run, got in samples.items():
        seconds = [s["seconds"] for s in got]
        found.append({"run": run, "median_s": statistics.median(seconds), "min_s": min(seconds),
                      "model_calls": statistics.median(s["model_calls"] for s in got),
                      "merged": statistics.median(s["merged"] for s in got),
                      "hits": statistics.median(s["hits"] for s in got),
                      "questions": len(asked), "runs": len(got), "latency_s": latency})
    return found


def target(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second run at least :data:`SPEEDUP` times faster than the first."""
    by_run = {r["run"]: r for r in found}
    first, second = by_run.get("first run"), by_run.get("second run")
    if not first or not second or not second["median_s"]:
        return []
    ratio = first["median_s"] / second["median_s"]
    return [{"target": f"result cache: a {first['questions']}-question evaluation's second run "
                       f"at least {SPEEDUP:.0f}x faster, answers equal",
             "met": ratio >= SPEEDUP, "value": ratio,
             "measured": f"{first['median_s'] * 1e3:.0f} ms, then {second['median_s'] * 1e3:.1f}"
                         f" ms ({ratio:.0f}x); {first['merged']:.0f} identical calls merged in "
                         "flight"}]


def table(found: list[dict[str, Any]]) -> list[str]:
    if not found:
        return []
    head = found[0]
    lines = [f"result cache, a {head['questions']}-question evaluation ("
             f"{head['latency_s'] * 1e3:.0f} ms per"
             f" model call, {CONCURRENCY} at once), run twice on one cache file, median (min) of "
             f"{head['runs']}:",
             f"  {'run':<12} {'wall time':>18} {'model calls':>12} {'served':>7} {'merged':>7}"]
    for r in found:
        lines.append(f"  {r['run']:<12} {r['median_s'] * 1e3:9.1f} ms ({r['min_s'] * 1e3:5.1f})"
                     f" {r['model_calls']:12.0f} {r['hits']:7.0f} {r['merged']:7.0f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    found = rows(args.runs)
    return print_report(table(found), target(found))


if __name__ == "__main__":
    raise SystemExit(main())
