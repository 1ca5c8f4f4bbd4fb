"""A base class and a function in a module of their own, for tests/test_dataflow_idioms.py:
their code reads this module's globals, never the subclass's."""

from __future__ import annotations

from typing import Any

PREFIX = "base"  # a global only this module has


def ask_with_prefix(op: Any, question: str) -> Any:
    return op({"query": f"{PREFIX}: {question}"})


class AskBase:
    """A mixin whose helper method reads this module's PREFIX."""

    def _ask(self, op: Any, question: str) -> Any:
        return op({"query": f"{PREFIX} asks {question}"})
