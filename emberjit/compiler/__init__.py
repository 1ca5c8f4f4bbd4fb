"""The compiler: merge (skeleton -> graph), codegen (-> plan source), Plan."""

from __future__ import annotations

from .build import analyze, compile_structural
from .codegen import plan_function_name
from .merge import build_graph, concurrency_groups, has_concurrency
from .plan import Plan, PlanGlobals

__all__ = ["Plan", "PlanGlobals", "analyze", "build_graph", "compile_structural",
           "concurrency_groups", "has_concurrency", "plan_function_name"]
