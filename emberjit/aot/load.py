"""Loading ahead-of-time plans at run time, without libcst (and without the compiler or the jit:
this module reads and checks; the jit links what it returns, :mod:`emberjit.jit.aot_plans`).

``load_plan(owner, config)`` is asked by the jit layer before it compiles anything. A plan is used
only when it comes from the configured directory (``jit(aot_dir=...)``, ``$EMBERJIT_AOT_DIR``, or
``__emberjit__/`` next to the source), its module and manifest agree (plan sha256) and the
operator's current source hash equals the one compiled. Anything else (stale, edited, corrupted,
another emberjit version) is never run: the jit compiles in process and warns once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import sys
import threading
import types
import weakref
from typing import TYPE_CHECKING, Any

from ..errors import warn_user
from .common import FORMAT, MANIFEST, aot_dir_for, owner_source_sha256, plans_file_name

if TYPE_CHECKING:
    from ..jit.state import JitConfig

__all__ = ["Stored", "aot_leaf", "clear", "load_plan", "refuse"]


class _Refused(Exception):
    """Why a plan file or entry is not used."""


@dataclasses.dataclass(frozen=True, eq=False)
class Stored:
    """One checked ahead-of-time decision for ``target`` (an operator class or a function), as
    its plans file holds it: ``entry["plan"]`` is the plan artifact as data
    (:meth:`emberjit.compiler.artifact.PlanCode.to_dict`), absent for an eager decision."""

    target: Any
    entry: dict[str, Any]
    path: str  # the plans file
    fix: str  # the command that writes it anew

    @property
    def reasons(self) -> tuple[str, ...]:
        return (f"aot: plan loaded from {self.path}", *self.entry.get("reasons", ()))


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


def load_plan(owner: Any, config: JitConfig) -> Stored | None:
    """The ahead-of-time decision for ``owner`` (an operator instance or a function), or None:
    nothing compiled ahead of time, or refused (warned once)."""
    if config.mode in ("trace", "enhanced") or config.force_trace or (
            config.sample_input is not None):
        return None
    target = owner if isinstance(owner, types.FunctionType) else type(owner)
    key = ("child",) if config.child else (config.aot_dir, os.environ.get("EMBERJIT_AOT_DIR"),
                                           config.mode)
    with _lock:
        cached = _specs.setdefault(target, {})
        if key not in cached:
            cached[key] = _child(target) if config.child else _root(target, config)
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


def _root(target: Any, config: JitConfig) -> Stored | None:
    module, qualname = target.__module__, target.__qualname__
    folder = aot_dir_for(module, config.aot_dir)
    if folder is None:
        return None
    path = os.path.join(folder, plans_file_name(module))
    fix = fix_command(module, folder)
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
        return Stored(target, entry, path, fix)
    except _Refused as exc:
        _warn(path, qualname, str(exc), fix)
        return None


def _child(target: Any) -> Stored | None:
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
        return Stored(target, entry, file.path, fix_command(file.module, file.folder))
    except _Refused as exc:
        _warn(file.path, target.__qualname__, str(exc), fix_command(file.module, file.folder))
        return None


def refuse(stored: Stored, reason: str) -> None:
    """A stored plan that does not load after all (the jit could not link it): warned once, as
    every refusal is, and never used."""
    with _lock:
        for cached in _specs.values():
            for key, value in list(cached.items()):
                if value is stored:
                    cached[key] = None
        _warn(stored.path, stored.target.__qualname__, reason, stored.fix)


def fix_command(module: str, folder: str) -> str:
    """The command that writes the plans of ``module`` anew, runnable from any directory: it
    changes to the directory ``module`` is imported from, and names the output absolutely."""
    out = os.path.abspath(folder)
    source = getattr(sys.modules.get(module), "__file__", None)
    if not source:
        return f"emberjit compile {module} -o {out}"
    root = os.path.dirname(os.path.abspath(source))
    depth = module.count(".") + (os.path.basename(source) == "__init__.py")
    for _ in range(depth):
        root = os.path.dirname(root)
    return f"cd {shlex.quote(root)} && emberjit compile {module} -o {shlex.quote(out)}"


def _warn(path: str, qualname: str, reason: str, fix: str) -> None:
    if (path, qualname) in _warned:
        return
    _warned.add((path, qualname))
    warn_user(f"emberjit: not using the ahead-of-time plan for {qualname} from {path}: "
              f"{reason}; compiling it in process instead. Fix: {fix}")


def _check_plan(entry: dict[str, Any], listed: dict[str, Any]) -> None:
    plan = entry.get("plan")
    source = plan.get("source") if isinstance(plan, dict) else None
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
