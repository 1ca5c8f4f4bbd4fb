"""The exception types emberjit raises.

Every error names what went wrong (the operator, the file and line where known) and how to fix it.
Errors raised *by operators* are never wrapped: they surface unchanged, with a PEP 678 note naming
the operator path (see :func:`add_operator_note`).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable

__all__ = [
    "AsyncContextError",
    "EmberJitError",
    "ExecutionTimeoutError",
    "GuardLimitError",
    "InvalidOptionError",
    "JitFallbackError",
    "OperatorCallError",
    "PlanLoadError",
    "ResultCacheError",
    "StructuralAnalysisError",
    "add_operator_note",
    "operator_name",
    "warn_user",
]

NOTE_PREFIX = "emberjit: raised by "


class EmberJitError(Exception):
    """Base class of every error emberjit itself raises."""


class InvalidOptionError(EmberJitError, ValueError):
    """An option name or value that emberjit does not accept; the message lists the valid ones."""

    def __init__(self, what: str, got: object, valid: Iterable[str]) -> None:
        self.what, self.got, self.valid = what, got, tuple(valid)
        super().__init__(f"invalid {what} {got!r}; valid: {', '.join(self.valid)}")


class OperatorCallError(EmberJitError, TypeError):
    """An operator was called with the wrong arguments (it takes one input)."""


class StructuralAnalysisError(EmberJitError):
    """The source of an operator could not be found or understood.

    ``obj`` is what was analyzed, ``reason`` what went wrong, ``hint`` how to fix it, and
    ``location`` (``file:line``) where, when known.
    """

    def __init__(self, obj: object, reason: str, hint: str, location: str | None = None) -> None:
        self.obj, self.reason, self.hint, self.location = obj, reason, hint, location
        where = f"{location}: " if location else ""
        super().__init__(f"{where}cannot analyze {_describe(obj)}: {reason}. Hint: {hint}")


class JitFallbackError(EmberJitError):
    """Raised under ``strict=True`` where emberjit would otherwise fall back (keep a line
    sequential, run eagerly, give up after the recompile limit)."""


class GuardLimitError(JitFallbackError):
    """Under ``strict=True``: the recompile limit was reached."""


class AsyncContextError(EmberJitError, RuntimeError):
    """A synchronous call that would block a running event loop: ``await op.acall(x)`` instead."""


class PlanLoadError(EmberJitError):
    """An ahead-of-time plan could not be loaded (stale, corrupted, or from the wrong place)."""


class ResultCacheError(EmberJitError):
    """A result cache file that cannot be used: not an SQLite database, someone else's database,
    a newer schema, corrupt, or locked too long; the message names the file, what was found there
    and the fix."""


class ExecutionTimeoutError(EmberJitError, TimeoutError):
    """An operator call did not finish within ``execution_options(timeout=...)``."""

    def __init__(self, call: str, timeout: float) -> None:
        self.call, self.timeout = call, timeout
        super().__init__(
            f"{call} did not finish within timeout={timeout:g} s; raise the timeout with "
            f"execution_options(timeout=...) or find out why the call hangs"
        )


def _describe(obj: object) -> str:
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    kind = "class" if isinstance(obj, type) else type(obj).__name__
    return f"{name} ({kind})"


def operator_name(obj: object) -> str:
    """How errors and notes (and Dask keys and profiles) name what a plan calls: ``(Answer)``.
    An object that names itself (``emberjit_label``: a leaf callable's call is named after the
    callable, ``SimulatedModel.generate``), a class or a function by its qualname, anything else
    (an operator) by its type's."""
    label = getattr(obj, "emberjit_label", None)
    if isinstance(label, str):
        return label
    if isinstance(obj, type):
        return obj.__qualname__
    fn_name = getattr(obj, "__qualname__", None)
    if fn_name is not None and not hasattr(type(obj), "forward"):
        return str(fn_name)
    return type(obj).__qualname__


def add_operator_note(exc: BaseException, root: str, path: str, leaf: str) -> None:
    """Attach the note naming the operator that raised ``exc``: ``root.path (leaf)``.

    When an inner plan already attached one (``Ensemble.members[3] (Answer)``), the outer plan
    replaces it with the longer path (``Pipeline.ensemble.members[3] (Answer)``): one note, the
    full path, whatever the nesting.
    """
    origin: tuple[str, str] | None = getattr(exc, "_emberjit_origin", None)
    notes: list[str] = getattr(exc, "__notes__", [])
    if origin is not None:
        inner_path, leaf = origin
        path = f"{path}.{inner_path}" if path and inner_path else path or inner_path
        notes[:] = [n for n in notes if not n.startswith(NOTE_PREFIX)]
    exc._emberjit_origin = (path, leaf)  # type: ignore[attr-defined]
    where = f"{root}.{path}" if path else root
    exc.add_note(f"{NOTE_PREFIX}{where} ({leaf})")


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the user's line: the first frame that is neither
    emberjit's own code nor a generated plan (whose frames stand for emberjit's work), so the
    warning names the call that led to it, however deep in emberjit it was found."""
    frame = sys._getframe(1)
    while frame.f_back is not None and (frame.f_code.co_filename.startswith(_PACKAGE)
                                        or frame.f_code.co_filename.startswith("<emberjit")):
        frame = frame.f_back
    globals_ = frame.f_globals
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=globals_.get("__name__", "<unknown>"),
                           registry=globals_.setdefault("__warningregistry__", {}))

