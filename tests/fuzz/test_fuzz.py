"""A time-bounded differential fuzzing sample, plus replay of the saved regressions."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .generator import FnChooser, RandomChooser, generate
from .runner import REGRESSIONS, check_source

REGRESSION_FILES = sorted(REGRESSIONS.glob("case_*.py"))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_jit_matches_eager_on_generated_programs(data: st.DataObject) -> None:
    source = generate(FnChooser(lambda n: data.draw(st.integers(0, n - 1))))
    assert check_source(source) == [], source


def test_jit_matches_eager_on_seeded_programs() -> None:
    """Time-bounded: up to 300 seeded programs or ~25 s, whichever comes first."""
    deadline = time.monotonic() + float(os.environ.get("EMBERJIT_FUZZ_SECONDS", "25"))
    checked = 0
    for seed in range(1000, 1300):
        source = generate(RandomChooser(seed))
        assert check_source(source) == [], source
        checked += 1
        if time.monotonic() > deadline:
            break
    assert checked >= 20


def test_generator_is_deterministic_and_covers_the_constructs() -> None:
    sources = [generate(RandomChooser(seed)) for seed in range(60)]
    assert sources[:5] == [generate(RandomChooser(seed)) for seed in range(5)]
    text = "\n".join(sources)
    for construct in ("[m(x) for m in self.members]", ".append(m(x + 1))",
                      "in self.ops.items()", "for m in self.members:\n", "else:",
                      "    return x + 1", "self.helper(x)", "pure = False",
                      "def forward(self, *, inputs)", "= C", "Boom("):
        assert construct in text, construct


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[p.stem for p in REGRESSION_FILES])
def test_saved_regression(path: Path) -> None:
    assert check_source(path.read_text()) == []
