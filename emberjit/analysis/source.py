"""Finding the source of ``forward`` (or a function, or a helper method) and its libcst node.

The whole defining file is parsed (cached by path and content hash), so imports stay in scope
and line numbers are the file's own; the function is found by its ``__qualname__`` and checked
against its code object. See ``NOTES-libcst.md`` in the design folder for why.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import io
import linecache
import tokenize
import types
from collections.abc import Callable
from typing import Any

import libcst as cst

from ..errors import StructuralAnalysisError

__all__ = ["FunctionSource", "find_forward", "function_source", "source_hash_of"]

_NO_SOURCE_HINT = ("define it in a .py file, or use jit(..., mode='trace') (mode='auto' does this "
                   "by itself) so one recorded run stands in for the source")


@dataclasses.dataclass(frozen=True)
class FunctionSource:
    """One function's source: the parsed node, where it lives, and what it hashes to."""

    function: types.FunctionType
    qualname: str
    filename: str
    first_line: int  # line of the ``def`` (or of its first decorator), as in ``co_firstlineno``
    node: cst.FunctionDef
    file_sha256: str
    sha256: str  # hash of the function's own source text (emberjit.sourcehash)
    file_text: str = dataclasses.field(repr=False, default="")
    text: str = dataclasses.field(repr=False, default="")  # the function's own source lines

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.first_line}"

    def __str__(self) -> str:
        return f"{self.qualname} ({self.location}, sha256 {self.sha256[:12]})"


@functools.lru_cache(maxsize=256)
def _parse(filename: str, digest: str, text: str) -> cst.Module:
    del filename, digest  # cache key only
    return cst.parse_module(text)


@functools.lru_cache(maxsize=512)
def _parse_snippet(own: str) -> cst.FunctionDef | None:
    """The function parsed from its own lines, dedented, when that is exact: never when a string
    spans lines (dedenting would change its text; NOTES-libcst.md), else the whole file is
    parsed. Cached by text, so one function keeps one node (call sites are keyed by node)."""
    lines = own.splitlines(keepends=True)
    first = lines[0]
    indent = first[: len(first) - len(first.lstrip())]
    if any(line.strip() and not line.startswith(indent) for line in lines[1:]):
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(own).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    if any(t.type == tokenize.STRING and t.start[0] != t.end[0] for t in tokens):
        return None
    dedented = "".join(line[len(indent):] if line.startswith(indent) else line.lstrip(" \t")
                       for line in lines)
    try:
        module = cst.parse_module(dedented)
    except cst.ParserSyntaxError:
        return None
    node = module.body[0] if len(module.body) == 1 else None
    return node if isinstance(node, cst.FunctionDef) else None


def _kept_by_linecache(filename: str) -> bool:
    """Code without a file whose lines ``linecache`` holds all the same: a notebook's or the
    IPython terminal's cells (``<ipython-input-3-...>``), code registered by its maker. Not a
    plan of emberjit's own."""
    held = filename in linecache.cache and bool(linecache.getlines(filename))
    return held and not filename.startswith("<emberjit")


def _file_text(filename: str, obj: object) -> tuple[str, str]:
    lines = linecache.getlines(filename)
    if not lines:
        raise StructuralAnalysisError(obj, f"no source text found for file {filename!r}",
                                      _NO_SOURCE_HINT)
    text = "".join(lines)
    return text, hashlib.sha256(text.encode()).hexdigest()


def function_source(fn: Callable[..., Any], owner: object | None = None) -> FunctionSource:
    """The source of a plain Python function or method (``owner`` names it in errors)."""
    what = owner if owner is not None else fn
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    unwrapped = inspect.unwrap(fn)
    if not isinstance(unwrapped, types.FunctionType):
        kind = "a builtin or C function" if callable(unwrapped) else "not a function"
        raise StructuralAnalysisError(what, f"{getattr(fn, '__qualname__', fn)!r} is {kind}",
                                      _NO_SOURCE_HINT)
    code = unwrapped.__code__
    if unwrapped.__name__ == "<lambda>":
        hint = ("write it as a def (jit then compiles it), or leave mode='auto' (it then runs "
                "eagerly)" if what is fn else "write it as a def, or use mode='trace'")
        raise StructuralAnalysisError(what, "lambdas have no statements to analyze", hint,
                                      f"{code.co_filename}:{code.co_firstlineno}")
    filename = code.co_filename
    if filename.startswith("<") and not _kept_by_linecache(filename):
        raise StructuralAnalysisError(what, f"it was defined in {filename} (exec, the REPL or "
                                      "generated code) and has no source file", _NO_SOURCE_HINT)
    text, digest = _file_text(filename, what)
    try:
        own = "".join(inspect.getsourcelines(unwrapped)[0])
    except (OSError, TypeError):
        own = ""
    snippet = _parse_snippet(own) if own else None
    # the function alone (parsing the whole file costs more), if it is the one its name says
    if snippet is not None and snippet.name.value == unwrapped.__qualname__.rsplit(".", 1)[-1]:
        return FunctionSource(unwrapped, unwrapped.__qualname__, filename, code.co_firstlineno,
                              snippet, digest, hashlib.sha256(own.encode()).hexdigest(), text,
                              own)
    try:
        module = _parse(filename, digest, text)
    except cst.ParserSyntaxError as exc:
        raise StructuralAnalysisError(what, f"libcst cannot parse {filename}: {exc.message}",
                                      "check the file parses with Python 3.11",
                                      f"{filename}:{exc.raw_line}") from None
    node = _find(module, unwrapped.__qualname__, code)
    if node is None:
        raise StructuralAnalysisError(
            what, f"no definition of {unwrapped.__qualname__} found in {filename} (the file was "
            "edited after import, or the function was made dynamically)", _NO_SOURCE_HINT,
            f"{filename}:{code.co_firstlineno}")
    own = own or module.code_for_node(node)
    return FunctionSource(unwrapped, unwrapped.__qualname__, filename, code.co_firstlineno, node,
                          digest, hashlib.sha256(own.encode()).hexdigest(), text, own)


def find_forward(target: object) -> FunctionSource:
    """The ``forward`` of an operator class or instance."""
    cls = target if isinstance(target, type) else type(target)
    forward = getattr(cls, "forward", None)
    if forward is None:
        raise StructuralAnalysisError(target, f"{cls.__qualname__} has no forward method",
                                      "define forward(self, inputs)")
    return function_source(forward, target)


def source_hash_of(fn: Callable[..., Any]) -> str:
    """The sha256 of the function's current source, or "" when it has none."""
    try:
        return function_source(fn).sha256
    except StructuralAnalysisError:
        return ""


def _find(module: cst.Module, qualname: str, code: types.CodeType) -> cst.FunctionDef | None:
    """The ``FunctionDef`` named by ``qualname`` whose parameters match ``code``."""
    parts = [p for p in qualname.split(".") if p != "<locals>"]
    candidates: list[cst.CSTNode] = [module]
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        found: list[cst.CSTNode] = []
        for scope in candidates:
            found.extend(_children_named(scope, part, function=last))
        candidates = found
    matching = [n for n in candidates if isinstance(n, cst.FunctionDef)
                and _param_names(n) == list(code.co_varnames[: _argcount(code)])]
    return matching[-1] if matching else None  # the later definition wins, as in Python


def _argcount(code: types.CodeType) -> int:
    flags = code.co_flags
    n = code.co_argcount + code.co_kwonlyargcount
    return n + bool(flags & inspect.CO_VARARGS) + bool(flags & inspect.CO_VARKEYWORDS)


def _param_names(node: cst.FunctionDef) -> list[str]:
    p = node.params
    names = [x.name.value for x in (*p.posonly_params, *p.params)]
    if isinstance(p.star_arg, cst.Param):
        varargs: str | None = p.star_arg.name.value
    else:
        varargs = None
    names += [x.name.value for x in p.kwonly_params]
    if varargs:
        names.append(varargs)
    if p.star_kwarg:
        names.append(p.star_kwarg.name.value)
    return names


def _children_named(scope: cst.CSTNode, name: str, function: bool) -> list[cst.CSTNode]:
    """Definitions named ``name`` directly in ``scope``'s body (looking inside if/try/with)."""
    wanted = cst.FunctionDef if function else (cst.ClassDef, cst.FunctionDef)
    out: list[cst.CSTNode] = []
    stack = list(_body(scope))
    while stack:
        stmt = stack.pop(0)
        if isinstance(stmt, wanted) and stmt.name.value == name:
            out.append(stmt)
        elif isinstance(stmt, cst.If | cst.Try | cst.With | cst.Else | cst.ExceptHandler
                        | cst.Finally | cst.For | cst.While):
            stack[:0] = list(_nested_bodies(stmt))
    return out


def _body(node: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(node, cst.Module):
        return list(node.body)
    body = getattr(node, "body", None)
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    return []


def _nested_bodies(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    out = _body(stmt)
    for attr in ("orelse", "handlers", "finalbody"):
        extra = getattr(stmt, attr, None)
        if isinstance(extra, cst.CSTNode):
            out.append(extra)
        elif isinstance(extra, tuple | list):
            out.extend(extra)
    return out
