"""Tracing: record the operator calls of one run (:func:`record`) as a printable :class:`Trace`.

See :mod:`emberjit.tracing.recorder` for how calls are seen (a context variable, a hook in
``Operator.__call__`` installed only while a trace is active) and how arguments are described.
"""

from __future__ import annotations

from .recorder import Recorder, record
from .trace import Call, Source, Trace

__all__ = ["Call", "Recorder", "Source", "Trace", "record"]
