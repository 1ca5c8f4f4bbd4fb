"""Which calls of a statement are call sites, and of what kind.

:class:`CallFinder` visits one simple statement or compound header: an operator call (any
shape: ``op(x)``, ``op(question=q)``, ``op(*xs)``; through ``self``, a local bound to operators,
a comprehension over a collection of them, a global), a helper method or a function of the
user's (analyzed in turn), a helper's parameter called like an operator (open: submitted when it
is one at run time), a method of ``self`` without source (opaque); every other call is asked
whether it may act beyond the plan's locals (:mod:`.effects`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from .bindings import classify_callee, loop_operators, target_root
from .skeleton import CallSite
from .walk import Visitor, bound_names

if TYPE_CHECKING:
    from .builder import _Builder as Builder


def source_of(expr: cst.BaseExpression, module: cst.Module) -> str:
    """``expr`` as written: a dotted name built directly (the common callee), anything else
    printed by libcst."""
    parts: list[str] = []
    node = expr
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        return ".".join([node.value, *reversed(parts)])
    return module.code_for_node(expr).strip()

__all__ = ["CallFinder", "one_input"]

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
#: a comprehension variable ranging over a helper's parameter (``[r(q) for r in retrievers]``):
#: each element is whatever the caller passed, an operator at run time or not
OPEN = "<open parameter>"


class CallFinder(Visitor):
    """Classifies the calls of one statement header or simple statement."""

    def __init__(self, builder: Builder, line: int) -> None:
        super().__init__()
        self.b = builder
        self.line = line  # the statement's line: where a call's own line is not known
        self.found: list[CallSite] = []
        self.effects: list[str] = []
        #: variables of the enclosing comprehensions: name -> the collection attribute it
        #: ranges over when that holds operators, else None (a name that shadows the function's)
        self.scopes: list[dict[str, str | None]] = []

    def _comprehension(self, for_in: cst.CompFor) -> None:
        """Open the comprehension's scope first: libcst visits the element before its ``for``."""
        scope: dict[str, str | None] = {}
        current: cst.CompFor | None = for_in
        while current is not None:
            found = loop_operators(current.target, current.iter, self.b.env, self.b.aliases,
                                   self.b.op_names) or {}
            if isinstance(current.iter, cst.Name) and current.iter.value in self.b.open_params \
                    and not any(current.iter.value in s for s in self.scopes):
                found = {n.value: OPEN for n in bound_names(current.target)}
            for name in bound_names(current.target):
                scope[name.value] = found.get(name.value)
            current = current.inner_for_in
        self.scopes.append(scope)

    def _scoped(self, name: str) -> tuple[bool, str | None]:
        """(whether an enclosing comprehension binds ``name``, the collection it ranges over)."""
        for scope in reversed(self.scopes):
            if name in scope:
                return True, scope[name]
        return False, None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _COMPREHENSIONS):
            self._comprehension(node.for_in)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, _COMPREHENSIONS):
            self.scopes.pop()
        super().on_leave(original_node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        # a nested def runs later, if at all: its calls stay ordinary (one that forward only
        # calls directly was inlined at those calls, where its calls are call sites)
        if _referenced(self.b.module, node.name.value):
            self._deferred(node.body, f"the local function {node.name.value}()")
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self._deferred(node.body, "a lambda")
        return False

    def _deferred(self, body: cst.CSTNode, where: str) -> None:
        """Tell explain about the operator calls inside a nested function: not call sites."""
        for call in _calls_in(body):
            kind_target = classify_callee(call.func, self.b.env, self.b.op_names, self.b.locals)
            if kind_target is not None and kind_target[0] == "operator":
                self.b.barriers.append(
                    f"line {self.line}: {source_of(call.func, self.b.module)}(...) inside "
                    f"{where} is not a call site: it runs where that is called, as ordinary "
                    "code, in program order")

    def visit_Yield(self, node: cst.Yield) -> None:
        name = self.b.src.qualname.rsplit(".", 1)[-1]
        raise self.b.unsupported(node, f"{name} is a generator (it contains yield)", self.line)

    def visit_Await(self, node: cst.Await) -> None:
        if self.b.src.node.asynchronous is None:  # an async def forward awaits as it likes
            raise self.b.unsupported(node, "forward awaits but is not `async def`", self.line)

    def _classify(self, func: cst.BaseExpression) -> tuple[str, str] | None:
        root, path = func, []
        while isinstance(root, cst.Attribute):  # a.generate: a method of a leaf object
            path.append(root.attr.value)
            root = root.value
        if isinstance(root, cst.Name):
            scoped, coll = self._scoped(root.value)
            if scoped:  # a comprehension's own variable
                if coll is None or coll == OPEN or (path and coll not in self.b.env.leaves):
                    return None
                return "operator", ".".join([f"{coll}[*]", *reversed(path)])
        return classify_callee(func, self.b.env, self.b.op_names, self.b.locals)

    def visit_Call(self, node: cst.Call) -> None:
        kind_target = self._classify(node.func)
        dynamic = kind_target is None and one_input(node) and (
            node in self.b.dynamic or (isinstance(node.func, cst.Name) and (
                self._scoped(node.func.value) == (True, OPEN)
                or (node.func.value in self.b.open_params
                    and not self._scoped(node.func.value)[0]))))
        if dynamic:
            kind_target = ("operator", source_of(node.func, self.b.module))
        if kind_target is None and isinstance(node.func, cst.Name) \
                and not self._scoped(node.func.value)[0] and node.func.value not in self.b.locals:
            kind_target = self.b.function_helper(node.func.value)
        static = self.b.static_method(node.func) if kind_target is None else None
        if static is not None:
            kind_target = self.b.function_helper(static)
        if kind_target is None:
            self._effect(node, False)
            return
        kind, target = kind_target
        if dynamic and not one_input(node):
            self._effect(node, True)  # left as written, in program order: raises as eager
            return
        fanout = None
        if isinstance(node.func, cst.Name):
            scoped, coll = self._scoped(node.func.value)
            if scoped and coll is not None:
                fanout = f"comprehension over {coll}"
            if fanout is None and node.func.value in self.b.fanout_vars:
                fanout = f"for over {self.b.fanout_vars[node.func.value]}"
        if fanout is None and self.scopes and kind in ("operator", "helper", "function"):
            fanout = "comprehension (one call per element)"  # [self.llm(q) for _ in range(5)]
        callee = source_of(node.func, self.b.module)
        leaf = kind == "operator" and target_root(target) in self.b.env.leaves
        site = CallSite(self.b.located.lines.get(node, self.line), kind, callee, target, fanout,
                        dynamic=dynamic, leaf=leaf)
        self.b.sites[node] = site
        if kind in ("helper", "function") and target not in self.b.helpers:
            self.b.helpers.append(target)
        self.found.append(site)


    def _effect(self, node: cst.Call, operator_called_wrong: bool) -> None:
        scoped = frozenset(name for scope in self.scopes for name in scope)
        self.b.effect(node, operator_called_wrong, scoped)
        if node in self.b.effects:
            self.effects.append(self.b.effects[node])


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    finder = _Calls()
    finder.walk(node)
    return finder.calls


class _Calls(Visitor):
    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _referenced(module: cst.Module, name: str) -> bool:
    """Whether ``name`` is read anywhere in ``module`` (a local function inlined at all its
    calls is not)."""
    finder = _Reads(name)
    finder.walk(module)
    return finder.found


class _Reads(Visitor):
    def __init__(self, name: str) -> None:
        self.name, self.found = name, False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        for part in (*node.decorators, node.params, node.body):  # not the name it defines
            self.walk(part)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.found |= node.value == self.name


def one_input(call: cst.Call) -> bool:
    if len(call.args) != 1:
        return False
    arg = call.args[0]
    return not arg.star and (arg.keyword is None or arg.keyword.value == "inputs")
