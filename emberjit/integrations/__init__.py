"""Programs written for other libraries, jitted as they are (layer 5: beside the CLI).

``dspy``  ``jit(program)`` for a ``dspy.Module``: its sub-modules are call sites (docs/dspy.md).

An integration registers, at import, how ``jit`` adapts its programs
(:func:`emberjit.jit.api.register_adapter`) and which of its objects are leaves
(:func:`emberjit.leaves.register_leaf_kind`); it never imports its library until a program of it
is jitted, so importing emberjit costs nothing for it.
"""

from __future__ import annotations

from . import dspy as dspy  # registers itself

__all__ = ["dspy"]
