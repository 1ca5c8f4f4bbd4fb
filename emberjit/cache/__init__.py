"""Caching the results of deterministic calls (issue 16; docs/caching.md).

``store``     the file: ``ResultCache`` (sqlite3, WAL, shared by threads and processes),
              ``open_cache``; ``commands`` is ``emberjit cache info|clear``.
``encoding``  the canonical encoding of values in keys.
``keys``      a call's key: the operator's normalized source and state, the input.
``sources``   what code is: its normalized source (its bytecode when the file changed since),
              the globals it reads.
``policy``    which calls may be served, and why not (explain reads it too).
``inflight``  identical calls in flight run once.
``calls``     the hook every operator call goes through while a cache is on.
"""

from __future__ import annotations

from . import calls as calls  # registers the hook with emberjit.operator
from .store import CacheStats, ResultCache, open_cache

__all__ = ["CacheStats", "ResultCache", "open_cache"]
