"""Code whose source lives only in ``linecache`` (the IPython terminal's and notebooks' cells,
``<ipython-input-3-...>``) compiles structurally from those lines (issue 15, item 5)."""

from __future__ import annotations

import linecache
import time
import traceback
from typing import Any

import pytest

from emberjit import explain_jit_selection, jit
from emberjit.errors import StructuralAnalysisError
from emberjit.models import SimulatedModel

CELL = '''
from emberjit import Operator
from emberjit.ops import ModelCall


class Cell(Operator):
    def __init__(self, model):
        self.members = [ModelCall(model) for _ in range(8)]

    def forward(self, inputs):
        answers = [m(inputs) for m in self.members]
        return [a["text"] for a in answers] + [inputs["missing"]]
'''


def _run_cell(name: str, register: bool) -> Any:
    if register:  # what IPython does with each cell it runs
        linecache.cache[name] = (len(CELL), None, CELL.splitlines(True), name)
    namespace: dict[str, Any] = {}
    exec(compile(CELL, name, "exec"), namespace)
    return namespace["Cell"]


def test_a_cell_held_by_linecache_compiles_structurally_and_tracebacks_show_it() -> None:
    name = "<ipython-input-3-7f3a2b>"
    try:
        cell = _run_cell(name, register=True)
        fast = jit(cell(SimulatedModel(latency=0.05)), mode="structural")
        assert "mode structural" in str(explain_jit_selection(fast))
        start = time.perf_counter()
        with pytest.raises(KeyError) as info:
            fast({"query": "q"})
        assert time.perf_counter() - start < 0.3  # 8 x 50 ms at once, not 400 ms
        last = traceback.extract_tb(info.value.__traceback__)[-1]
        assert last.filename == name and 'inputs["missing"]' in (last.line or "")
    finally:
        linecache.cache.pop(name, None)


def test_code_without_lines_anywhere_still_says_so() -> None:
    cell = _run_cell("<string>", register=False)
    with pytest.raises(StructuralAnalysisError, match="has no source file"):
        jit(cell(SimulatedModel(latency=0)), mode="structural")({"query": "q"})
