"""The compiler: merge (skeleton -> graph), codegen (-> plan source), Plan.

Only :mod:`.plan` is imported eagerly: the rest needs libcst, which loading an ahead-of-time plan
must not import (``emberjit.aot``); those names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .plan import Plan, PlanGlobals

if TYPE_CHECKING:
    from .build import analyze, compile_structural
    from .merge import build_graph, concurrency_groups, has_concurrency
    from .signature import plan_function_name

__all__ = ["Plan", "PlanGlobals", "analyze", "build_graph", "compile_structural",
           "concurrency_groups", "has_concurrency", "plan_function_name"]

_LAZY = {"analyze": "build", "compile_structural": "build", "plan_function_name": "signature",
         "build_graph": "merge", "concurrency_groups": "merge", "has_concurrency": "merge"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
