"""A read-only walk over libcst trees: the analysis's visitors.

libcst's ``node.visit(visitor)`` rebuilds every node it passes, even for a read-only
``CSTVisitor`` (each node is constructed and validated again), and the compiler asks a few dozen
small questions of each statement: that rebuilding was most of what a compile cost. A
:class:`Visitor` answers the same questions with the same methods (``visit_Call`` returning
False skips the children, ``leave_Call``, ``on_visit``/``on_leave`` to see every node) and builds
nothing. It visits the nodes that hold code, in libcst's order (source order); whitespace,
comments, commas, brackets and other punctuation are not visited, since no question here is
about them. ``tests/test_walk.py`` checks the order against libcst's own visit.

Rewrites (inlining, substituting a call's result) still use libcst's ``CSTTransformer``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import libcst as cst

__all__ = ["NameReads", "Visitor", "bound_names", "code_fields", "comprehension_names"]

#: Fields that hold layout, not code (matched by name, or by the ``whitespace`` prefix).
_LAYOUT = frozenset({
    "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "comma", "semicolon", "dot",
    "colon", "first_colon", "second_colon", "equal", "header", "footer", "leading_lines",
    "lines_after_decorators", "trailing_whitespace", "leading_whitespace", "asynchronous",
    "posonly_ind", "trailing_comma", "relative",
})

#: Where libcst visits a node's code fields in another order than it declares them.
_ORDER: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.Arg: ("keyword", "value"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.TypeAlias: ("name", "type_parameters", "value"),
}

_FIELDS: dict[type[cst.CSTNode], tuple[str, ...]] = {}


def code_fields(kind: type[cst.CSTNode]) -> tuple[str, ...]:
    """The fields of a node type that hold code, in the order libcst visits them."""
    names = _FIELDS.get(kind)
    if names is None:
        names = _ORDER.get(kind) or tuple(
            f.name for f in dataclasses.fields(kind)
            if f.name not in _LAYOUT and not f.name.startswith("whitespace"))
        _FIELDS[kind] = names
    return names


_Handler = Callable[["Visitor", cst.CSTNode], object]
_HANDLERS: dict[tuple[type[Visitor], type[cst.CSTNode], str], _Handler | None] = {}


def _handler(visitor: type[Visitor], kind: type[cst.CSTNode], prefix: str) -> _Handler | None:
    key = (visitor, kind, prefix)
    try:
        return _HANDLERS[key]
    except KeyError:
        found: _Handler | None = getattr(visitor, prefix + kind.__name__, None)
        _HANDLERS[key] = found
        return found


_IS_NODE: dict[type, bool] = {}


def _is_node(kind: type) -> bool:
    known = _IS_NODE.get(kind)
    if known is None:
        known = _IS_NODE[kind] = issubclass(kind, cst.CSTNode)
    return known


class Visitor:
    """Subclass it with ``visit_<Node>``/``leave_<Node>`` methods, as libcst's ``CSTVisitor``;
    run it with ``visitor.walk(node)``."""

    def on_visit(self, node: cst.CSTNode) -> bool:
        """Called on entering every node; False skips its children."""
        visit = _handler(type(self), type(node), "visit_")
        return visit is None or visit(self, node) is not False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        """Called on leaving every node (its children visited or skipped)."""
        leave = _handler(type(self), type(original_node), "leave_")
        if leave is not None:
            leave(self, original_node)

    def walk(self, node: cst.CSTNode) -> None:
        """Visit ``node`` and, unless told not to, the code below it."""
        if self.on_visit(node):
            for name in code_fields(type(node)):
                child = getattr(node, name)
                kind = type(child)
                if kind is list or kind is tuple:
                    for item in child:
                        self.walk(item)
                elif _is_node(kind):
                    self.walk(child)
        self.on_leave(node)


class NameReads(Visitor):
    """A visitor of the names code reads: an attribute's name (``x.name``) and a keyword's name
    (``f(name=1)``) are not visited, only what they belong to."""

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self.walk(node.value)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        self.walk(node.value)
        return False


def bound_names(target: cst.BaseExpression) -> Iterator[cst.Name]:
    """The names an assignment target binds (``a``, ``a, (b, *c)``); attributes and subscripts
    bind none."""
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, cst.Tuple | cst.List):
        for el in target.elements:
            yield from bound_names(el.value)
    elif isinstance(target, cst.StarredElement):
        yield from bound_names(target.value)


def comprehension_names(for_in: cst.CompFor) -> set[str]:
    """The variables a comprehension's ``for`` clauses bind."""
    bound: set[str] = set()
    current: cst.CompFor | None = for_in
    while current is not None:
        bound.update(n.value for n in bound_names(current.target))
        current = current.inner_for_in
    return bound
