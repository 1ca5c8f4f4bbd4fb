"""Run one generated program eagerly and jitted, compare, shrink and save divergences."""

from __future__ import annotations

import hashlib
import importlib
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from emberjit import execution_options, jit

from .generator import ReplayChooser, generate

__all__ = ["INPUTS", "SCHEDULERS", "check_source", "load", "save_regression", "shrink", "signature"]

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


def _outcome(fn: Any, x: int, log: list[Any]) -> tuple[Any, ...]:
    log.clear()
    try:
        value = fn(x)
    except Exception as exc:  # compared by type and message
        return ("raised", type(exc).__name__, str(exc), list(log))
    return ("value", value, list(log))


def check_source(source: str, inputs: Sequence[int] = INPUTS) -> list[str]:
    """Divergences between eager and every (mode, scheduler) for ``source``; [] when none."""
    module = load(source)
    problems: list[str] = []
    for mode in MODES:
        root = module.Root()
        fast = jit(module.Root(), mode=mode)
        for x in inputs:
            want = _outcome(root, x, module.LOG)
            for scheduler in SCHEDULERS:
                with execution_options(scheduler=scheduler):
                    try:
                        got = _outcome(fast, x, module.LOG)
                    except Exception as exc:  # raised by jit itself, outside the call
                        got = ("jit error", type(exc).__name__, str(exc))
                if got != want:
                    problems.append(f"mode={mode} scheduler={scheduler} input={x}: "
                                    f"eager {want!r} != jit {got!r}")
    return problems


def signature(problems: Sequence[str]) -> str:
    """A coarse class of divergence (the jit outcome's kind), so shrinking keeps the same bug."""
    text = problems[0].split("!= jit", 1)[-1] if problems else ""
    return "Task" if "Task" in text else text.split(",")[0:2].__repr__()


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
