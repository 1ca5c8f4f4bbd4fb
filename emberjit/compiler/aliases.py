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

from ..analysis.walk import comprehension_names

__all__ = ["NO_MUTATIONS", "Aliases", "Mutations", "element_store", "immutable_annotation",
           "immutable_elements", "immutable_value"]

_Names = frozenset[str]
_EMPTY: _Names = frozenset()
_DISPLAYS = (cst.List, cst.Tuple, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp,
             cst.GeneratorExp, cst.BaseString, cst.Integer, cst.Float)


#: builtins and str methods whose result is immutable (a str, a number, a bool, a tuple)
_IMMUTABLE_CALLS = frozenset({"str", "int", "float", "bool", "len", "repr", "round", "abs",
                              "format", "tuple", "hash", "ord", "chr", "sum", "ascii"})
_STR_METHODS = frozenset({"strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize",
                          "casefold", "join", "format", "format_map", "replace", "zfill",
                          "center", "ljust", "rjust", "removeprefix", "removesuffix",
                          "expandtabs", "translate", "count", "find", "index", "startswith",
                          "endswith"})
_IMMUTABLE_TYPES = frozenset({"str", "int", "float", "bool", "bytes", "tuple", "complex"})


def immutable_value(expr: cst.BaseExpression, known: set[str]) -> bool:
    """Whether ``expr`` surely evaluates to an immutable value (str, number, bool, tuple), from
    its shape alone: a literal, an f-string, a known-immutable name, a str method's result,
    arithmetic on those. ``known``: names known to hold immutable values."""
    if isinstance(expr, cst.BaseString | cst.Integer | cst.Float | cst.Imaginary):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in known or expr.value in ("True", "False", "None")
    if isinstance(expr, cst.Tuple):
        return all(immutable_value(el.value, known) for el in expr.elements)
    if isinstance(expr, cst.UnaryOperation):
        return immutable_value(expr.expression, known)
    if isinstance(expr, cst.BinaryOperation):  # n * 2, "Q: " + q, "%s!" % q: str or raises
        if isinstance(expr.left, cst.BaseString) or (
                isinstance(expr.right, cst.BaseString) and isinstance(expr.operator, cst.Add)):
            return True
        return immutable_value(expr.left, known) and immutable_value(expr.right, known)
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name):
            return func.value in _IMMUTABLE_CALLS
        if isinstance(func, cst.Attribute) and func.attr.value in _STR_METHODS:
            return immutable_value(func.value, known)
    return False


def immutable_elements(expr: cst.BaseExpression, known: set[str]) -> bool:
    """Whether ``expr`` makes a new list, tuple or dict whose elements are immutable values:
    ``[0.0] * n``, ``[0 for _ in xs]``, ``{k: "" for k in ks}``, ``[]``, ``{}``."""
    if isinstance(expr, cst.List | cst.Tuple):
        return all(not isinstance(e, cst.StarredElement) and immutable_value(e.value, known)
                   for e in expr.elements)
    if isinstance(expr, cst.Dict):
        return all(isinstance(e, cst.DictElement) and immutable_value(e.value, known)
                   for e in expr.elements)
    if isinstance(expr, cst.ListComp):  # (its variables are not known immutable: [x for ...])
        return immutable_value(expr.elt, known - comprehension_names(expr.for_in))
    if isinstance(expr, cst.DictComp):
        return immutable_value(expr.value, known - comprehension_names(expr.for_in))
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        return any(isinstance(side, cst.List | cst.Tuple) and immutable_elements(side, known)
                   for side in (expr.left, expr.right))
    return False


def element_store(stmt: cst.BaseSmallStatement, immutable: set[str]) -> set[str]:
    """The container whose elements stay immutable values after ``stmt``: ``c[k] += v`` (an
    immutable value plus anything is a new object, or raises) and ``c[k] = v`` of an immutable
    ``v``."""
    target: cst.BaseExpression | None = None
    if isinstance(stmt, cst.AugAssign):
        target = stmt.target
    elif isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and immutable_value(
            stmt.value, immutable):
        target = stmt.targets[0].target
    if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
        return {target.value.value}
    return set()


def immutable_annotation(annotation: cst.Annotation | None) -> bool:
    """``x: str``, ``n: int``: an annotation naming an immutable builtin type."""
    if annotation is None:
        return False
    node = annotation.annotation
    return isinstance(node, cst.Name) and node.value in _IMMUTABLE_TYPES


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
    #: names known to hold immutable values (``prompt = "..."``, ``n: int``): ``prompt +=
    #: tip`` rebinds them, it mutates nothing
    immutable: set[str] = dataclasses.field(default_factory=set)
    #: containers whose elements are all immutable values (``totals = [0.0] * n``), changed
    #: since only by ``totals[i] += v`` or by storing immutable values: an element updated
    #: later, in place, is seen by no one else
    scalars: set[str] = dataclasses.field(default_factory=set)

    def copy(self) -> Aliases:
        return Aliases(dict(self.inside), dict(self.holds), set(self.immutable),
                       set(self.scalars))

    def join(self, other: Aliases) -> Aliases:
        out = self.copy()
        out.immutable &= other.immutable
        out.scalars &= other.scalars
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
        targets = list(targets)
        if value is not None and immutable_value(value, self.immutable):
            self.immutable.update(targets)
        else:
            self.immutable.difference_update(targets)
        if value is not None and immutable_elements(value, self.immutable):
            self.scalars.update(targets)
        else:
            self.scalars.difference_update(targets)
        if value is not None and immutable_elements(value, self.immutable):
            inside, holds = _EMPTY, _EMPTY  # a new object holding only immutable values
        elif isinstance(value, _DISPLAYS):  # a new object holding what it reads
            inside, holds = _EMPTY, frozenset(self.lent(reads))
        else:  # the object itself, a part of it, or a call's result (which may be its input)
            inside = frozenset(self._inside(reads))
            holds = frozenset(self._held(inside))
        for name in targets:
            self.inside[name] = inside - {name}
            self.holds[name] = holds - {name}
            for outer in inside:  # what y is part of holds y: mutating it deeply reaches y
                self.holds[outer] = self.holds.get(outer, _EMPTY) | {name}

    def after(self, stmt: cst.BaseSmallStatement, reads: Iterable[str], bound: set[str],
              changes: Mutations, lent: set[str]) -> None:
        """Record what ``stmt`` (binding ``bound``, reading ``reads``, changing ``changes`` in
        place) does to which names may share objects; ``lent``: the names given to running
        calls (a rebound name's old object stays lent under its other names)."""
        reads = set(reads)
        if isinstance(stmt, cst.Assign | cst.AnnAssign) and bound and stmt.value is not None:
            self.rebind(bound, lent)
            self.bind(bound, stmt.value, reads)
            if isinstance(stmt, cst.AnnAssign) and immutable_annotation(stmt.annotation):
                self.immutable.update(bound)  # answer: str = ...
        if changes:
            # totals[i] += v on a list of immutable values stores no object into it
            keeps = element_store(stmt, self.immutable) & self.scalars
            self.store((changes.names - bound if not isinstance(stmt, cst.AugAssign)
                        else changes.names) - keeps, reads)
            self.scalars -= changes.names - keeps

    def rebind(self, names: Iterable[str], lent: set[str]) -> None:
        """``names`` are about to be bound to new objects: every record (and ``lent``, the names
        given to running calls) that named their old objects names instead the other names that
        may still reach them (``previous = answers; answers = []``: ``previous``)."""
        names = set(names)
        for name in names:
            rest = {m for m, inside in self.inside.items() if name in inside and m not in names}
            if name in lent:
                lent.discard(name)
                lent |= rest
            for record in (self.inside, self.holds):
                for m, found in record.items():
                    if name in found:
                        record[m] = (found - {name}) | (rest - {m})

    def store(self, names: Iterable[str], reads: Iterable[str]) -> None:
        """``name[k] = v``, ``name.append(v)``, ``name += v``: ``name`` now holds ``v``."""
        reached = frozenset(self.lent(reads))
        for name in names:
            self.holds[name] = (self.holds.get(name, _EMPTY) | reached) - {name}
