"""Loading ahead-of-time plans at run time, without libcst.

``load_plan(owner, config)`` is asked by the jit layer before it compiles anything. A plan is used
only when it comes from the configured directory (``jit(aot_dir=...)``, ``$EMBERJIT_AOT_DIR``, or
``__emberjit__/`` next to the source), its module and manifest agree (plan sha256) and the
operator's current source hash equals the one compiled. Anything else (stale, edited, corrupted,
another emberjit version) is never run: the jit compiles in process and warns once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import threading
import types
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from ..operator import Operator
from .common import FORMAT, MANIFEST, aot_dir_for, owner_source_sha256, plans_file_name

if TYPE_CHECKING:
    from ..jit.select import Specialization
    from ..jit.state import JitConfig

__all__ = ["aot_leaf", "clear", "load_plan"]


class _Refused(Exception):
    """Why a plan file or entry is not used."""


@dataclasses.dataclass(frozen=True)
class _File:
    path: str
    folder: str
    module: str
    manifest: dict[str, Any]  # this module's entry
    plans: dict[str, dict[str, Any]]
    children: dict[str, dict[str, Any]]


_lock = threading.RLock()
_files: dict[tuple[str, str], _File | str | None] = {}  # (folder, module) -> file | refusal
_children: dict[str, tuple[dict[str, Any], _File]] = {}  # "module:qualname" -> (entry, file)
_specs: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
_warned: set[tuple[str, str]] = set()


def clear() -> None:
    """Forget every loaded plan file (tests; after recompiling in the same process)."""
    with _lock:
        _files.clear()
        _children.clear()
        _specs.clear()
        _warned.clear()


def load_plan(owner: Any, config: JitConfig) -> Specialization | None:
    """The ahead-of-time specialization of ``owner`` (an operator instance or a function), or
    None: nothing compiled ahead of time, or refused (warned once)."""
    if config.mode in ("trace", "enhanced") or config.force_trace or (
            config.sample_input is not None):
        return None
    target = owner if isinstance(owner, types.FunctionType) else type(owner)
    key = ("child",) if config.child else (config.aot_dir, os.environ.get("EMBERJIT_AOT_DIR"),
                                           config.mode)
    with _lock:
        cached = _specs.setdefault(target, {})
        if key not in cached:
            cached[key] = _child(target, owner) if config.child else _root(target, owner, config)
        return cached[key]  # type: ignore[no-any-return]


def aot_leaf(cls: type) -> bool | None:
    """Whether an operator class is a leaf (no operator calls), as decided ahead of time, or
    None when no matching decision was loaded."""
    with _lock:
        found = _children.get(f"{cls.__module__}:{cls.__qualname__}")
        if found is None:
            return None
        entry, file = found
        if not _current(cls, entry, file.manifest["children"].get(_key(cls), {})):
            return None
        return entry["mode"] == "eager" and bool(entry.get("leaf"))


def _key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _current(target: Any, entry: dict[str, Any], listed: dict[str, Any]) -> bool:
    expected = listed.get("source_sha256")
    return bool(expected) and entry.get("source_sha256") == expected == owner_source_sha256(
        target, entry.get("methods", ()))


def _root(target: Any, owner: Any, config: JitConfig) -> Specialization | None:
    module, qualname = target.__module__, target.__qualname__
    folder = aot_dir_for(module, config.aot_dir)
    if folder is None:
        return None
    path = os.path.join(folder, plans_file_name(module))
    fix = f"emberjit compile {module} -o {folder}"
    try:
        file = _file(folder, module)
        if file is None:
            return None
        entry = file.plans.get(qualname)
        listed = file.manifest["operators"].get(qualname)
        if entry is None or listed is None:
            if getattr(target, "_emberjit_config", None) is not None:
                raise _Refused(f"it has no plan for {qualname} (added after the last compile?)")
            return None
        if entry.get("config_mode") != config.mode:
            raise _Refused(f"{qualname} was compiled for mode={entry.get('config_mode')!r}, "
                           f"jit asks for mode={config.mode!r}")
        _check_plan(entry, listed)
        if not _current(target, entry, listed):
            raise _Refused(f"it is stale: the source of {qualname} changed since it was compiled")
        return _spec(target, owner, entry, path)
    except _Refused as exc:
        _warn(path, qualname, str(exc), fix)
        return None


def _child(target: Any, owner: Any) -> Specialization | None:
    if not isinstance(target, type):
        return None
    found = _children.get(_key(target))
    if found is None:
        return None
    entry, file = found
    if not _current(target, entry, file.manifest["children"].get(_key(target), {})):
        return None  # decided in process
    try:
        _check_plan(entry, file.manifest["children"][_key(target)])
        return _spec(target, owner, entry, file.path)
    except _Refused as exc:
        _warn(file.path, target.__qualname__, str(exc),
              f"emberjit compile {file.module} -o {file.folder}")
        return None


def _warn(path: str, qualname: str, reason: str, fix: str) -> None:
    if (path, qualname) in _warned:
        return
    _warned.add((path, qualname))
    warnings.warn(f"emberjit: not using the ahead-of-time plan for {qualname} from {path}: "
                  f"{reason}; compiling it in process instead. Fix: {fix}", RuntimeWarning,
                  stacklevel=6)


def _check_plan(entry: dict[str, Any], listed: dict[str, Any]) -> None:
    source = entry.get("plan_source")
    expected = listed.get("plan_sha256", "")
    if entry.get("plan_sha256", "") != expected:
        raise _Refused("the plan module and manifest.json disagree (plan sha256): corrupted")
    if source is not None and hashlib.sha256(str(source).encode()).hexdigest() != expected:
        raise _Refused("the plan's text does not match its sha256 (edited or corrupted)")


def _file(folder: str, module: str) -> _File | None:
    key = (folder, module)
    if key not in _files:
        try:
            _files[key] = _read(folder, module)
        except _Refused as exc:
            _files[key] = str(exc)
        file = _files[key]
        if isinstance(file, _File):
            for name, entry in file.children.items():
                _children.setdefault(name, (entry, file))
    file = _files[key]
    if isinstance(file, str):
        raise _Refused(file)
    return file


def _read(folder: str, module: str) -> _File | None:
    from .. import __version__

    path = os.path.join(folder, plans_file_name(module))
    manifest_path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        entry = manifest["modules"][module]
        version, layout = manifest["emberjit"], manifest.get("format")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _Refused(f"{manifest_path} is missing or unreadable ({type(exc).__name__}: "
                       f"{exc})") from None
    if version != __version__:
        raise _Refused(f"it was compiled by emberjit {version}; this is {__version__}")
    if layout != FORMAT:
        raise _Refused(f"it was written in plans format {layout}; this emberjit reads format "
                       f"{FORMAT}")
    namespace: dict[str, Any] = {"__builtins__": {}}
    try:
        with open(path, encoding="utf-8") as f:
            exec(compile(f.read(), path, "exec"), namespace)
        plans, children = namespace["PLANS"], namespace["CHILDREN"]
        if not isinstance(plans, dict) or not isinstance(children, dict):
            raise TypeError("PLANS and CHILDREN must be dicts")
        if not isinstance(entry["operators"], dict) or not isinstance(entry["children"], dict):
            raise TypeError(f"manifest entry of {module} lacks operators/children")
    except Exception as exc:
        raise _Refused(f"it is corrupted ({type(exc).__name__}: {exc})") from None
    return _File(path, folder, module, entry, plans, children)


def _spec(target: Any, owner: Any, entry: dict[str, Any], path: str) -> Specialization:
    from ..jit.select import Specialization

    reasons = (f"aot: plan loaded from {path}", *entry.get("reasons", ()))
    if entry.get("plan_source") is None:
        spec = Specialization.eager(target.__qualname__, list(reasons), owner=owner)
        return dataclasses.replace(spec, origin="aot")
    try:
        plan, guard = _plan(target, entry)
    except Exception as exc:
        raise _Refused(f"its plan does not load ({type(exc).__name__}: {exc})") from None
    return Specialization("structural", plan, guard, reasons, origin="aot")


def _plan(target: Any, entry: dict[str, Any]) -> tuple[Any, Any]:
    import networkx as nx

    from ..compiler.plan import Plan, PlanGlobals, compile_source, link_homes

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
    namespace = PlanGlobals(globals_, closure)
    namespace.update(constants, Operator=Operator)
    source = str(entry["plan_source"])
    filename = compile_source(source, f"{entry['plan_qualname']} (aot)", namespace)
    homes = tuple((str(f), str(m)) for f, m in entry.get("homes", ()))
    link_homes(namespace, homes)
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
