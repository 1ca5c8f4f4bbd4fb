"""The jit layer: decorator, modes, cache, guards, stats, explain. It composes the stages
(analysis, compiler, runtime) and holds no compiler logic of its own.

``api``     ``jit``, ``get_jit_stats``, ``reset_jit_stats``.
``explain`` ``explain_jit_selection``.
``state``   the per-operator state: dispatch, guards, recompiles.
``select``  the mode decision.
``cache``   the compile cache.  ``stats``  the counters.
"""

from __future__ import annotations

from .api import JitFunction, JitOperator, get_jit_stats, jit, reset_jit_stats
from .explain import Explanation, explain_jit_selection
from .stats import JitStats

__all__ = ["Explanation", "JitFunction", "JitOperator", "JitStats", "explain_jit_selection",
           "get_jit_stats", "jit", "reset_jit_stats"]
