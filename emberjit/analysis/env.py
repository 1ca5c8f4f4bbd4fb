"""What the names in ``forward`` refer to: which ``self`` attributes are operators or collections
of operators, which methods are helpers, which globals and closure variables are operators.

From an instance this is introspection (``vars``, ``getattr`` on the class): nothing runs. From a
class alone it is read from ``__init__``'s assignments (``self.x = Answer(...)``,
``self.members = [Answer(...) for ...]``) and the class annotations.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

import libcst as cst

from ..leaves import is_leaf
from ..operator import Operator, container_kind
from .walk import Visitor

__all__ = ["OP", "OP_DICT", "OP_LIST", "OperatorEnv", "env_for_class", "env_for_function",
           "env_for_instance", "namespace_of"]

OP, OP_LIST, OP_DICT = "operator", "list", "dict"  # what container_kind says


@dataclasses.dataclass(frozen=True)
class OperatorEnv:
    """Facts about the names a function body may call, gathered without running it."""

    owner: str  # "Pipeline" or the function's qualname
    attrs: Mapping[str, str]  # self attribute -> OP | OP_LIST | OP_DICT
    helpers: Mapping[str, types.FunctionType]  # self methods with Python source
    opaque_methods: frozenset[str]  # self methods without source (builtins, C, properties)
    global_ops: frozenset[str]  # global / closure names bound to operators
    cls: type | None = None
    #: the attributes and global names of ``attrs``/``global_ops`` that hold leaves which are not
    #: operators (a model, a marked function; see emberjit.leaves): plans call them through
    #: ``run.leaf``, and for a leaf object its methods are call sites too
    leaves: frozenset[str] = frozenset()
    #: ``@staticmethod`` functions by name: ``self.score(text)`` calls a function of the user's
    statics: Mapping[str, types.FunctionType] = dataclasses.field(default_factory=dict)
    #: the instance's plain attributes (jit of an instance): ``self.names.index(x)`` reads a
    #: list, it calls no code of the user's
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False,
                                                  compare=False)

    def __str__(self) -> str:
        attrs = ", ".join(f"{k}:{v}" for k, v in sorted(self.attrs.items())) or "-"
        return f"OperatorEnv({self.owner}; attrs {attrs}; helpers {sorted(self.helpers)})"


def _call_target(value: object) -> bool:
    return isinstance(value, Operator) or is_leaf(value)


def operator_kind(value: object) -> str | None:
    """OP, OP_LIST or OP_DICT for a value holding operators (or leaves), else None."""
    return container_kind(value, _call_target)


def holds_leaves(value: object) -> bool:
    """Whether ``value`` (of some :func:`operator_kind`) holds a leaf that is not an operator."""
    values = value.values() if isinstance(value, dict) else (
        value if isinstance(value, list | tuple) else (value,))
    return any(not isinstance(v, Operator) for v in values)


def _methods(cls: type, skip: frozenset[str]) -> tuple[dict[str, types.FunctionType],
                                                       frozenset[str],
                                                       dict[str, types.FunctionType]]:
    """The class's helper methods (with source), its opaque ones, and its static methods (a
    function of the user's, called through ``self``)."""
    helpers: dict[str, types.FunctionType] = {}
    statics: dict[str, types.FunctionType] = {}
    opaque: set[str] = set()
    for name in dir(cls):
        if name.startswith("__") or name in skip or name == "forward":
            continue
        raw = inspect.getattr_static(cls, name, None)
        if isinstance(raw, staticmethod) and isinstance(raw.__func__, types.FunctionType):
            statics[name] = raw.__func__
            continue
        if isinstance(raw, types.FunctionType):
            if raw.__code__.co_filename.startswith("<") or hasattr(raw, "__wrapped__") \
                    or raw.__closure__ or inspect.isgeneratorfunction(raw) \
                    or inspect.iscoroutinefunction(raw):
                # no source, a decorator's wrapper, a generator (its body runs as it is
                # iterated), a coroutine: called as it is, in program order
                opaque.add(name)
            else:
                helpers[name] = raw
        elif callable(raw) or isinstance(raw, staticmethod | classmethod | property):
            opaque.add(name)
    return helpers, frozenset(opaque), statics


_OPERATOR_API = frozenset(dir(Operator))


def env_for_instance(op: Operator[Any, Any]) -> OperatorEnv:
    cls = type(op)
    attrs = {k: kind for k, v in vars(op).items() if (kind := operator_kind(v)) is not None}
    helpers, opaque, statics = _methods(cls, _OPERATOR_API)
    global_ops, global_leaves = _global_ops(cls.forward.__globals__, None)
    leaves = {k for k in attrs if holds_leaves(vars(op)[k])} | global_leaves
    return OperatorEnv(cls.__qualname__, attrs, helpers, opaque, global_ops, cls,
                       frozenset(leaves), statics, types.MappingProxyType(vars(op)))


def env_for_function(fn: types.FunctionType) -> OperatorEnv:
    global_ops, leaves = _global_ops(fn.__globals__, fn)
    return OperatorEnv(fn.__qualname__, {}, {}, frozenset(), global_ops, None, leaves)


def _global_ops(globals_: Mapping[str, Any], fn: types.FunctionType | None
                ) -> tuple[frozenset[str], frozenset[str]]:
    """The global and closure names bound to operators or leaves, and those bound to leaves
    that are not operators."""
    values = dict(globals_)
    if fn is not None and fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
            with contextlib.suppress(ValueError):  # an empty cell
                values[name] = cell.cell_contents
    names = {k for k, v in values.items() if _call_target(v)}
    return frozenset(names), frozenset(k for k in names if not isinstance(values[k], Operator))


def namespace_of(fn: types.FunctionType) -> Mapping[str, Any]:
    """What the free names of ``fn`` refer to: its closure cells, then its globals (a view:
    nothing is copied, nothing is called)."""
    if not fn.__closure__:
        return types.MappingProxyType(fn.__globals__)
    cells = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
        with contextlib.suppress(ValueError):  # an empty cell stays out
            cells[name] = cell.cell_contents
    return collections.ChainMap(cells, fn.__globals__)


def env_for_class(cls: type) -> OperatorEnv:
    """From the class alone: ``__init__`` assignments and annotations (the instance is unknown)."""
    attrs: dict[str, str] = {}
    class_leaves: frozenset[str] = frozenset()
    globals_ = getattr(getattr(cls, "forward", None), "__globals__", {})
    for name, hint in _annotations(cls).items():
        kind = _kind_of_annotation(hint)
        if kind:
            attrs[name] = kind
    init = cls.__dict__.get("__init__")
    if isinstance(init, types.FunctionType):
        from .source import function_source  # local: source imports nothing from here

        try:
            node = function_source(init, cls).node
        except Exception:  # no source for __init__: annotations only
            node = None
        if node is not None:
            finder = _InitAssignments(globals_)
            finder.walk(node)
            attrs.update(finder.attrs)
            class_leaves = frozenset(finder.leaves)
    helpers, opaque, statics = _methods(cls, _OPERATOR_API)
    global_ops, leaves = _global_ops(globals_, None)
    return OperatorEnv(cls.__qualname__, attrs, helpers, opaque, global_ops, cls,
                       leaves | class_leaves, statics)


def _annotations(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return dict(getattr(cls, "__annotations__", {}))


def _is_op_type(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, Operator)


def _kind_of_annotation(hint: object) -> str | None:
    if _is_op_type(hint) or _is_op_type(typing.get_origin(hint)):
        return OP
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple) and args and _is_op_type(typing.get_origin(args[0]) or args[0]):
        return OP_LIST
    if origin is dict and len(args) == 2 and _is_op_type(typing.get_origin(args[1]) or args[1]):
        return OP_DICT
    return None


class _InitAssignments(Visitor):
    """``self.x = Op(...)``, ``[Op(...) ...]``, ``{k: Op(...)}`` in ``__init__``."""

    def __init__(self, globals_: Mapping[str, Any]) -> None:
        super().__init__()
        self.globals = globals_
        self.attrs: dict[str, str] = {}
        self.leaves: set[str] = set()

    def _constructed(self, expr: cst.BaseExpression) -> type | None:
        """The class ``expr`` constructs (``Answer(...)``, ``Ensemble.of(...)``), if known."""
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
                owner = self.globals.get(func.value.value)  # Ensemble.of(...) style
                return owner if _is_op_type(owner) else None
            if isinstance(func, cst.Name):
                target = self.globals.get(func.value, getattr(builtins, func.value, None))
                return target if isinstance(target, type) else None
        return None

    def _kind(self, expr: cst.BaseExpression) -> str | None:
        """"op" for an operator constructed, "leaf" for a leaf object (a model, a class marked
        with emberjit.leaf), else None."""
        cls = self._constructed(expr)
        if cls is None:
            return None
        if _is_op_type(cls):
            return "op"
        return "leaf" if getattr(cls, "__emberjit_leaf__", False) is True else None

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if isinstance(value, cst.ListComp | cst.List | cst.Tuple):
            kind, elts = OP_LIST, [value.elt] if isinstance(value, cst.ListComp) else [
                e.value for e in value.elements]
        elif isinstance(value, cst.Dict | cst.DictComp):
            kind, elts = OP_DICT, [value.value] if isinstance(value, cst.DictComp) else [
                e.value for e in value.elements if isinstance(e, cst.DictElement)]
        else:
            kind, elts = OP, [value]
        kinds = [self._kind(e) for e in elts]
        if not kinds or None in kinds:
            return
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) \
                    and t.value.value == "self":
                self.attrs[t.attr.value] = kind
                if "leaf" in kinds:
                    self.leaves.add(t.attr.value)
