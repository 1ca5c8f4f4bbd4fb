"""Golden plans: the structural plan of every fixture, compared with ``tests/golden/<name>.py.txt``.

After an intended codegen change, regenerate them and review the diff::

    make golden
    # or: EMBERJIT_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

The files are ``.py.txt`` so that ruff and pytest leave them alone. Plans must be deterministic
(no ids, no absolute paths, no timestamps): every test compiles twice and compares.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import fixtures
from emberjit.compiler import compile_structural
from fixtures import idioms

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("EMBERJIT_REGEN_GOLDEN") == "1"
# the fixtures, then the idiom suite's programs (golden files ``idioms.<name>.py.txt``)
NAMES = fixtures.module_names() + [f"idioms.{n}" for n in idioms.names()]


def test_enough_fixtures() -> None:
    assert len(fixtures.module_names()) >= 15


def _source(name: str) -> str:
    module = importlib.import_module(f"fixtures.{name}")
    plan, _guard = compile_structural(module.build())
    return str(plan.source)


@pytest.mark.parametrize("name", NAMES)
def test_plan_matches_golden(name: str) -> None:
    source = _source(name)
    assert source == _source(name), "plan source is not deterministic"
    assert str(Path.cwd()) not in source and "0x" not in source
    path = GOLDEN / f"{name}.py.txt"
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(source)
        return
    assert path.exists(), f"{path} is missing: run `make golden` and review it"
    assert source == path.read_text(), (
        f"plan of fixtures.{name} differs from {path}; if the change is intended, run "
        "`make golden` and review the diff")


def test_no_stale_golden_files() -> None:
    stale = sorted(p.name for p in GOLDEN.glob("*.py.txt") if p.name[:-7] not in NAMES)
    assert not stale, f"golden files without a fixture: {stale}"
