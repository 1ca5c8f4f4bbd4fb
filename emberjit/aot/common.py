"""What compiling and loading ahead-of-time plans share: file names, the default directory, the
source hash, atomic writes. Nothing here imports libcst: loading a plan must not.

The source hash of an operator is the sha256 of the per-function sha256s of ``forward`` and the
helper methods its plan compiled (in that order), each over the function's source text as
``inspect.getsourcelines`` reads it (linecache + tokenize). A plain function hashes itself.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import types
from collections.abc import Sequence
from typing import Any

from ..errors import EmberJitError
from ..sourcehash import function_sha256

__all__ = ["ENV_VAR", "FORMAT", "MANIFEST", "AotCompileError", "AotTargetError", "aot_dir_for",
           "function_sha256",
           "owner_source_sha256", "plans_file_name", "write_atomic"]

MANIFEST = "manifest.json"
#: The layout of a plans file: 2 since plan functions take ``run`` by keyword.
FORMAT = 3  # 3: each plan is its artifact as data (PlanCode.to_dict)
ENV_VAR = "EMBERJIT_AOT_DIR"
DEFAULT_DIR = "__emberjit__"


class AotTargetError(EmberJitError, ValueError):
    """A target that names no module, file, package or operator (a usage error: exit 2)."""


class AotCompileError(EmberJitError):
    """Compiling failed; ``problems`` are ``file:line: message`` lines (exit 1)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def plans_file_name(module: str) -> str:
    """``myapp.pipelines`` -> ``myapp_pipelines_plans.py``."""
    return module.replace(".", "_") + "_plans.py"


def default_dir(module: str) -> str | None:
    """``<directory of the module's source>/__emberjit__``, or None (no file: ``__main__``,
    the REPL, a module made in memory)."""
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if not path:
        return None
    return os.path.join(os.path.dirname(os.path.abspath(path)), DEFAULT_DIR)


def aot_dir_for(module: str, configured: str | None) -> str | None:
    """Where plans of ``module`` are looked for: ``jit(aot_dir=...)``, else ``$EMBERJIT_AOT_DIR``,
    else :func:`default_dir`."""
    if configured:
        return os.path.abspath(configured)
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.abspath(env)
    return default_dir(module)


def owner_source_sha256(owner: Any, methods: Sequence[str]) -> str:
    """The source hash of an operator class (its ``methods``) or of a plain function."""
    if isinstance(owner, types.FunctionType):
        parts = [function_sha256(owner)]
    else:
        parts = [function_sha256(getattr(owner, m, None)) for m in methods]
    if not all(parts):
        return ""
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: set it straight back
    os.umask(mask)
    return mask


def write_atomic(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``; an unchanged file
    is left alone (same bytes, same mtime). Returns whether the file was written."""
    data = text.encode()
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private: the mode open() would give
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True
