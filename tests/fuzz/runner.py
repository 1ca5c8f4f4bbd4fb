"""Run one generated program eagerly and jitted, compare, shrink and save divergences.

Compared per (mode, scheduler, input): the result or the exception (type and message), the
impure ``LOG``, that no leaf call still runs once the jitted call has returned or raised, and,
where no leaf raised eagerly, how many times each leaf instance ran."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from emberjit import execution_options, jit
from tests.fuzz import leaves  # by the name the programs import it (pytest may name us "fuzz")

from .generator import ReplayChooser, generate

__all__ = ["INPUTS", "SCHEDULERS", "Run", "check_source", "compare", "load", "run_once",
           "save_regression", "shrink", "signature"]

INPUTS = (0, 7, 531)
SCHEDULERS = ("sequential", "threads", "async")
MODES = ("structural", "auto", "enhanced")
REGRESSIONS = Path(__file__).resolve().parents[2] / "fixtures" / "fuzz_regressions"

_dir = Path(tempfile.mkdtemp(prefix="emberjit_fuzz_"))
_lock = threading.Lock()
if str(_dir) not in sys.path:
    sys.path.insert(0, str(_dir))


def load(source: str) -> ModuleType:
    """Write ``source`` to a real file and import it (so libcst reads it from disk)."""
    name = "fuzzprog_" + hashlib.sha256(source.encode()).hexdigest()[:16]
    with _lock:
        if name in sys.modules:
            return sys.modules[name]
        (_dir / f"{name}.py").write_text(source)
        importlib.invalidate_caches()
        return importlib.import_module(name)


@dataclass(frozen=True)
class Run:
    """One call of a root: its outcome, the impure log, the leaf calls (per leaf instance), how
    many leaf calls raised, and how many were still running right after the call ended."""

    outcome: tuple[Any, ...]
    log: list[Any]
    calls: dict[str, int]
    failed: int = 0
    running: int = 0


def run_once(fn: Any, x: int, named: bool = False) -> Run:
    """One call of ``fn`` on ``x`` and what it did; ``named``: the root takes ``(x, y=0)``, and
    is called by keyword or with two inputs for some ``x``."""
    leaves.reset_run()
    try:
        if named and x % 5 == 1:
            value = fn(x=x, y=x % 5)
        elif named and x % 5 == 2:
            value = fn(x, 3)
        else:
            value = fn(x)
        outcome: tuple[Any, ...] = ("value", value)
    except Exception as exc:  # compared by type and message
        outcome = ("raised", type(exc).__name__, str(exc))
    running = leaves.running()
    run = Run(outcome, list(leaves.LOG), dict(leaves.CALLS), leaves.failures(), running)
    if running:  # let stragglers finish, so they do not count in the next run
        leaves.settle()
    return run


def compare(want: Run, got: Run) -> str | None:
    """How a jitted run differs from the eager one (``[what] eager ... != jit ...``), or None.

    Leaf call counts are compared only where no leaf raised eagerly: after a failure a plan may
    already have started later siblings that run concurrently (they must finish, though: no
    leaf call may still run once the jitted call has returned or raised).
    """
    if got.outcome != want.outcome:
        return f"[result] eager {(*want.outcome, want.log)!r} != jit {(*got.outcome, got.log)!r}"
    if got.log != want.log:
        return f"[log] eager log {want.log!r} != jit log {got.log!r}"
    if got.running:
        return f"[running] eager 0 != jit {got.running} leaf calls still running after the call"
    if want.outcome[0] == "value" and not want.failed and got.calls != want.calls:
        keys = sorted(k for k in {*want.calls, *got.calls} if want.calls.get(k) != got.calls.get(k))
        eager = {k: want.calls.get(k, 0) for k in keys}
        jitted = {k: got.calls.get(k, 0) for k in keys}
        return f"[calls] eager calls {eager!r} != jit calls {jitted!r}"
    return None


def _roots(module: ModuleType, mode: str) -> tuple[Any, Any]:
    """An eager root and a jitted one whose leaves have the same keys (built alike)."""
    leaves.new_root()
    root = module.Root()
    leaves.new_root()
    return root, jit(module.Root(), mode=mode)


def check_source(source: str, inputs: Sequence[int] = INPUTS) -> list[str]:
    """Divergences between eager and every (mode, scheduler) for ``source``; [] when none."""
    module = load(source)
    if module.Log is not leaves.Log:  # else the counts and the log read here stay empty
        raise RuntimeError(f"{module.__name__} imports other leaves than {leaves.__name__}")
    problems: list[str] = []
    named = "y" in inspect.signature(module.Root.forward).parameters
    for mode in MODES:
        root, fast = _roots(module, mode)
        for x in inputs:
            want = run_once(root, x, named)
            for scheduler in SCHEDULERS:
                try:
                    with execution_options(scheduler=scheduler):
                        got = run_once(fast, x, named)
                except Exception as exc:  # raised by jit itself, outside the call
                    got = Run(("jit error", type(exc).__name__, str(exc)), [], {})
                diff = compare(want, got)
                if diff:
                    problems.append(f"mode={mode} scheduler={scheduler} input={x}: {diff}")
    return problems


def signature(problems: Sequence[str]) -> str:
    """A coarse class of divergence (what differs and the jit outcome's kind), so shrinking
    keeps the same bug."""
    if not problems:
        return ""
    what = problems[0].split("[", 1)[-1].split("]", 1)[0]
    text = problems[0].split("!= jit", 1)[-1]
    if what != "result":
        return what
    return "Task" if "Task" in text else repr(text.split(",")[0:2])


def shrink(choices: Sequence[int], budget: int = 300) -> tuple[list[int], str]:
    """Lower and drop choices while the program still diverges the same way; the smallest."""
    want = signature(check_source(generate(ReplayChooser(choices))))
    best = list(choices)
    tries = 0

    def diverges(candidate: list[int]) -> bool:
        nonlocal tries
        tries += 1
        try:
            problems = check_source(generate(ReplayChooser(candidate)))
            return bool(problems) and signature(problems) == want
        except Exception:
            return False

    improved = True
    while improved and tries < budget:
        improved = False
        for cut in (len(best) // 2, len(best) // 4, 8, 1):
            while cut and len(best) > cut and tries < budget and diverges(best[:-cut]):
                best, improved = best[:-cut], True
        for i in range(len(best)):
            if tries >= budget:
                break
            for lower in (0, best[i] // 2, best[i] - 1):
                if 0 <= lower < best[i]:
                    candidate = [*best[:i], lower, *best[i + 1:]]
                    if diverges(candidate):
                        best, improved = candidate, True
                        break
    return best, generate(ReplayChooser(best))


def save_regression(source: str, problems: Sequence[str]) -> Path:
    """Save a shrunk failing program under fixtures/fuzz_regressions/ (replayed by the tests)."""
    REGRESSIONS.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    path = REGRESSIONS / f"case_{digest}.py"
    header = "".join(f"# {line}\n" for p in problems[:5] for line in p.splitlines())
    path.write_text(header + source)
    return path
