"""Structural analysis: source retrieval and the Skeleton, built without running anything.

``source``    find a function's source and libcst node (whole file parsed, cached).
``env``       what ``self`` attributes, methods and globals are operators.
``bindings``  which local names are bound to operators; which calls are operator calls.
``builder``   ``build_skeleton``: statements, read/write sets, call sites.
``skeleton``  the Skeleton data types.
"""

from __future__ import annotations

from .builder import build_skeleton, display_path
from .env import OperatorEnv, env_for_class, env_for_function, env_for_instance
from .skeleton import CallSite, Skeleton, Statement
from .source import FunctionSource, find_forward, function_source

__all__ = [
    "CallSite",
    "FunctionSource",
    "OperatorEnv",
    "Skeleton",
    "Statement",
    "build_skeleton",
    "display_path",
    "env_for_class",
    "env_for_function",
    "env_for_instance",
    "find_forward",
    "function_source",
]
