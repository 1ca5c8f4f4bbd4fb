"""Caching the results of deterministic calls (issue 16): ``store`` keeps them in a file that
threads and processes share (``ResultCache``, ``open_cache``); ``commands`` is ``emberjit cache``.
"""

from __future__ import annotations

from .store import CacheStats, ResultCache, open_cache

__all__ = ["CacheStats", "ResultCache", "open_cache"]
