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

from ..operator import Operator

__all__ = ["OP", "OP_DICT", "OP_LIST", "OperatorEnv", "env_for_class", "env_for_function",
           "env_for_instance", "namespace_of"]

OP, OP_LIST, OP_DICT = "operator", "list", "dict"


@dataclasses.dataclass(frozen=True)
class OperatorEnv:
    """Facts about the names a function body may call, gathered without running it."""

    owner: str  # "Pipeline" or the function's qualname
    attrs: Mapping[str, str]  # self attribute -> OP | OP_LIST | OP_DICT
    helpers: Mapping[str, types.FunctionType]  # self methods with Python source
    opaque_methods: frozenset[str]  # self methods without source (builtins, C, properties)
    global_ops: frozenset[str]  # global / closure names bound to operators
    cls: type | None = None
    #: the instance's plain attributes (jit of an instance): ``self.names.index(x)`` reads a
    #: list, it calls no code of the user's
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False,
                                                  compare=False)

    def __str__(self) -> str:
        attrs = ", ".join(f"{k}:{v}" for k, v in sorted(self.attrs.items())) or "-"
        return f"OperatorEnv({self.owner}; attrs {attrs}; helpers {sorted(self.helpers)})"


def operator_kind(value: object) -> str | None:
    """OP, OP_LIST or OP_DICT for a value holding operators, else None."""
    if isinstance(value, Operator):
        return OP
    if isinstance(value, list | tuple) and value and all(isinstance(v, Operator) for v in value):
        return OP_LIST
    if isinstance(value, dict) and value and all(isinstance(v, Operator)
                                                 for v in value.values()):
        return OP_DICT
    return None


def _methods(cls: type, skip: frozenset[str]) -> tuple[dict[str, types.FunctionType],
                                                       frozenset[str]]:
    helpers: dict[str, types.FunctionType] = {}
    opaque: set[str] = set()
    for name in dir(cls):
        if name.startswith("__") or name in skip or name == "forward":
            continue
        raw = inspect.getattr_static(cls, name, None)
        if isinstance(raw, types.FunctionType):
            if raw.__code__.co_filename.startswith("<") or hasattr(raw, "__wrapped__") \
                    or raw.__closure__:  # no source, or a decorator's wrapper: call it as is
                opaque.add(name)
            else:
                helpers[name] = raw
        elif callable(raw) or isinstance(raw, staticmethod | classmethod | property):
            opaque.add(name)
    return helpers, frozenset(opaque)


_OPERATOR_API = frozenset(dir(Operator))


def env_for_instance(op: Operator[Any, Any]) -> OperatorEnv:
    cls = type(op)
    attrs = {k: kind for k, v in vars(op).items() if (kind := operator_kind(v)) is not None}
    helpers, opaque = _methods(cls, _OPERATOR_API)
    return OperatorEnv(cls.__qualname__, attrs, helpers, opaque,
                       _global_ops(cls.forward.__globals__, None), cls,
                       types.MappingProxyType(vars(op)))


def env_for_function(fn: types.FunctionType) -> OperatorEnv:
    return OperatorEnv(fn.__qualname__, {}, {}, frozenset(),
                       _global_ops(fn.__globals__, fn), None)


def _global_ops(globals_: Mapping[str, Any], fn: types.FunctionType | None) -> frozenset[str]:
    names = {k for k, v in globals_.items() if isinstance(v, Operator)}
    if fn is not None and fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
            try:
                if isinstance(cell.cell_contents, Operator):
                    names.add(name)
            except ValueError:  # empty cell
                pass
    return frozenset(names)


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
            node.visit(finder)
            attrs.update(finder.attrs)
    helpers, opaque = _methods(cls, _OPERATOR_API)
    return OperatorEnv(cls.__qualname__, attrs, helpers, opaque, _global_ops(globals_, None), cls)


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


class _InitAssignments(cst.CSTVisitor):
    """``self.x = Op(...)``, ``[Op(...) ...]``, ``{k: Op(...)}`` in ``__init__``."""

    def __init__(self, globals_: Mapping[str, Any]) -> None:
        super().__init__()
        self.globals = globals_
        self.attrs: dict[str, str] = {}

    def _constructs_op(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
                owner = self.globals.get(func.value.value)  # Ensemble.of(...) style
                return _is_op_type(owner)
            if isinstance(func, cst.Name):
                target = self.globals.get(func.value, getattr(builtins, func.value, None))
                return _is_op_type(target)
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if not (isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name)
                    and t.value.value == "self"):
                continue
            value = node.value
            if self._constructs_op(value):
                self.attrs[t.attr.value] = OP
            elif isinstance(value, cst.ListComp | cst.List | cst.Tuple):
                elts = [value.elt] if isinstance(value, cst.ListComp) else [
                    e.value for e in value.elements]
                if elts and all(self._constructs_op(e) for e in elts):
                    self.attrs[t.attr.value] = OP_LIST
            elif isinstance(value, cst.Dict | cst.DictComp):
                vals = [value.value] if isinstance(value, cst.DictComp) else [
                    e.value for e in value.elements if isinstance(e, cst.DictElement)]
                if vals and all(self._constructs_op(v) for v in vals):
                    self.attrs[t.attr.value] = OP_DICT
