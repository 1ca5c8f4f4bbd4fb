"""Ahead-of-time plans at run time: ``load_plan`` is what the jit layer asks first; it reads and
checks the plans ``emberjit compile`` wrote (:mod:`emberjit.aot_compile`) and never imports
libcst, the compiler or the jit (the jit links what it returns: :mod:`emberjit.jit.aot_plans`).
See ``docs/cli.md``.
"""

from __future__ import annotations

from .common import ENV_VAR, AotCompileError, AotTargetError, owner_source_sha256
from .load import Stored, aot_leaf, clear, load_plan

__all__ = ["ENV_VAR", "AotCompileError", "AotTargetError", "Stored", "aot_leaf", "clear",
           "load_plan", "owner_source_sha256"]
