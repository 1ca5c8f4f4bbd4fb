"""The compiler, imported in the background from the moment ``jit`` is applied.

Reading ``forward`` takes libcst, and importing libcst (with the analysis and the code generator
above it) costs 150-300 ms, once per process. ``import emberjit`` does not pay it: a process that
runs ahead-of-time plans never needs it. Without this module the first jitted call would pay it;
with it, :func:`preload_compiler` starts that import on a thread of its own when ``jit`` is
applied, so the time between ``@jit`` and the first call (building models, reading data, running
other code) hides it. A first call that comes sooner waits only for the rest of the import (it is
counted in that call's ``compile_seconds``). Nothing is started when the module has ahead-of-time
plans (``emberjit compile``), or under :func:`emberjit.disabled`.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time

from ..aot.common import aot_dir_for, plans_file_name
from ..options import jit_disabled

__all__ = ["compiler_import", "preload_compiler"]

#: what the first compile imports (each imports what it needs below it)
MODULES = ("emberjit.compiler.build", "emberjit.compiler.enhanced", "emberjit.analysis.env")

_lock = threading.Lock()
_thread: threading.Thread | None = None
_span: tuple[float, float] | None = None


def preload_compiler(module: str | None, aot_dir: str | None) -> None:
    """Start importing the compiler (once per process) unless it is imported already, ``module``
    has ahead-of-time plans, or jit is disabled."""
    global _thread
    if _thread is not None or all(name in sys.modules for name in MODULES) or jit_disabled():
        return
    if module is not None and _has_aot_plans(module, aot_dir):
        return
    with _lock:
        if _thread is None:  # not a daemon: an exit mid-import would leave it half done
            _thread = threading.Thread(target=_import, name="emberjit-preload-compiler")
            _thread.start()


def compiler_import() -> tuple[float, float] | None:
    """When the background import started and ended (``time.perf_counter()``), or None: none
    was started, it is not done, or it failed."""
    return _span


def _has_aot_plans(module: str, aot_dir: str | None) -> bool:
    folder = aot_dir_for(module, aot_dir)
    return folder is not None and os.path.exists(os.path.join(folder, plans_file_name(module)))


def _import() -> None:
    global _span
    start = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the first compile imports it again and says why
            return
    _span = (start, time.perf_counter())
