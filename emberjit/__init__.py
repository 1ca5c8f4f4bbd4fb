"""emberjit: a just-in-time and ahead-of-time compiler for compound-AI programs.

Operators in, parallel plans out: ``jit`` reads ``forward`` with libcst, finds the operator calls
and the data between them, and writes a plan, readable Python that starts every call as soon as
its inputs exist and waits only where a result is used.
"""

from __future__ import annotations

from . import integrations as integrations  # registers jit's adapters (no library imported)
from .batch import vmap
from .cache import ResultCache
from .compiler import Plan
from .errors import (
    EmberJitError,
    ExecutionTimeoutError,
    JitFallbackError,
    StructuralAnalysisError,
)
from .jit import (
    JitStats,
    explain_jit_selection,
    get_jit_stats,
    jit,
    reset_jit_stats,
)
from .leaves import leaf
from .operator import Operator
from .ops.basic import compose
from .options import disabled, execution_options
from .profile import Profile, profile

__version__ = "0.1.0"

__all__ = [
    "EmberJitError",
    "ExecutionTimeoutError",
    "JitFallbackError",
    "JitStats",
    "Operator",
    "Plan",
    "Profile",
    "ResultCache",
    "StructuralAnalysisError",
    "__version__",
    "compose",
    "disabled",
    "execution_options",
    "explain_jit_selection",
    "get_jit_stats",
    "jit",
    "leaf",
    "profile",
    "reset_jit_stats",
    "vmap",
]
