"""What a loop's body does, for starting its calls before the loop (:mod:`.hoist`): which
names it changes, whether it may leave an iteration early, and which of its effects a call
may see.

Effects are the calls the analysis keeps in program order (:mod:`emberjit.analysis.effects`):
one of them before a call may change what the call sees (``TONE.set("formal")``), except the
context managers of ``with`` blocks (a timer, a span: calls started early run outside them) and
code that only writes output (``print``, a logger).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import libcst as cst

from ..analysis.skeleton import OPAQUE, CallSite
from ..analysis.walk import Visitor
from .continuations import reads
from .statements import mutated, root_name, target_names

__all__ = ["Changes", "Exits", "skips", "writes_output"]


class Exits(Visitor):
    """Whether the body may leave the loop early, or has effects a call may see: code kept in
    program order (``TONE.set("formal")`` before the call changes what it runs under), except
    the context managers of ``with`` blocks (a timer, a span: the call runs outside them, as
    the module docstring says) and writing output (``print``, a logger)."""

    def __init__(self, sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
                 namespace: Mapping[str, Any]) -> None:
        self.sites, self.effects, self.namespace, self.found = sites, effects, namespace, False
        self.managers: set[cst.CSTNode] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return False
        if isinstance(node, cst.With):
            self.managers.update(item.item for item in node.items)
        self.found |= isinstance(node, cst.Break | cst.Return | cst.Yield | cst.Await) or (
            isinstance(node, cst.Call) and node not in self.managers and (
                (node in self.effects and not writes_output(node, self.namespace))
                or (node in self.sites and self.sites[node].kind == OPAQUE)))
        return not self.found


def writes_output(call: cst.Call, namespace: Mapping[str, Any]) -> bool:
    """``print(...)`` (the builtin), ``logger.info(...)`` on a :class:`logging.Logger`, or
    ``logging.warning(...)``: code that writes output and changes nothing a call sees."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value == "print" and namespace.get("print", print) is print
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        owner = namespace.get(func.value.value)
        return func.attr.value in _LOG_METHODS and (
            isinstance(owner, logging.Logger) or owner is logging)
    return False


_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})


class Changes:
    """What a loop's body changes: the names it binds (``bound``), what each simple statement
    may mutate in place, in source order (``self`` when it stores into it), and both (``all``).
    Writing output (``print(e)``) mutates nothing."""

    def __init__(self, body: cst.IndentedBlock, sites: Mapping[cst.Call, CallSite],
                 effects: Mapping[cst.Call, str], self_name: str | None,
                 namespace: Mapping[str, Any]) -> None:
        finder = _Binds()
        finder.walk(body)
        self.bound = set(finder.names)
        self.mutations = [
            (small, set() if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)
             and writes_output(small.value, namespace)
             else mutated(small, dict(sites), effects, self_name).names)
            for small in finder.smalls]
        self.mutated = {n for _, names in self.mutations for n in names}
        self.all = self.bound | self.mutated

    def before(self, stmt: cst.CSTNode) -> set[str]:
        """The names the simple statements before ``stmt`` may mutate."""
        out: set[str] = set()
        for small, names in self.mutations:
            if small is stmt:
                break
            out |= names
        return out

    def bound_once(self, body: cst.IndentedBlock) -> set[str]:
        """Names bound exactly once, by ``name = value``, and never changed in place."""
        counts = _Counts()
        counts.walk(body)
        return {n for n, k in counts.plain.items()
                if k == 1 and n not in counts.other} - self.mutated


class _Binds(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.smalls: list[cst.BaseSmallStatement] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseSmallStatement):
            self.smalls.append(node)
        if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For
                      | cst.CompFor):
            target = node.target
            if isinstance(target, cst.Name | cst.Tuple | cst.List | cst.StarredElement):
                self.names.update(target_names(target))
            else:  # out[i] = v, obj.x = v: the object changes, the index is only read
                root = root_name(target)
                self.names.update({root} if root is not None else set(reads(target)))
        elif isinstance(node, cst.AsName | cst.NamedExpr):
            name = node.name if isinstance(node, cst.AsName) else node.target
            self.names.update(target_names(name))
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            self.names.update(target_names(node.name.name))
        return True


def skips(stmt: cst.CSTNode) -> bool:
    """Whether a block holds a ``continue`` or ``raise`` (a ``break``/``return`` stops every
    early start, see :class:`_Exits`)."""
    finder = _Skips()
    finder.walk(stmt)
    return finder.found


class _Skips(Visitor):
    def __init__(self) -> None:
        self.found = False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return False
        self.found |= isinstance(node, cst.Continue | cst.Raise)
        return not self.found


class _Counts(Visitor):
    """How often each name is bound by a plain ``name = value``, and the names bound
    otherwise (augmented, annotated, loop targets, ``with ... as``, unpacking, ``:=``)."""

    def __init__(self) -> None:
        self.plain: dict[str, int] = {}
        self.other: set[str] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return False
        if isinstance(node, cst.Assign):
            for t in node.targets:
                if isinstance(t.target, cst.Name) and len(node.targets) == 1:
                    self.plain[t.target.value] = self.plain.get(t.target.value, 0) + 1
                else:
                    self.other.update(target_names(t.target))
        elif isinstance(node, cst.AugAssign | cst.AnnAssign | cst.For | cst.CompFor):
            self.other.update(target_names(node.target))
        elif isinstance(node, cst.AsName | cst.NamedExpr):
            self.other.update(target_names(node.name if isinstance(node, cst.AsName)
                                           else node.target))
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            self.other.update(target_names(node.name.name))
        return True
