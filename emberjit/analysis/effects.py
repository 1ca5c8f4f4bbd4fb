"""Which ordinary calls (not call sites) may have effects beyond the plan's locals.

A plan runs ordinary code on its own thread while calls it started are still pending. That is
only safe for code whose effects stay in the plan's locals. A call may reach further when its
callee is code emberjit does not analyze (a module function, a local callable, a method of an
object held by ``self``, an operator called in a shape that is not a call site yet) or does I/O
(``print``, ``open``): it may call an impure operator, write state an operator reads, or fail
where eager would have failed first. Such a call runs as eager would run it: after every call
started before it has returned (the plan puts ``run.barrier()`` before its statement).

Known to stay local (never a barrier): pure builtins (``len``, ``sorted``, ``str``, ...),
exception constructors, methods called on a value the function holds (``r["text"].strip()``,
``", ".join(xs)``, ``d.get(k)``; whether they mutate it is codegen's question), and functions
of modules that compute without effects (``json.dumps``, ``re.sub``, ``math.sqrt``).
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import re
import sysconfig
import types
from collections.abc import Collection, Mapping
from typing import Any

import libcst as cst

from .walk import Visitor

__all__ = ["PURE_BUILTINS", "PURE_MODULES", "READERS", "call_effect", "pure_function",
           "user_function"]

#: builtins that compute from their arguments without effects and call nothing they are given
#: (``map``/``filter``/``sorted(key=...)`` call their function arguments: see ``_CALLERS``)
PURE_BUILTINS = frozenset({
    "len", "str", "repr", "int", "float", "bool", "list", "dict", "tuple", "set", "frozenset",
    "sorted", "sum", "min", "max", "any", "all", "isinstance", "issubclass", "enumerate", "zip",
    "range", "format", "hash", "id", "type", "abs", "round", "reversed", "iter", "next",
    "divmod", "pow", "chr", "ord", "bin", "hex", "oct", "ascii", "bytes", "complex", "slice",
    "hasattr", "getattr", "callable", "map", "filter", "object", "vars", "dir",
})
#: pure builtins that call the functions they are given
_CALLERS = frozenset({"sorted", "min", "max", "map", "filter", "next", "getattr"})
#: modules whose functions compute without effects
PURE_MODULES = frozenset({
    "json", "re", "math", "cmath", "statistics", "textwrap", "string", "itertools", "operator",
    "unicodedata", "difflib", "copy", "collections", "functools", "html", "base64", "decimal",
    "fractions", "keyword", "shlex",
})


def _root(expr: cst.BaseExpression) -> cst.BaseExpression:
    """The object an attribute chain or subscript starts from: ``a`` of ``a.b[0].c``."""
    while isinstance(expr, cst.Attribute | cst.Subscript):
        expr = expr.value
    return expr


def _is_value(expr: cst.BaseExpression) -> bool:
    """A literal, a display or a call result: a value made here, not code from outside."""
    return isinstance(expr, cst.BaseString | cst.Integer | cst.Float | cst.Imaginary | cst.List
                      | cst.Tuple | cst.Dict | cst.Set | cst.ListComp | cst.DictComp
                      | cst.SetComp | cst.Call | cst.BinaryOperation)


#: context managers that only catch or pass through (``with suppress(KeyError):``)
_PURE_MANAGERS = (contextlib.suppress, contextlib.nullcontext)


def _pure_global(value: Any) -> bool:
    """A global callee known to stay local: an exception class, a plain data class, a
    context manager that only catches or passes through."""
    if any(value is m for m in _PURE_MANAGERS):
        return True
    if isinstance(value, type):
        if issubclass(value, BaseException):
            return True
        if getattr(value, "__dataclass_fields__", None) is not None:
            return not hasattr(value, "__post_init__")
        return value.__init__ is object.__init__ and value.__new__ is object.__new__
    return False


def _passes_callable(call: cst.Call, self_name: str | None, locals_: frozenset[str],
                     local_functions: Collection[str]) -> bool:
    """Whether an argument is code that a calling builtin may run (a lambda, ``self.x``, a
    function defined in the function, a global that is not a pure builtin)."""
    for arg in call.args:
        value = arg.value
        if isinstance(value, cst.Lambda):
            return True
        root = _root(value)
        if isinstance(root, cst.Name) and (root.value == self_name or root.value in (
                local_functions) or (root.value not in locals_
                                     and root.value not in PURE_BUILTINS)):
            return True
    return False


#: methods that read their receiver without changing it (str, dict, list and set readers)
READERS = frozenset({
    "strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize", "casefold", "split",
    "rsplit", "splitlines", "join", "format", "format_map", "replace", "startswith", "endswith",
    "find", "rfind", "index", "rindex", "count", "encode", "decode", "isdigit", "isalpha",
    "isalnum", "isspace", "isupper", "islower", "zfill", "center", "ljust", "rjust",
    "partition", "rpartition", "expandtabs", "removeprefix", "removesuffix", "get", "keys",
    "values", "items", "copy", "union", "intersection", "difference", "issubset",
    "issuperset", "isdisjoint", "symmetric_difference", "translate", "maketrans",
})
_PLAIN = (str, bytes, int, float, bool, list, tuple, dict, set, frozenset)
#: constructors on builtin types (``dict.fromkeys(xs)``, ``int.from_bytes(b, "big")``) and
#: methods of compiled patterns and their matches (``PATTERN.search(text).group(1)``)
CONSTRUCTORS = frozenset({"fromkeys", "from_bytes", "fromhex", "maketrans"})
REGEX_METHODS = frozenset({"search", "match", "fullmatch", "findall", "finditer", "sub", "subn",
                           "split", "group", "groups", "groupdict", "span", "start", "end",
                           "expand", "most_common", "elements"})


def _from_pure_module(value: object) -> bool:
    """A function or class defined in a module of ``PURE_MODULES`` (``from collections import
    Counter``, ``from re import search``), or a compiled pattern."""
    if isinstance(value, re.Pattern):
        return True
    module = getattr(value, "__module__", None)
    return callable(value) and isinstance(module, str) and (
        module.split(".")[0].lstrip("_") in PURE_MODULES)


def _pure_attribute_call(func: cst.Attribute, namespace: Mapping[str, Any]) -> bool:
    """``json.dumps(x)``, ``dict.fromkeys(xs)``, ``PATTERN.search(t)``: a global module, type
    or pattern whose called attribute computes without effects."""
    if not isinstance(func.value, cst.Name):
        return False
    name, attr = func.value.value, func.attr.value
    value = namespace.get(name, getattr(builtins, name, None))
    if isinstance(value, types.ModuleType):
        return value.__name__.split(".")[0] in PURE_MODULES
    if isinstance(value, type) and value in _PLAIN:
        return attr in CONSTRUCTORS or attr in READERS
    if isinstance(value, re.Pattern):
        return attr in REGEX_METHODS
    return type(value) in _PLAIN and attr in READERS  # PROMPT.format(q=q)


def _pure_method(func: cst.Attribute, self_values: Mapping[str, Any]) -> bool:
    """``self.tools.pick(i)`` where ``Tools.pick``'s source is pure (see ``pure_function``)."""
    value = func.value
    if not (isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name)):
        return False
    held = self_values.get(value.attr.value)
    if held is None or type(held) in _PLAIN:
        return False
    return pure_function(getattr(type(held), func.attr.value, None))


def _reads_plain_value(func: cst.Attribute, self_values: Mapping[str, Any]) -> bool:
    """``self.names.index(x)``, ``self.registry.get(k)``: a reader of a builtin value held by
    the instance."""
    value = func.value
    if not (func.attr.value in READERS and isinstance(value, cst.Attribute)
            and isinstance(value.value, cst.Name)):
        return False
    held = self_values.get(value.attr.value)
    return type(held) in _PLAIN


def call_effect(call: cst.Call, self_name: str | None, locals_: frozenset[str],
                operators: Collection[str], namespace: Mapping[str, Any],
                shown: str, self_values: Mapping[str, Any],
                local_functions: Collection[str] = ()) -> str | None:
    """Why ``call`` (an ordinary call, not a call site) may act beyond the plan's locals, or
    None when it is known to stay local. ``locals_``: names bound in the function (parameters
    included); ``operators``: local or global names bound to operators; ``namespace``: what
    other names refer to; ``shown``: the callee as written; ``self_values``: the instance's
    attributes, when known; ``local_functions``: names the function binds to a ``def`` or a
    ``lambda`` (``map(f, xs)`` runs ``f``)."""
    func = call.func
    if isinstance(func, cst.Name):
        name = func.value
        if name in locals_:
            if name == self_name:
                return f"calls {shown}(), the operator itself"
            return (f"calls {shown}(), a local callable emberjit does not follow (it may reach "
                    "impure operators)")
        value = namespace.get(name, getattr(builtins, name, None))
        if value is getattr(builtins, name, None) and name in PURE_BUILTINS:
            if name in _CALLERS and _passes_callable(call, self_name, locals_, local_functions):
                return f"calls {shown}() with a function argument it may call"
            return None
        if _pure_global(value) or pure_function(value):
            return None
        if _from_pure_module(value):
            return (f"calls {shown}() with a function argument it may call"
                    if _passes_callable(call, self_name, locals_, local_functions) else None)
        if name == "print":
            return "calls print(): I/O keeps program order"
        if value is None:
            return f"calls {shown}(), a name emberjit cannot resolve"
        return (f"calls {shown}(), a function emberjit does not follow (it may reach impure "
                "operators or other effects)")
    if isinstance(func, cst.Attribute):
        return _method_effect(call, func, self_name, locals_, operators, namespace, shown,
                              self_values, local_functions)
    return f"calls {shown}(), a callee emberjit does not follow"


def _method_effect(call: cst.Call, func: cst.Attribute, self_name: str | None,
                   locals_: frozenset[str], operators: Collection[str],
                   namespace: Mapping[str, Any], shown: str, self_values: Mapping[str, Any],
                   local_functions: Collection[str]) -> str | None:
    """:func:`call_effect` for a method call: ``self.x.f()``, ``json.dumps()``, ``t.strip()``."""
    root = _root(func.value)
    if _is_value(root):
        return None  # a method of a value made here: "\n".join(xs), f(x).strip()
    if isinstance(root, cst.Name):
        if root.value == self_name:
            if _reads_plain_value(func, self_values) or _pure_method(func, self_values):
                return None
            if func.value is not root:  # self.client.search(q): an object self holds
                return (f"calls {shown}(), a method of an object self holds, which may act "
                        "beyond the plan (if its calls only read their inputs, as a model "
                        "or search request does, mark its class with @emberjit.leaf and "
                        "they start concurrently)")
            return (f"calls {shown}(), a method of self (or of an object it holds) "
                    "without a plan of its own")
        if root.value in operators:
            return f"calls {shown}(), a method of an operator (not a call site)"
        if root.value in locals_:
            return None  # a method of a local value: mutation is codegen's question
        module = namespace.get(root.value)
        if isinstance(module, types.ModuleType) and func.value is root and _pure_global(
                getattr(module, func.attr.value, None)):
            return None  # contextlib.suppress(KeyError)
        if _pure_attribute_call(func, namespace):
            return (f"calls {shown}() with a function argument it may call"
                    if _passes_callable(call, self_name, locals_, local_functions) else None)
        return (f"calls {shown}(), code emberjit does not follow (it may reach impure "
                "operators or other effects)")
    return f"calls {shown}(), a callee emberjit does not follow"



class _Impure(Visitor):
    """Finds anything in a function body that may act beyond its own locals."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        super().__init__()
        self.found = False
        self.namespace = namespace

    def _pure_name(self, name: str) -> bool:
        if name in PURE_BUILTINS:
            return name not in _CALLERS
        value = self.namespace.get(name)
        return value is not None and (_pure_global(value) or _from_pure_module(value)
                                      or pure_function(value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name):
            pure = self._pure_name(func.value)
        elif isinstance(func, cst.Attribute):
            pure = func.attr.value in READERS or func.attr.value in REGEX_METHODS or \
                _pure_attribute_call(func, self.namespace)
        else:
            pure = False
        self.found |= not pure

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.found |= isinstance(node.target, cst.Attribute | cst.Subscript)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.found |= isinstance(node.target, cst.Attribute | cst.Subscript)

    def visit_Del(self, node: cst.Del) -> None:
        self.found = True

    def visit_Global(self, node: cst.Global) -> None:
        self.found = True

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.found = True

    def visit_Yield(self, node: cst.Yield) -> None:
        self.found = True

    def visit_Await(self, node: cst.Await) -> None:
        self.found = True


_pure_cache: dict[types.CodeType, bool] = {}


def pure_function(fn: object) -> bool:
    """Whether ``fn`` is a Python function whose source calls nothing but pure builtins and
    reader methods and assigns to nothing but its locals (``def pick(self, i): return
    self.members[i]``): calling it cannot reach an operator or change anything."""
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    if not isinstance(fn, types.FunctionType):
        return False
    code = fn.__code__
    if code not in _pure_cache:
        from .source import function_source  # local: source reads files, effects only asks

        _pure_cache[code] = False  # until shown pure (a recursive function stays impure)
        try:
            node = function_source(fn).node
        except Exception:  # no source: unknown code
            _pure_cache[code] = False
        else:
            finder = _Impure(fn.__globals__)
            finder.walk(node.body)
            _pure_cache[code] = not finder.found and not node.asynchronous
    return _pure_cache[code]


_NOT_PLAIN = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_LIBRARIES = tuple(p for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                               sysconfig.get_paths()["platlib"]} if p)


def user_function(fn: object) -> bool:
    """A Python function of the user's: not a builtin, not the standard library's or an
    installed package's (their code is not followed; it stays an ordinary call)."""
    if not isinstance(fn, types.FunctionType) or fn.__name__ == "<lambda>":
        return False
    if fn.__closure__ or hasattr(fn, "__wrapped__") or fn.__code__.co_flags & _NOT_PLAIN:
        return False  # a decorator's wrapper, a closure, a generator or coroutine function
    filename = fn.__code__.co_filename
    if filename.startswith("<"):
        return False
    module = (fn.__module__ or "").split(".")[0]
    if module in PURE_MODULES or module == "emberjit":
        return False
    return not filename.startswith(_LIBRARIES)
