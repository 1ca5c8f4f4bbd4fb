"""``python -m emberjit``: the ``emberjit`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
