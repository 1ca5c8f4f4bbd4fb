"""The result cache's bench row (benchmarks/caching.py) at a small size, so it never rots: the
second run is served from the file with equal answers, and the repeated questions in flight are
merged. Asserts counts, never timing."""

from __future__ import annotations

from benchmarks import caching
from benchmarks.report import format_tables


def test_questions_repeat_a_few_in_a_row() -> None:
    asked = caching.questions()
    assert len(asked) == caching.QUESTIONS
    pairs = [i for i in range(len(asked) - 1) if asked[i] == asked[i + 1]]
    assert len(pairs) == caching.REPEATED
    assert len({q["query"] for q in asked}) == caching.QUESTIONS - caching.REPEATED


def test_the_second_run_is_served_and_repeats_in_flight_are_merged() -> None:
    found = caching.rows(quick=True, n=12, latency=0.02)
    first, second = found
    distinct = len({q["query"] for q in caching.questions(12)})
    assert first["model_calls"] == distinct * 5  # refine, three samples, judge
    # each repeat is merged with its twin in flight, or (its twin done) served from the file
    assert first["merged"] + first["hits"] == 12 - distinct and first["merged"] >= 1
    assert second["model_calls"] == 0 and second["hits"] == 12
    (row,) = caching.target(found)
    assert row["value"] == first["median_s"] / second["median_s"]
    report = format_tables({"workloads": [], "caching": found, "targets": [row]})
    assert "12-question evaluation" in report and "merged in flight" in report
