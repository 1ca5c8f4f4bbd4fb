"""What a function's code is, for result-cache keys: its normalized source, and the module globals
(and attributes of user modules) it reads.

Normalized source is the syntax tree of the code's own source without positions, comments or
docstrings, so a comment, a blank line, a docstring or a reformat leave it as it was. It is read
from the code object, never through ``__wrapped__`` (a decorator's wrapper is described by its own
body, the function it wraps by its own). The source is used only while the file as it is now still
compiles to the code that runs: a file edited after its module was imported (a notebook kernel
not reloaded) describes code that does not run, so such code is described by its bytecode
instead, and its key matches no process running the edited file. Code with no source (``exec``,
a REPL) is described by its bytecode too.

The globals code reads are the names it loads, and for ``mod.attr.attr`` the chain of names:
a module of the program itself (not the standard library's or an installed package's) is
described by the attributes the code reads, so a helper or a template in another module of
yours counts as one in the same module does.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import inspect
import os
import site
import sys
import sysconfig
import textwrap
import threading
import types
import weakref
from collections.abc import Iterator

from ..pyast import AST_LOCK, parse

__all__ = ["globals_read", "library_module", "source_digest"]

_lock = threading.Lock()
_digests: weakref.WeakKeyDictionary[types.CodeType, str] = weakref.WeakKeyDictionary()
_reads: weakref.WeakKeyDictionary[types.CodeType, tuple[str, ...]] = weakref.WeakKeyDictionary()
#: (file name, sha256 of its text) -> (qualname, first line) -> the code objects it compiles to
_compiled: dict[tuple[str, str], dict[tuple[str, int], list[types.CodeType]]] = {}
_COMPILED_KEPT = 64
_LOADS = ("LOAD_GLOBAL", "LOAD_NAME")
_ATTRS = ("LOAD_ATTR", "LOAD_METHOD")


def source_digest(code: types.CodeType) -> str:
    """A digest of ``code``'s normalized source (its bytecode when the source is not what
    runs); kept per code object."""
    with _lock:
        known = _digests.get(code)
    if known is None:
        known = hashlib.sha256(_normalized(code).encode()).hexdigest()
        with _lock:
            _digests[code] = known
    return known


def globals_read(code: types.CodeType) -> tuple[str, ...]:
    """The global names ``code`` (and the code nested in it) loads, with ``name.attr...`` for
    the attribute chains it reads from them, sorted; kept per code object."""
    with _lock:
        known = _reads.get(code)
    if known is None:
        known = tuple(sorted(set(_global_names(code))))
        with _lock:
            _reads[code] = known
    return known


def _global_names(code: types.CodeType) -> Iterator[str]:
    chain: str | None = None
    for instruction in dis.get_instructions(code):
        if instruction.opname in _LOADS:
            chain = str(instruction.argval)
        elif chain is not None and instruction.opname in _ATTRS:
            chain = f"{chain}.{instruction.argval}"
        else:
            chain = None
            continue
        yield chain
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")
             if name in paths}
    found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    return tuple(sorted(os.path.join(path, "") for path in found))


_LIBRARY_DIRS = _library_dirs()


def library_module(module: types.ModuleType) -> bool:
    """Whether ``module`` is the standard library's or an installed package's (described by its
    name in keys), not a module of the program (described by what its code reads)."""
    if module.__name__.partition(".")[0] in sys.stdlib_module_names:
        return True
    where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), None)
    return not where or str(where).startswith(_LIBRARY_DIRS)


def _normalized(code: types.CodeType) -> str:
    """The syntax tree of ``code``'s source without positions, comments and docstrings, or
    ``stale|`` and its bytecode when the file now holds other code (or there is no source)."""
    try:
        lines, start = inspect.findsource(code)
        tree = parse(textwrap.dedent("".join(inspect.getblock(lines[start:]))))
    except Exception:  # no source (exec, a REPL), or a file that no longer parses
        return "bytecode|" + _bytecode(code)
    if not _current(code, "".join(lines)):
        return "stale|" + _bytecode(code)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    with AST_LOCK:  # ast.dump reads the tree only, but keep every ast use in one line
        return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _current(code: types.CodeType, text: str) -> bool:
    """Whether the file's text ``text`` compiles to ``code`` (at the same line) as it is now."""
    key = (code.co_filename, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    with _lock:
        table = _compiled.get(key)
    if table is None:
        table = {}
        try:
            with AST_LOCK:
                module = compile(text, code.co_filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            module = None
        for each in _codes(module):
            table.setdefault((each.co_qualname, each.co_firstlineno), []).append(each)
        with _lock:
            if len(_compiled) >= _COMPILED_KEPT:
                _compiled.clear()
            _compiled[key] = table
    return any(each == code for each in table.get((code.co_qualname, code.co_firstlineno), ()))


def _codes(code: types.CodeType | None) -> Iterator[types.CodeType]:
    if code is None:
        return
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _bytecode(code: types.CodeType) -> str:
    consts = [_bytecode(c) if isinstance(c, types.CodeType) else repr(c)
              for c in code.co_consts]
    return f"{code.co_code.hex()}|{code.co_names}|{code.co_varnames}|{code.co_freevars}|{consts}"
