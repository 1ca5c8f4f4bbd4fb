"""The README's tour runs as written, and the numbers its comment claims are the ones it makes
(issue 15, item 8): the count of model calls exactly, the times within what no noise can break."""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path
from typing import Any

import emberjit

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_tour_runs_and_its_comment_tells_the_truth() -> None:
    text = README.read_text()
    block = re.search(r"## A 20-line tour\n\n```python\n(.*?)```", text, re.S)
    assert block is not None, "the README's tour block moved: update this test"
    code = block.group(1)
    claim = re.search(r"# (\d+) model calls x (\d+) ms: eager (\d+) ms, jitted ~(\d+) ms", code)
    assert claim is not None, "the tour's comment no longer states its numbers"
    calls, latency, eager_ms, jitted_ms = map(int, claim.groups())
    assert calls * latency == eager_ms
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        first = text[:block.start(1)].count("\n")  # compiled at its own lines of README.md,
        exec(compile("\n" * first + code, str(README), "exec"), namespace)  # where jit reads it
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
