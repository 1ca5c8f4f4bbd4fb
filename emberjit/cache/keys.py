"""Result-cache keys: one record that fully describes a call, hashed.

A call's key is the sha256 of: the key schema (:data:`SCHEMA`) and the Python version, the
operator's fingerprint, and the input (:mod:`emberjit.cache.encoding`). An operator's fingerprint
is its class (module and name), the *normalized source* of every method its class and its bases
define (below :class:`~emberjit.operator.Operator`), and of every function and class that code
reaches through its module globals, the values of the globals it reads, and its own state (its
attributes: templates, parameters; sub-operators by their own fingerprints; models by their
identity). Normalized source is the code's syntax tree without positions, comments or
docstrings: a comment, a blank line, a docstring or a reformat leave the key as it was; a changed
helper body, template or parameter changes it.

A model (or any object) says what identifies it with ``__emberjit_cache_key__()``: the models
emberjit ships return their class's identity, model name, endpoint, system prompt and default
parameters, never counters or clients. Other objects are encoded by their attributes; one that
holds something with no faithful encoding (a lock, a socket) makes the call :class:`Uncacheable`.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import inspect
import logging
import sys
import textwrap
import threading
import types
import weakref
from collections.abc import Iterator
from typing import Any

from ..operator import Operator
from ..pyast import AST_LOCK, parse
from .encoding import Encoder, Uncacheable, type_name

__all__ = ["SCHEMA", "call_key", "operator_fingerprint"]

#: the version of the key's layout: a change makes every old entry a miss
SCHEMA = 1
_PREFIX = f"emberjit-result-cache/{SCHEMA}/py{sys.version_info[0]}.{sys.version_info[1]}/"

_lock = threading.Lock()
#: a code object -> the digest of its normalized source (the code object is what runs: a source
#: file edited since it was imported does not change it)
_sources: weakref.WeakKeyDictionary[types.CodeType, str] = weakref.WeakKeyDictionary()
_reads: weakref.WeakKeyDictionary[types.CodeType, tuple[str, ...]] = weakref.WeakKeyDictionary()
_classes: weakref.WeakKeyDictionary[type, tuple[tuple[str, types.FunctionType], ...]] = \
    weakref.WeakKeyDictionary()


def call_key(op: object, inputs: Any) -> str:
    """The key of calling ``op`` on ``inputs`` (hex sha256), or :class:`Uncacheable`."""
    keyer = _Keyer()
    keyer.encoder.value(op)
    keyer.encoder.out += b"|"
    keyer.encoder.value(inputs)
    return hashlib.sha256(_PREFIX.encode() + bytes(keyer.encoder.out)).hexdigest()


def operator_fingerprint(op: object) -> str:
    """The fingerprint of an operator (or model, function, class) alone: what a key holds."""
    keyer = _Keyer()
    keyer.encoder.value(op)
    return hashlib.sha256(bytes(keyer.encoder.out)).hexdigest()


class _Keyer:
    """One key's encoding: what the :class:`Encoder` does not know is encoded here, each
    object, class and function once (a second visit, a cycle included, is a back-reference)."""

    def __init__(self) -> None:
        self.encoder = Encoder(self.other)
        self._seen: dict[int, int] = {}
        self._keep: list[object] = []  # what _seen's ids refer to, alive until the key is made

    def _first(self, thing: object) -> bool:
        """True the first time ``thing`` is met; after that, a back-reference is written."""
        if id(thing) in self._seen:
            self.encoder.tag(b"@", str(self._seen[id(thing)]))
            return False
        self._seen[id(thing)] = len(self._seen)
        self._keep.append(thing)
        return True

    def other(self, value: Any, encoder: Encoder) -> None:
        own = getattr(type(value), "__emberjit_cache_key__", None)
        if isinstance(value, type):
            if self._first(value):
                self.cls(value)
        elif own is not None:
            if self._first(value):
                encoder.tag(b"K", type_name(value))
                self.cls(type(value))
                encoder.value(own(value))
        elif isinstance(value, types.MethodType):
            encoder.tag(b"M", value.__func__.__name__)
            encoder.value(value.__self__)
            encoder.value(value.__func__)
        elif isinstance(value, types.FunctionType):
            self.function(value)
        elif isinstance(value, types.BuiltinFunctionType | types.ModuleType):
            encoder.tag(b"G", f"{getattr(value, '__module__', '')}.{value.__name__}")
        elif hasattr(value, "__dict__") and not _opaque(value):
            if self._first(value):
                self.instance(value)
        else:
            raise Uncacheable(f"a {type(value).__qualname__} value has no cache key (give its "
                              "class an __emberjit_cache_key__ method returning what identifies "
                              "it)")

    def instance(self, value: Any) -> None:
        """An operator (or another plain object) by its class and its attributes."""
        wrapped = getattr(type(value), "_emberjit_wraps", None)
        if wrapped:  # jit(instance): the instance it wraps is what runs
            value = vars(value)[wrapped]
        self.encoder.tag(b"O", type_name(value))
        self.cls(type(value))
        state = {k: v for k, v in vars(value).items() if not k.startswith("_emberjit")}
        try:
            self.encoder.value(state)
        except Uncacheable as exc:
            raise Uncacheable(f"{type(value).__qualname__}: {exc.reason}") from None

    def cls(self, cls: type) -> None:
        """Every method ``cls`` and its bases below ``Operator`` define."""
        self.encoder.tag(b"C", type_name(cls))
        for name, fn in _methods(cls):
            self.encoder.tag(b"m", name)
            self.function(fn)

    def function(self, fn: types.FunctionType) -> None:
        """Its normalized source, the module globals it reads (their values now) and the
        values it closes over."""
        if not self._first(fn.__code__):
            return
        self.encoder.tag(b"F", _source_digest(fn))
        for name in _globals_read(fn.__code__):
            if name in fn.__globals__:
                self.encoder.tag(b"g", name)
                self._global(fn.__globals__[name])
        for cell in fn.__closure__ or ():
            try:
                self.encoder.value(cell.cell_contents)
            except ValueError:  # an empty cell (a name assigned later)
                self.encoder.out += b"?"

    def _global(self, value: Any) -> None:
        """A module global the code reads: its value, or (a module, a logger) its name."""
        if isinstance(value, types.ModuleType):
            self.encoder.tag(b"m", value.__name__)
        elif _opaque(value):
            self.encoder.tag(b"o", type_name(value))
        else:
            self.encoder.value(value)


def _opaque(value: object) -> bool:
    """Objects whose attributes do not describe what they do (threads, locks, loggers...)."""
    return isinstance(value, logging.Logger | threading.Thread) or \
        type(value).__module__ in ("_thread", "socket", "ssl", "io", "_io")


def _methods(cls: type) -> tuple[tuple[str, types.FunctionType], ...]:
    """``(Base.name, function)`` for every method of ``cls`` and its bases below ``Operator``
    (kept per class: a class's methods are fixed once it is made)."""
    with _lock:
        known = _classes.get(cls)
    if known is None:
        found = []
        for base in cls.__mro__:
            if base in (Operator, object) or base.__module__ in ("builtins", "typing", "abc"):
                continue
            for name, member in sorted(vars(base).items()):
                fn = _function_of(member)
                if fn is not None:
                    found.append((f"{base.__qualname__}.{name}", fn))
        known = tuple(found)
        with _lock:
            _classes[cls] = known
    return known


def _function_of(member: object) -> types.FunctionType | None:
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    elif isinstance(member, property):
        member = member.fget
    return member if isinstance(member, types.FunctionType) else None


def _globals_read(code: types.CodeType) -> tuple[str, ...]:
    """The module globals ``code`` (and the code nested in it) reads, sorted (kept per code)."""
    with _lock:
        known = _reads.get(code)
    if known is None:
        known = tuple(sorted(set(_global_names(code))))
        with _lock:
            _reads[code] = known
    return known


def _global_names(code: types.CodeType) -> Iterator[str]:
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            yield instruction.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _source_digest(fn: types.FunctionType) -> str:
    code = fn.__code__
    with _lock:
        known = _sources.get(code)
    if known is None:
        known = hashlib.sha256(_normalized(fn).encode()).hexdigest()
        with _lock:
            _sources[code] = known
    return known


def _normalized(fn: types.FunctionType) -> str:
    """The syntax tree of ``fn`` without positions, comments and docstrings; the code object's
    instructions and constants when there is no source."""
    try:
        tree = parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return _bytecode(fn.__code__)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    with AST_LOCK:  # ast.dump reads the tree only, but keep every ast use in one line
        return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _bytecode(code: types.CodeType) -> str:
    consts = [_bytecode(c) if isinstance(c, types.CodeType) else repr(c)
              for c in code.co_consts]
    return f"{code.co_code.hex()}|{code.co_names}|{code.co_varnames}|{consts}"
