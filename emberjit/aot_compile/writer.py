"""``compile_module``: every ``@jit`` operator class and jitted function of a module, file or
package, compiled to readable plan modules plus ``manifest.json``, written atomically.

For each source module ``m`` the output directory gets ``<m with underscores>_plans.py``: the
plans' source (each as a string, compiled at load time in ``m``'s namespace, as ``jit`` does),
``PLANS`` (the roots: ``@jit`` classes and functions) and ``CHILDREN`` (the decisions for the
operator classes the roots may call, so ``recursive=True`` needs no analysis at run time either).
Nothing is timestamped: re-running on unchanged sources rewrites no file.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import pprint
import sys
import time
import types
from typing import Any

from ..aot.common import (
    FORMAT,
    MANIFEST,
    AotCompileError,
    owner_source_sha256,
    plans_file_name,
    write_atomic,
)
from ..aot.common import aot_dir_for as _aot_dir_for
from ..errors import EmberJitError, StructuralAnalysisError
from ..operator import Operator
from .targets import import_module, module_names

__all__ = ["CompileResult", "compile_module"]

@dataclasses.dataclass(frozen=True)
class CompileResult:
    """What ``compile_module`` did; ``str()`` is the one-line summary the CLI prints."""

    target: str
    out: str
    modules: tuple[str, ...]
    files: tuple[str, ...]
    operators: tuple[str, ...]  # "module:qualname (mode)"
    skipped: tuple[str, ...]
    seconds: float

    def __str__(self) -> str:
        return (f"compiled {len(self.operators)} operators from {self.target} -> {self.out} "
                f"({self.seconds * 1e3:.0f} ms)")


class _Ref:
    """A name in the written plans module (its ``repr`` is the bare name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def compile_module(target: str, out_dir: str | None = None) -> CompileResult:
    """Compile ``target`` (a .py path, a dotted module name, or a package, recursively) into
    ``out_dir`` (default: ``__emberjit__/`` next to each source module, where ``jit`` looks).

    Raises :class:`AotTargetError` for a target that names nothing and :class:`AotCompileError`
    (``file:line: message`` lines) when a module fails to import or an operator to compile.
    """
    start = time.perf_counter()
    names = module_names(target)
    problems: list[str] = []
    by_dir: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    operators: list[str] = []
    skipped: list[str] = []
    for name in names:
        module = import_module(name)
        roots, children, done, skip = _compile_one(module, problems)
        operators += done
        skipped += skip
        if not roots:
            continue
        folder = os.path.abspath(out_dir) if out_dir else _aot_dir_for(name, None)
        assert folder is not None  # an imported module with roots has a file
        path = os.path.join(folder, plans_file_name(name))
        texts[path] = _render(name, roots, children)
        by_dir.setdefault(folder, {})[name] = _manifest_entry(module, roots, children)
    if problems:
        raise AotCompileError(problems)
    for path, text in sorted(texts.items()):
        write_atomic(path, text)
    for folder, modules in sorted(by_dir.items()):
        _write_manifest(folder, modules)
    files = tuple(sorted(texts))
    out = (files[0] if len(files) == 1 else
           os.path.abspath(out_dir) if out_dir else f"{len(files)} plan modules")
    return CompileResult(target, _display(out), tuple(names), files, tuple(operators),
                         tuple(skipped), time.perf_counter() - start)


def _display(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return rel if not rel.startswith("..") else path


def _roots(module: types.ModuleType) -> list[tuple[Any, Any]]:
    """(owner, config) of every ``@jit`` class and jitted function defined in ``module``."""
    from ..jit.api import JitFunction

    found: dict[str, tuple[Any, Any]] = {}
    for value in list(vars(module).values()):
        if (isinstance(value, type) and issubclass(value, Operator)
                and value.__module__ == module.__name__ and value._emberjit_config is not None):
            found[value.__qualname__] = (value, value._emberjit_config)
        elif isinstance(value, JitFunction):
            fn = value._emberjit_state.owner
            if fn.__module__ == module.__name__:
                found[fn.__qualname__] = (fn, value._emberjit_state.config)
    return [found[k] for k in sorted(found)]


def _compile_one(module: types.ModuleType, problems: list[str]) -> tuple[
        dict[str, dict[str, Any]], dict[str, dict[str, Any]], list[str], list[str]]:
    roots: dict[str, dict[str, Any]] = {}
    done: list[str] = []
    skipped: list[str] = []
    for owner, config in _roots(module):
        label = f"{module.__name__}:{owner.__qualname__}"
        if config.mode in ("trace", "enhanced") or config.sample_input is not None:
            skipped.append(f"{label}: mode={config.mode!r} needs a run; compiled in process")
            continue
        try:
            roots[owner.__qualname__] = _entry(owner, config)
        except EmberJitError as exc:
            problems.append(_problem(owner, exc))
            continue
        done.append(f"{label} ({roots[owner.__qualname__]['mode']})")
    children: dict[str, dict[str, Any]] = {}
    if roots:
        for cls in _reachable_classes(module):
            try:
                children[f"{cls.__module__}:{cls.__qualname__}"] = _child_entry(cls)
            except EmberJitError:
                continue  # decided in process at run time
    return roots, children, done, skipped


def _problem(owner: Any, exc: EmberJitError) -> str:
    location = getattr(exc, "location", None)
    if not location:
        fn = owner if isinstance(owner, types.FunctionType) else getattr(owner, "forward", None)
        code = getattr(fn, "__code__", None)
        location = f"{code.co_filename}:{code.co_firstlineno}" if code else owner.__module__
    message = str(exc)
    if message.startswith(f"{location}: "):
        message = message[len(location) + 2:]
    return f"{location}: {message}"


def _methods(owner: Any) -> tuple[str, ...]:
    from ..compiler import analyze

    if isinstance(owner, types.FunctionType):
        return ()
    try:
        skeletons, _ = analyze(owner)
    except StructuralAnalysisError:
        return ("forward",)
    return tuple(sk.qualname.rsplit(".", 1)[-1] for sk in skeletons)


def _entry(owner: Any, config: Any) -> dict[str, Any]:
    from ..jit.select import decide

    spec = decide(owner, config)
    methods = _methods(owner)
    meta: dict[str, Any] = {
        "kind": "function" if isinstance(owner, types.FunctionType) else "class",
        "module": owner.__module__, "qualname": owner.__qualname__, "mode": spec.mode,
        "config_mode": config.mode, "methods": methods, "reasons": spec.reasons,
        "source_sha256": owner_source_sha256(owner, methods),
    }
    plan = spec.plan
    if plan is None:
        meta["leaf"] = any("leaf" in r for r in spec.reasons)
        return meta
    code = plan.code
    meta["methods"] = code.methods  # what the plan assumes names the code it hashes
    meta["source_sha256"] = owner_source_sha256(owner, code.methods)
    meta["plan"] = code.to_dict()
    meta["plan_sha256"] = hashlib.sha256(code.source.encode()).hexdigest()
    return meta


def _child_entry(cls: type) -> dict[str, Any]:
    from ..jit.state import JitConfig

    try:
        return _entry(cls, JitConfig(child=True))
    except StructuralAnalysisError as exc:
        methods = ("forward",)
        return {"kind": "class", "module": cls.__module__, "qualname": cls.__qualname__,
                "mode": "eager", "config_mode": "auto", "methods": methods, "leaf": False,
                "reasons": (f"kept eager: {exc}",),
                "source_sha256": owner_source_sha256(cls, methods)}


def _operator_classes(module: types.ModuleType) -> list[type]:
    out = []
    for value in list(vars(module).values()):
        if (isinstance(value, type) and issubclass(value, Operator) and value is not Operator
                and getattr(value, "forward", None) is not Operator.forward
                and value.__module__ in sys.modules and value.__module__ != "__main__"):
            out.append(value)
    return out


def _reachable_classes(module: types.ModuleType) -> list[type]:
    """Operator classes named in ``module``'s globals, then in those classes' modules, ..."""
    seen_modules = {module.__name__}
    queue = [module]
    classes: dict[str, type] = {}
    while queue:
        for cls in _operator_classes(queue.pop()):
            classes.setdefault(f"{cls.__module__}:{cls.__qualname__}", cls)
            if cls.__module__ not in seen_modules:
                seen_modules.add(cls.__module__)
                queue.append(sys.modules[cls.__module__])
    return [classes[k] for k in sorted(classes)]


def _literal(text: str) -> str:
    candidate = f"r'''{text}'''"
    if "'''" not in text and not text.endswith(("\\", "'")):
        try:
            if ast.literal_eval(candidate) == text:
                return candidate
        except (SyntaxError, ValueError):
            pass
    return repr(text)


def _render(module: str, roots: dict[str, dict[str, Any]],
            children: dict[str, dict[str, Any]]) -> str:
    from .. import __version__

    lines = [f"# emberjit ahead-of-time plans for {module}",
             f"# written by emberjit {__version__}: `emberjit compile {module}`. Do not edit: the",
             "# plan sha256 is checked at load time and an edited plan is refused.",
             "# Each PLAN_n is compiled at load time in the namespace of its module, after the",
             "# source hash of the operator was checked against the current source.",
             ""]
    counter = 0
    tables: list[str] = []
    for table, entries in (("PLANS", roots), ("CHILDREN", children)):
        rows = []
        for key, meta in entries.items():
            meta = dict(meta)
            if "plan" in meta:
                ref = f"PLAN_{counter}"
                counter += 1
                lines += [f"# {key}", f"{ref} = {_literal(meta['plan']['source'])}", ""]
                meta["plan"] = {**meta["plan"], "source": _Ref(ref)}
            rows.append(f"    {key!r}: {_pformat(meta)},")
        tables.append(f"{table} = {{\n" + "\n".join(rows) + "\n}\n")
    return "\n".join(lines) + "\n" + "\n".join(tables)


def _pformat(value: Any) -> str:
    text = pprint.pformat(value, width=96, sort_dicts=True)
    return text.replace("\n", "\n    ")


def _manifest_entry(module: types.ModuleType, roots: dict[str, dict[str, Any]],
                    children: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def brief(meta: dict[str, Any]) -> dict[str, Any]:
        return {"qualname": meta["qualname"], "module": meta["module"], "kind": meta["kind"],
                "mode": meta["mode"], "methods": list(meta["methods"]),
                "source_sha256": meta["source_sha256"],
                "plan_sha256": meta.get("plan_sha256", "")}

    is_pkg = hasattr(module, "__path__")
    source = module.__name__.replace(".", "/") + ("/__init__.py" if is_pkg else ".py")
    return {"source": source, "plans": plans_file_name(module.__name__),
            "operators": {k: brief(m) for k, m in roots.items()},
            "children": {k: brief(m) for k, m in children.items()}}


def _write_manifest(folder: str, modules: dict[str, Any]) -> None:
    from .. import __version__

    path = os.path.join(folder, MANIFEST)
    old: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        old = {}
    kept = old.get("modules", {}) if old.get("emberjit") == __version__ else {}
    merged = {**(kept if isinstance(kept, dict) else {}), **modules}
    data = {"emberjit": __version__, "format": FORMAT,
            "modules": dict(sorted(merged.items()))}
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
