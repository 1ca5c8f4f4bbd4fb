"""Ahead-of-time compiling: ``emberjit compile`` writes plans; ``emberjit show`` prints them.

``compile_module(target, out_dir)`` (in :mod:`.writer`) imports a module, file or package, and
writes one readable plan module per source module plus ``manifest.json``; :mod:`.commands` are
the command-line verbs, :mod:`.targets` resolves what they name. This sits beside the CLI, at the
top of the layers (it compiles with the jit); reading the plans back at run time is
:mod:`emberjit.aot`, below the jit, without libcst. See ``docs/cli.md``.
"""

from __future__ import annotations

from .writer import CompileResult, compile_module

__all__ = ["CompileResult", "compile_module"]
