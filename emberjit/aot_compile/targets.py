"""Turning what the user typed into modules: a ``.py`` path, a package directory, a dotted
module name; ``pkg.mod:Name`` / ``file.py:Name`` for one operator. Importing a module is allowed
(as pytest does); nothing of ``forward`` runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
import types
from typing import Any

from ..aot.common import DEFAULT_DIR, AotCompileError, AotTargetError

__all__ = ["import_module", "module_names", "resolve_object"]

_EXPECTED = ("expected a .py file, a package directory, or a dotted module name "
             "(myapp/pipelines.py, myapp/, myapp.pipelines)")


def _package_root(path: str) -> tuple[str, str]:
    """(sys.path entry, dotted module name) for a .py file or package directory, walking up
    through directories that hold ``__init__.py`` (pytest's rootdir rule)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        folder, parts = path, []
    else:
        folder, stem = os.path.split(path)
        parts = [] if stem == "__init__.py" else [stem[:-3]]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, name = os.path.split(folder)
        parts.insert(0, name)
    if not parts or not all(p.isidentifier() for p in parts):
        raise AotTargetError(f"{path!r} is not importable as a module: {_EXPECTED}")
    return folder, ".".join(parts)


def _on_path(folder: str) -> None:
    if folder not in sys.path:
        sys.path.insert(0, folder)


def module_names(target: str) -> list[str]:
    """Every module ``target`` names (a package: itself and all its submodules, recursively)."""
    if target.endswith(".py") or os.path.sep in target or os.path.exists(target):
        if not os.path.exists(target):
            raise AotTargetError(f"no such file or directory: {target!r}; {_EXPECTED}")
        if os.path.isdir(target) and not os.path.isfile(os.path.join(target, "__init__.py")):
            raise AotTargetError(f"{target!r} is a directory without __init__.py: {_EXPECTED}")
        if os.path.isfile(target) and not target.endswith(".py"):
            raise AotTargetError(f"{target!r} is not a .py file: {_EXPECTED}")
        folder, name = _package_root(target)
        _on_path(folder)
    else:
        name = target
        if not all(p.isidentifier() for p in name.split(".")):
            raise AotTargetError(f"{target!r} is not a module name: {_EXPECTED}")
        _on_path(os.getcwd())
    module = import_module(name)
    names = [name]
    search = getattr(module, "__path__", None)
    if search is not None:
        for info in pkgutil.walk_packages(search, prefix=name + "."):
            if DEFAULT_DIR not in info.name.split("."):
                names.append(info.name)
    return sorted(names)


def import_module(name: str) -> types.ModuleType:
    """Import ``name``; a missing module is a usage error, a module that fails to import is a
    compile error with ``file:line: message``."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise AotTargetError(f"cannot find module {name!r}: {exc}; {_EXPECTED}") from None
    if spec is None:
        raise AotTargetError(f"no module named {name!r} (searched the current directory and "
                             f"sys.path); {_EXPECTED}")
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        raise AotCompileError([f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"]) from None
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else name
        raise AotCompileError([f"{where}: importing {name} raised "
                               f"{type(exc).__name__}: {exc}"]) from None


def resolve_object(target: str) -> tuple[Any, str]:
    """``pkg.mod:Name`` or ``file.py:Name`` (``Name`` may be dotted) -> (object, module)."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise AotTargetError(f"expected TARGET as pkg.mod:Name or file.py:Name, got {target!r}")
    if not all(p.isidentifier() for p in attr.split(".")):
        raise AotTargetError(f"{attr!r} is not a name: expected pkg.mod:Name or file.py:Name")
    if where.endswith(".py") or os.path.sep in where:
        if not os.path.isfile(where):
            raise AotTargetError(f"no such file: {where!r} (in {target!r}); expected "
                                 "pkg.mod:Name or file.py:Name")
        folder, name = _package_root(where)
        _on_path(folder)
    else:
        name = where
        if not all(p.isidentifier() for p in name.split(".")):
            raise AotTargetError(f"{where!r} is not a module name: expected pkg.mod:Name or "
                                 "file.py:Name")
        _on_path(os.getcwd())
    obj: Any = import_module(name)
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = sorted(k for k, v in vars(sys.modules[name]).items()
                           if callable(v) and not k.startswith("_"))
            raise AotTargetError(f"module {name!r} has no attribute {attr!r}; it defines: "
                                 f"{', '.join(found) or 'nothing callable'}")
        obj = getattr(obj, part)
    return obj, name
