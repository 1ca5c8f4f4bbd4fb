"""The source hash of a function: one definition for plans, guards and AOT manifests.

It is the sha256 of the function's source lines as ``inspect.getsourcelines`` reads them
(linecache and tokenize, no libcst), so an ahead-of-time plan can be checked against the current
source without importing the analyzer.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from typing import Any

__all__ = ["function_sha256"]


def function_sha256(fn: Any) -> str:
    """sha256 of one function's source text, or "" when it has none."""
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    try:
        lines, _ = inspect.getsourcelines(inspect.unwrap(fn))
    except (OSError, TypeError):
        return ""
    return hashlib.sha256("".join(lines).encode()).hexdigest()
