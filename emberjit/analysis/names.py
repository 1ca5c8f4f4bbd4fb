"""The names a statement reads and writes, the containers it fills, and the names a function
body binds: the facts the Skeleton's statements and helpers' open parameters are built from."""

from __future__ import annotations

import libcst as cst

from .walk import NameReads, Visitor, bound_names

__all__ = ["Names", "Rebinds", "filled"]


class Names(NameReads):
    """Reads and writes of one statement (not descending into nested blocks' statements)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.local: set[str] = set()  # comprehension and lambda variables

    def visit_Name(self, node: cst.Name) -> None:
        self.reads.add(node.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        self._target(node.target)
        return False

    def _target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.writes.add(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for el in target.elements:
                self._target(el.value)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value)
        else:  # d[k] = ..., obj.x = ...: reads the base
            self.walk(target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.writes.update(n.value for n in bound_names(node.target))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        self._target(node.target)
        if node.value is not None:
            self.walk(node.value)
        return False

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.local.update(n.value for n in bound_names(node.target))

    def visit_Param(self, node: cst.Param) -> bool:
        self.local.add(node.name.value)
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.writes.update(n.value for n in bound_names(node.target))


_FILLERS = frozenset({"append", "extend", "update", "add", "insert", "setdefault"})


def filled(stmt: cst.BaseSmallStatement) -> frozenset[str]:
    """Local containers a simple statement fills: ``d[k] = v``, ``d[k] += v``,
    ``xs.append(v)`` (what later readers of ``d`` or ``xs`` depend on, besides its binding)."""
    target: cst.BaseExpression | None = None
    if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0].target
    elif isinstance(stmt, cst.AugAssign):
        target = stmt.target
    if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
        return frozenset({target.value.value})
    if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
        func = stmt.value.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value in _FILLERS:
            return frozenset({func.value.value})
    return frozenset()


class Rebinds(Visitor):
    """The names a function body binds (assignments, loop targets, ``with ... as``, ``:=``,
    ``del``), not looking into nested functions, lambdas or comprehensions."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        #: loop variable -> the names the loops binding it iterate (``for r in retrievers``)
        self.loops: dict[str, set[str]] = {}
        self.other: set[str] = set()  # names bound otherwise than as such a loop's variable

    def _bind(self, target: cst.BaseExpression) -> None:
        self.names.update(n.value for n in bound_names(target))
        self.other.update(n.value for n in bound_names(target))

    def open_loop_names(self, open_params: frozenset[str]) -> frozenset[str]:
        """Loop variables bound only by ``for r in p`` over never-rebound parameters: each is
        whatever the caller's collection holds (an operator at run time, or not)."""
        return frozenset(name for name, iters in self.loops.items()
                         if name not in self.other and iters <= open_params)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._bind(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.target, cst.Name) and isinstance(node.iter, cst.Name):
            self.names.add(node.target.value)
            self.loops.setdefault(node.target.value, set()).add(node.iter.value)
        else:
            self._bind(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._bind(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._bind(node.target)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_CompFor(self, node: cst.CompFor) -> bool:
        return False
