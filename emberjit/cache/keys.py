"""Result-cache keys: one record that fully describes a call, hashed.

A call's key is the sha256 of: the key schema (:data:`SCHEMA`) and the Python version, the
operator's fingerprint, and the input (:mod:`emberjit.cache.encoding`; a keyword call's
arguments by name, in any order). An operator's fingerprint is its class (module and name), the
*normalized source* (:mod:`emberjit.cache.sources`) of every method its class and its bases
define (below :class:`~emberjit.operator.Operator`, and not the standard library's), their other
class attributes (a template in the class body), and of every function and class that code
reaches through module globals (and through attributes of the program's own modules:
``prompts.TEMPLATE``), the values of the globals it reads, the functions' default values and
closures, and the operator's own state (its attributes: templates, parameters; sub-operators by
their own fingerprints; models by their identity). Normalized source is the code's syntax tree
without positions, comments or docstrings: a comment, a blank line, a docstring or a reformat
leave the key as it was; a changed helper body, template or parameter changes it.

A model (or any object) says what identifies it with ``__emberjit_cache_key__()``: the models
emberjit ships return their class's identity, model name, endpoint, system prompt and default
parameters, never counters or clients. Other objects are encoded by their class and attributes
(``__slots__`` too); one that holds something with no faithful encoding (a lock, a socket, an
object of a C type whose state its attributes do not show) makes the call :class:`Uncacheable`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import inspect
import logging
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from typing import Any

from ..errors import OperatorCallError
from ..inputs import CallArgs, forward_arguments
from ..operator import Operator
from .encoding import Encoder, Uncacheable, type_name
from .sources import globals_read, library_module, source_digest

__all__ = ["SCHEMA", "call_key", "operator_fingerprint"]

#: the version of the key's layout: a change makes every old entry a miss
SCHEMA = 2
_PREFIX = f"emberjit-result-cache/{SCHEMA}/py{sys.version_info[0]}.{sys.version_info[1]}/"
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement
_BUILTIN_CALLABLES = (types.BuiltinFunctionType, types.MethodDescriptorType,
                      types.WrapperDescriptorType, types.MethodWrapperType,
                      types.ClassMethodDescriptorType)
_MISSING = object()
_PLAIN_DEFAULTS = (type(None), bool, int, float, str, bytes)
#: classes written in C whose instances hold nothing but their attributes
_PLAIN_C = (object, types.SimpleNamespace)
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_lock = threading.Lock()
_signatures: weakref.WeakKeyDictionary[type, inspect.Signature] = weakref.WeakKeyDictionary()
_layouts: weakref.WeakKeyDictionary[type, tuple[bool, tuple[str, ...]]] = \
    weakref.WeakKeyDictionary()
#: a class -> (the size of its namespace, the names of it a key holds), kept per class
_member_names: weakref.WeakKeyDictionary[type, tuple[int, tuple[str, ...]]] = \
    weakref.WeakKeyDictionary()


def call_key(op: object, inputs: Any) -> str:
    """The key of calling ``op`` on ``inputs`` (hex sha256), or :class:`Uncacheable`."""
    keyer = _Keyer()
    keyer.encoder.value(op)
    keyer.encoder.out += b"|"
    keyer.encoder.value(_bound(op, inputs))
    return hashlib.sha256(_PREFIX.encode() + bytes(keyer.encoder.out)).hexdigest()


def operator_fingerprint(op: object) -> str:
    """The fingerprint of an operator (or model, function, class) alone: what a key holds."""
    keyer = _Keyer()
    keyer.encoder.value(op)
    return hashlib.sha256(bytes(keyer.encoder.out)).hexdigest()


def _bound(op: object, inputs: Any) -> Any:
    """The arguments ``forward`` receives for ``op(inputs)``, by name with its defaults
    (``op(q)``, ``op(question=q)`` and ``op(q, context="")`` are one call); else ``inputs``."""
    wrapped = getattr(type(op), "_emberjit_wraps", None)
    target = vars(op)[wrapped] if wrapped else op
    if not isinstance(target, Operator):
        return inputs
    try:
        args, kwargs = forward_arguments(target, inputs)
        bound = _signature(type(target)).bind(target, *args, **kwargs)
    except (TypeError, ValueError, OperatorCallError):
        return inputs
    self_name, *names = bound.signature.parameters
    for name in names:
        default = bound.signature.parameters[name].default
        if name not in bound.arguments and type(default) in _PLAIN_DEFAULTS:
            bound.arguments[name] = default  # (forward's other defaults are in its key)
    return CallArgs((), {k: v for k, v in bound.arguments.items() if k != self_name})


def _signature(cls: type[Operator[Any, Any]]) -> inspect.Signature:
    with _lock:
        known = _signatures.get(cls)
    if known is None:
        known = inspect.signature(cls.forward)
        with _lock:
            _signatures[cls] = known
    return known


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
        elif type(value) is CallArgs:  # a keyword call's arguments: dict order does not count
            encoder.tag(b"P")
            encoder.value(value.args)
            encoder.value(value.kwargs)
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
        elif isinstance(value, functools.partial):
            encoder.tag(b"p", type_name(value))
            encoder.value([value.func, value.args, value.keywords, dict(vars(value))])
        elif isinstance(value, types.ModuleType):
            encoder.tag(b"G", value.__name__)
        elif isinstance(value, _BUILTIN_CALLABLES):
            self.builtin(value)
        elif isinstance(value, types.GenericAlias | types.UnionType) or \
                type(value).__module__ == "typing":  # list[str], Optional[int], a TypeVar
            encoder.tag(b"Y", repr(value))
        elif type(value) is object:  # a sentinel: only its identity counts, never its state
            encoder.tag(b"o", "object")
        elif _described_by_attributes(value):
            if self._first(value):
                self.instance(value)
        else:
            raise Uncacheable(f"a {type(value).__qualname__} value has no cache key (give its "
                              "class an __emberjit_cache_key__ method returning what identifies "
                              "it)")

    def builtin(self, value: Any) -> None:
        """A function or method written in C: its name, and the object it is bound to."""
        owner = getattr(value, "__self__", None)
        where = getattr(value, "__module__", None) or type_name(
            getattr(value, "__objclass__", None) or type(owner))
        self.encoder.tag(b"G", f"{where}.{value.__qualname__}")
        if owner is not None and not isinstance(owner, types.ModuleType):  # ", ".join
            self.encoder.value(owner)

    def instance(self, value: Any) -> None:
        """An operator (or another plain object) by its class and its attributes."""
        wrapped = getattr(type(value), "_emberjit_wraps", None)
        if wrapped:  # jit(instance): the instance it wraps is what runs
            value = vars(value)[wrapped]
        self.encoder.tag(b"O", type_name(value))
        self.cls(type(value))
        state = {k: v for k, v in getattr(value, "__dict__", {}).items()
                 if not k.startswith("_emberjit")}
        for name in _layout(type(value))[1]:
            slot = getattr(value, name, _MISSING)
            if slot is not _MISSING:
                state[f"<slot {name}>"] = slot
        try:
            self.encoder.value(state)
        except Uncacheable as exc:
            raise Uncacheable(f"{type(value).__qualname__}: {exc.reason}") from None

    def cls(self, cls: type) -> None:
        """Every method ``cls`` and its bases below ``Operator`` define, and their other class
        attributes (not the standard library's classes: they are known by name)."""
        self.encoder.tag(b"C", type_name(cls))
        for name, member in _members(cls):
            fn = _function_of(member)
            if fn is not None:
                self.encoder.tag(b"m", name)
                self.function(fn)
            elif _in_c(type(member)) and hasattr(type(member), "__get__"):
                self.encoder.tag(b"a", f"{name}={type_name(member)}")  # a slot, a field getter
            else:
                self.encoder.tag(b"a", name)
                self._global(member)

    def function(self, fn: types.FunctionType) -> None:
        """Its normalized source, the module globals it reads (their values now), its default
        values and the values it closes over."""
        if not self._first(fn):
            return
        if _library_function(fn):  # a library's (emberjit's own too): its name and version
            self.encoder.tag(b"L", f"{fn.__module__}.{fn.__qualname__}|{_version(fn)}")
            return
        self.encoder.tag(b"F", source_digest(fn.__code__))
        for name in globals_read(fn.__code__):
            value = _read(fn.__globals__, name)
            if value is not _MISSING:
                self.encoder.tag(b"g", name)
                self._global(value)
        for default in fn.__defaults__ or ():
            self.encoder.tag(b"d")
            self._global(default)
        for name, default in sorted((fn.__kwdefaults__ or {}).items()):
            self.encoder.tag(b"k", name)
            self._global(default)
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


def _read(namespace: dict[str, Any], name: str) -> Any:
    """The value of the global ``name`` (``mod.attr...``: read through the program's own
    modules only; a library module is known by its name), or ``_MISSING``."""
    root, *attrs = name.split(".")
    value = namespace.get(root, _MISSING)
    for attr in attrs:
        if not isinstance(value, types.ModuleType) or library_module(value):
            return _MISSING  # the chain's start is encoded under its own name
        value = vars(value).get(attr, _MISSING)
    return value


def _library_function(fn: types.FunctionType) -> bool:
    """A function of the standard library, an installed package or emberjit itself (wherever
    emberjit is installed from): described by its name, not by what its code reads (a pool of
    threads, a lock: its state is no part of a result)."""
    module = sys.modules.get(fn.__module__ or "")
    if module is None:
        return False
    return module.__name__.partition(".")[0] == "emberjit" or library_module(module)


def _version(fn: types.FunctionType) -> str:
    from .. import __version__

    return __version__ if (fn.__module__ or "").startswith("emberjit") else ""


def _opaque(value: object) -> bool:
    """Objects whose attributes do not describe what they do (threads, locks, loggers...)."""
    return isinstance(value, logging.Logger | threading.Thread) or \
        type(value).__module__ in ("_thread", "socket", "ssl", "io", "_io")


def _described_by_attributes(value: object) -> bool:
    """Whether ``value``'s attributes (and slots) are all its state: every class it is made of
    is a class statement's (not C's, whose state its attributes may not show)."""
    layout = _layout(type(value))
    return (hasattr(value, "__dict__") or bool(layout[1])) and layout[0] and not _opaque(value)


def _layout(cls: type) -> tuple[bool, tuple[str, ...]]:
    """Whether no class ``cls`` is made of is written in C (but ``object``), and its slots;
    kept per class (a class's layout is fixed when it is made)."""
    with _lock:
        known = _layouts.get(cls)
    if known is None:
        slots: list[str] = []
        for base in cls.__mro__:
            declared = vars(base).get("__slots__", ())
            slots += [name for name in ((declared,) if isinstance(declared, str) else declared)
                      if name not in ("__dict__", "__weakref__")]
        known = (not any(_in_c(base) for base in cls.__mro__ if base not in _PLAIN_C),
                 tuple(slots))
        with _lock:
            _layouts[cls] = known
    return known


def _in_c(cls: type) -> bool:
    """Whether ``cls`` is written in C: a static type, or one of an extension module's."""
    if not cls.__flags__ & _HEAPTYPE or cls.__module__ in sys.builtin_module_names:
        return True
    file = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
    return file.endswith(_EXTENSIONS)


def _members(cls: type) -> Iterator[tuple[str, object]]:
    """``(Base.name, member)`` for what ``cls`` and its bases below ``Operator`` define, but
    the standard library's classes, dunder and sunder names and emberjit's own markers; the
    members' values as they are now."""
    for base in cls.__mro__:
        namespace = vars(base)
        with _lock:
            names = _member_names.get(base)
        if names is None or names[0] != len(namespace):  # a name added or deleted since
            names = (len(namespace), tuple(sorted(filter(_counted, namespace))) if not (
                base in (Operator, object) or
                base.__module__.partition(".")[0] in sys.stdlib_module_names) else ())
            with _lock:
                _member_names[base] = names
        for name in names[1]:
            member = namespace.get(name, _MISSING)
            if member is not _MISSING:
                yield f"{base.__qualname__}.{name}", member


def _counted(name: str) -> bool:
    return not (name.startswith(("_emberjit", "_abc_")) or
                (name[:1] == name[-1:] == "_" and len(name) > 2))


def _function_of(member: object) -> types.FunctionType | None:
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    elif isinstance(member, property):
        member = member.fget
    elif isinstance(member, functools.cached_property):
        member = member.func
    return member if isinstance(member, types.FunctionType) else None
