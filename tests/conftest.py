"""Shared test setup: the repository root is importable, so ``fixtures.*`` modules load as real
files (libcst reads their source) and ``benchmarks`` can be smoke-tested."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
