"""The compiler: merge (skeleton -> graph), codegen (-> plan source), the plan artifact
(:class:`PlanCode`: source, names it binds, guards, steps) and the one link step (-> Plan).

Only :mod:`.artifact` and :mod:`.plan` are imported eagerly: the rest needs libcst, which
running ahead-of-time plans must not import; those names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .artifact import Edge, PlanCode, Step
from .plan import Plan, PlanGlobals

if TYPE_CHECKING:
    from .build import analyze, compile_structural
    from .merge import build_graph, has_concurrency
    from .signature import plan_function_name

__all__ = ["Edge", "Plan", "PlanCode", "PlanGlobals", "Step", "analyze", "build_graph",
           "compile_structural", "has_concurrency", "plan_function_name"]

_LAZY = {"analyze": "build", "compile_structural": "build", "plan_function_name": "signature",
         "build_graph": "merge", "has_concurrency": "merge"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
