"""Python's own ``ast`` module, made safe to use from several threads (layer 0).

CPython 3.11 keeps the AST converter's recursion depth per interpreter, not per thread: two
threads inside ``ast.parse`` (or ``compile`` of an AST) at once corrupt it, and that call, or every
later one in the process, fails with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). Plans compile on worker threads (a sub-operator's plan on its first
call), so every conversion between source, AST and code that emberjit makes goes through
:func:`parse` and :func:`compile_tree`, which hold one lock.
"""

from __future__ import annotations

import ast
import threading
from types import CodeType

__all__ = ["AST_LOCK", "compile_tree", "parse"]

#: held around every ``ast.parse`` and ``compile(<AST>)`` emberjit makes
AST_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``, under :data:`AST_LOCK`."""
    with AST_LOCK:
        return ast.parse(source, filename)


def compile_tree(tree: ast.Module, filename: str) -> CodeType:
    """``compile(tree, filename, "exec")``, under :data:`AST_LOCK`."""
    with AST_LOCK:
        return compile(tree, filename, "exec")
