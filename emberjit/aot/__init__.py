"""Ahead-of-time compilation: ``emberjit compile`` writes plans, ``jit`` loads them.

``compile_module(target, out_dir)`` (in :mod:`.compile`) imports a module, file or package, and
writes one readable plan module per source module plus ``manifest.json``. ``load_plan`` (in
:mod:`.load`) is what the jit layer asks first; it never imports libcst. See ``docs/cli.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import ENV_VAR, AotCompileError, AotTargetError, owner_source_sha256
from .load import aot_leaf, clear, load_plan

if TYPE_CHECKING:
    from .compile import CompileResult

__all__ = ["ENV_VAR", "AotCompileError", "AotTargetError", "CompileResult", "aot_leaf", "clear",
           "compile_module", "load_plan", "owner_source_sha256"]


def compile_module(target: str, out_dir: str | None = None) -> CompileResult:
    """See :func:`emberjit.aot.compile.compile_module`."""
    from .compile import compile_module as compile_

    return compile_(target, out_dir)


def __getattr__(name: str) -> Any:
    if name == "CompileResult":
        from .compile import CompileResult

        return CompileResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
