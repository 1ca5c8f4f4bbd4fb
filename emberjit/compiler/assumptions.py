"""What a plan assumes, as one record: every code generator (structural, enhanced, trace) lists
its assumptions here, and the guard function, the readable guards (explain, the plan's header)
and the names the plan binds are all derived from that one list.

An :class:`Assumption` is a fact in words, the guard lines that return the reason once it no
longer holds, and the constants those lines compare with (a code object, the traced input's
keys), each with a *reference* where another process can find it again: ``code:<method>`` (the
code object of the class's method), ``function`` and ``function.code`` (a jitted function and
its code), ``emberjit:<name>``; none for a value only this process has (a traced operator).
Ahead-of-time plans are linked from those references, and their source hash covers exactly the
methods they name. The header of every plan is written here too, so the generators cannot drift
apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .artifact import one_line

__all__ = ["Assumption", "Assumptions", "header"]


@dataclasses.dataclass(frozen=True)
class Assumption:
    """One fact a plan was specialized on (see the module docstring)."""

    fact: str
    #: guard lines (in the guard's body) that return why the fact no longer holds; () for a
    #: fact the guard cannot check per call (the source it was compiled from: the code object
    #: checks stand for it)
    test: tuple[str, ...] = ()
    binds: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    refs: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> reference

    @staticmethod
    def holds(condition: str, fact: str, refs: Mapping[str, str] | None = None, /,
              **binds: Any) -> Assumption:
        """A fact checked by one condition; the reason it fails is "no longer: <fact>"."""
        return Assumption(fact, (f"    if not ({condition}):",
                                 f"        return {('no longer: ' + fact)!r}"), binds,
                          dict(refs or {}))


@dataclasses.dataclass(frozen=True)
class Assumptions:
    """Everything one plan assumes, in the order its guard checks it."""

    items: tuple[Assumption, ...]
    params: str = "self"  # the guard's parameters: "self", "" (a function), "self, inputs"
    prelude: tuple[str, ...] = ()  # guard lines before the checks (``cls = type(self)``)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # constants the plan
    # itself reads (classes for ``super()``), not a guard's
    #: what the compile saw of the instance and the guard does not check per call: the kinds
    #: of its operator attributes (the compile cache compares them before sharing a plan)
    shape: tuple[tuple[str, str], ...] = ()

    @property
    def readable(self) -> tuple[str, ...]:
        return tuple(a.fact for a in self.items)

    @property
    def constants(self) -> dict[str, Any]:
        """Every name the plan binds, with its value in this process."""
        out: dict[str, Any] = {}
        for item in self.items:
            out.update(item.binds)
        out.update(self.extra)
        return out

    @property
    def binds(self) -> tuple[tuple[str, str], ...]:
        """(name, reference) of every name the plan binds ("": found only in this process)."""
        refs: dict[str, str] = {}
        for item in self.items:
            refs.update(item.refs)
        return tuple((name, refs.get(name, "")) for name in sorted(self.constants))

    def guard_source(self, name: str) -> str:
        """``def <name>(<params>)``: None while every assumption holds, else the first reason."""
        lines = [f"def {name}({self.params}):", *self.prelude]
        for item in self.items:
            lines += item.test
        lines.append("    return None\n")
        return "\n".join(lines)


def header(title: str, details: Sequence[str], assumptions: Assumptions,
           notes: Sequence[str] = ()) -> list[str]:
    """A plan's first lines: what it is, then what it assumes (``# guards:``), then notes."""
    return [f"# {one_line(title)}", *(f"# {one_line(d)}" for d in details), "# guards:",
            *(f"#   {one_line(g)}" for g in assumptions.readable),
            *(f"# {one_line(n)}" for n in notes), ""]
