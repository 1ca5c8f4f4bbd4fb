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

import networkx as nx

from ..aot.load import Stored, load_plan, refuse
from ..compiler.plan import Plan, link
from ..operator import Operator
from .select import Specialization

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
    if stored.entry.get("plan_source") is None:
        spec = Specialization.eager(stored.target.__qualname__, list(stored.reasons), owner=owner)
        return dataclasses.replace(spec, origin="aot")
    plan, guard = _plan(stored.target, stored.entry)
    return Specialization("structural", plan, guard, stored.reasons, origin="aot")


def _plan(target: Any, entry: dict[str, Any]) -> tuple[Plan, Any]:
    closure: dict[str, Any] = {}
    if isinstance(target, types.FunctionType):
        globals_ = target.__globals__
        if target.__closure__:
            closure = dict(zip(target.__code__.co_freevars, target.__closure__, strict=True))
        # the guard constants compile_structural binds for a function (emberjit/compiler/build.py)
        constants: dict[str, Any] = {"_code_0": target.__code__, "_function": target}
    else:
        globals_ = inspect.unwrap(target.forward).__globals__
        constants = {f"_code_{i}": getattr(inspect.unwrap(getattr(target, m)), "__code__", None)
                     for i, m in enumerate(entry["methods"])}
    constants["Operator"] = Operator
    source = str(entry["plan_source"])
    homes = tuple((str(f), str(m)) for f, m in entry.get("homes", ()))
    namespace, filename = link(source, f"{entry['plan_qualname']} (aot)", globals_,
                               closure=closure, constants=constants, homes=homes)
    graph = nx.DiGraph()
    graph.add_nodes_from(entry["graph"]["nodes"])
    graph.add_edges_from(entry["graph"]["edges"])
    plan = Plan(qualname=entry["plan_qualname"], mode="structural", source=source,
                function_name=entry["function"], guards=tuple(entry["guards"]), graph=graph,
                concurrent=bool(entry["concurrent"]), location=entry["location"],
                source_sha256=entry["analysis_sha256"], filename=filename,
                fn=namespace[entry["function"]], explanations=tuple(entry["explanations"]),
                sites=tuple(entry.get("sites", ())), homes=homes)
    return plan, namespace[entry["guard"]]
