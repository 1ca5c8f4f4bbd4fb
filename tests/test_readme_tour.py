"""The README's tour runs as written, and the numbers its comment claims are the ones it makes
(issue 15, item 8): the count of model calls exactly, the times within what no noise can break."""

from __future__ import annotations

import contextlib
import io
import re
import time
from typing import Any

import emberjit
from tests._docs_blocks import ROOT, blocks

README = ROOT / "README.md"


def test_the_tour_runs_and_its_comment_tells_the_truth() -> None:
    tour = [block for block in blocks(README) if block.heading == "A 20-line tour"]
    assert len(tour) == 1, "the README's tour block moved: update this test"
    code = tour[0].code
    claim = re.search(r"# (\d+) model calls x (\d+) ms: eager (\d+) ms, jitted ~(\d+) ms", code)
    assert claim is not None, "the tour's comment no longer states its numbers"
    calls, latency, eager_ms, jitted_ms = map(int, claim.groups())
    assert calls * latency == eager_ms
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        tour[0].run(namespace)  # compiled at its own lines of README.md, where jit reads it
    assert "# emberjit plan for Pipeline.forward" in printed.getvalue()
    assert "mode structural" in printed.getvalue()  # read from the README's own lines
    pipeline = namespace["p"]
    model = pipeline.refiner.model
    before = model.calls
    start = time.perf_counter()
    pipeline({"query": "What is a plan?"})
    jitted = time.perf_counter() - start
    assert model.calls - before == calls  # exactly what the comment says
    with emberjit.disabled():
        start = time.perf_counter()
        pipeline({"query": "What is a plan?"})
        eager = time.perf_counter() - start
    assert eager >= eager_ms / 1e3 * 0.98  # sleeps cannot be shorter
    assert jitted < 2.5 * jitted_ms / 1e3 < eager  # ~100 ms: far from 550, whatever the load
