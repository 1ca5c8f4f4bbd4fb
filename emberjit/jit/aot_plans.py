"""Ahead-of-time plans, linked: what :func:`emberjit.aot.load.load_plan` read and checked becomes
a :class:`~emberjit.jit.select.Specialization` through the compiler's one link step
(:func:`emberjit.compiler.plan.link`), once per stored plan. Nothing here imports libcst."""

from __future__ import annotations

import dataclasses
import inspect
import threading
import types
import weakref
from typing import TYPE_CHECKING, Any

from ..aot.load import Stored, load_plan, refuse
from ..compiler.artifact import PlanCode
from ..compiler.plan import Plan, link
from ..leaves import is_leaf
from ..operator import Operator
from .specialization import Specialization

if TYPE_CHECKING:
    from .state import JitConfig

__all__ = ["aot_specialization"]

_linked: weakref.WeakKeyDictionary[Stored, Specialization] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def aot_specialization(owner: Any, config: JitConfig) -> Specialization | None:
    """The ahead-of-time specialization of ``owner``, or None (nothing stored, or refused)."""
    stored = load_plan(owner, config)
    if stored is None:
        return None
    with _lock:
        spec = _linked.get(stored)
        if spec is None:
            try:
                spec = _specialization(stored, owner)
            except Exception as exc:
                refuse(stored, f"its plan does not load ({type(exc).__name__}: {exc})")
                return None
            _linked[stored] = spec
        return spec


def _specialization(stored: Stored, owner: Any) -> Specialization:
    if stored.entry.get("plan") is None:
        spec = Specialization.eager(stored.target.__qualname__, list(stored.reasons), owner=owner)
        return dataclasses.replace(spec, origin="aot")
    plan = _plan(stored.target, PlanCode.from_dict(stored.entry["plan"]))
    return Specialization("structural", plan, plan.guard, stored.reasons, origin="aot")


def _plan(target: Any, code: PlanCode) -> Plan:
    """Link a stored artifact: the values of the names it binds come from their references."""
    closure: dict[str, Any] = {}
    if isinstance(target, types.FunctionType):
        globals_ = target.__globals__
        if target.__closure__:
            closure = dict(zip(target.__code__.co_freevars, target.__closure__, strict=True))
    else:
        globals_ = inspect.unwrap(target.forward).__globals__
    constants = {name: _found(target, name, ref) for name, ref in code.binds}
    return link(code, f"{code.qualname} (aot)", globals_, closure=closure, constants=constants)


def _found(target: Any, name: str, ref: str) -> Any:
    """The value a reference names (see :mod:`emberjit.compiler.assumptions`)."""
    if ref.startswith("code:"):
        return getattr(inspect.unwrap(getattr(target, ref.removeprefix("code:"))), "__code__",
                       None)
    if ref == "function":
        return target
    if ref == "function.code":
        return target.__code__
    if ref == "emberjit:Operator":
        return Operator
    if ref == "emberjit:is_leaf":
        return is_leaf
    raise ValueError(f"it binds {name}, a value only the compiling process had")
