"""Which local names may share objects: so that a mutation waits for the calls that read them.

A plan passes objects to calls that may still be running (``seen = self.a(box)``); a later
statement that mutates one of those objects (``box["n"] += 1``, ``del xs[0]``) must wait for
them, as eager code would have run the call first. Objects are reached under other names too
(``alias = box``, ``outer = {"inner": box}``, ``item`` of ``for item in boxes``), so codegen
keeps, per name, a may-alias record by names only (no types, no values):

``inside[y]``
    names whose object ``y``'s object may be, or be a part of (``y = box``, ``y = box["k"]``,
    ``y = self.a(box)``: an operator may return its input, ``for y in boxes``).
``holds[y]``
    names whose objects ``y``'s object may hold (``y = {"inner": box}``, ``y.append(box)``).

Mutating ``y`` itself (``y[k] = v``, ``y.append(v)``, ``del y[k]``) touches ``y`` and what it
is inside; mutating through it (``y[k].append(v)``, ``y[k]["j"] = v``, passing it to code that
may do anything) touches what it holds as well. Lending ``y`` to a call lends all three.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import libcst as cst

__all__ = ["NO_MUTATIONS", "Aliases", "Mutations"]

_Names = frozenset[str]
_EMPTY: _Names = frozenset()
_DISPLAYS = (cst.List, cst.Tuple, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp,
             cst.GeneratorExp, cst.BaseString, cst.Integer, cst.Float)


@dataclasses.dataclass(frozen=True)
class Mutations:
    """What one statement may change in place: ``direct`` names' own objects, and ``deep``
    names' objects together with anything they hold."""

    direct: frozenset[str] = _EMPTY
    deep: frozenset[str] = _EMPTY

    def __bool__(self) -> bool:
        return bool(self.direct or self.deep)

    @property
    def names(self) -> frozenset[str]:
        return self.direct | self.deep


NO_MUTATIONS = Mutations()


@dataclasses.dataclass
class Aliases:
    """The may-alias record of one program point (see the module docstring)."""

    inside: dict[str, _Names] = dataclasses.field(default_factory=dict)
    holds: dict[str, _Names] = dataclasses.field(default_factory=dict)

    def copy(self) -> Aliases:
        return Aliases(dict(self.inside), dict(self.holds))

    def join(self, other: Aliases) -> Aliases:
        out = self.copy()
        for mine, theirs in ((out.inside, other.inside), (out.holds, other.holds)):
            for name, names in theirs.items():
                mine[name] = mine.get(name, _EMPTY) | names
        return out

    # -- reading --------------------------------------------------------------------------------

    def _inside(self, names: Iterable[str]) -> set[str]:
        out = set(names)
        for name in list(out):
            out |= self.inside.get(name, _EMPTY)
        return out

    def _held(self, names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            out |= self.holds.get(name, _EMPTY)
        return out

    def lent(self, names: Iterable[str]) -> set[str]:
        """Everything a call given ``names`` may read."""
        inside = self._inside(names)
        return inside | self._held(inside)

    def touched(self, changes: Mutations) -> set[str]:
        """Every name whose object ``changes`` may mutate."""
        out = self._inside(changes.direct)
        deep = self._inside(changes.deep)
        return out | deep | self._held(deep)

    # -- writing --------------------------------------------------------------------------------

    def bind(self, targets: Iterable[str], value: cst.BaseExpression | None,
             reads: Iterable[str]) -> None:
        """``targets = value`` (``value`` None: an unknown expression reading ``reads``)."""
        reads = set(reads)
        if isinstance(value, _DISPLAYS):  # a new object holding what it reads
            inside, holds = _EMPTY, frozenset(self.lent(reads))
        else:  # the object itself, a part of it, or a call's result (which may be its input)
            inside = frozenset(self._inside(reads))
            holds = frozenset(self._held(inside))
        for name in targets:
            self.inside[name] = inside - {name}
            self.holds[name] = holds - {name}
            for outer in inside:  # what y is part of holds y: mutating it deeply reaches y
                self.holds[outer] = self.holds.get(outer, _EMPTY) | {name}

    def store(self, names: Iterable[str], reads: Iterable[str]) -> None:
        """``name[k] = v``, ``name.append(v)``, ``name += v``: ``name`` now holds ``v``."""
        reached = frozenset(self.lent(reads))
        for name in names:
            self.holds[name] = (self.holds.get(name, _EMPTY) | reached) - {name}
