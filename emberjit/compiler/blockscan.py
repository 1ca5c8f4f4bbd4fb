"""What a ``try`` or ``with`` block does, for :mod:`.blocks` to decide whether it may run as one
task: one visitor for what it calls, binds and changes (and why it may not), one for the call
sites of a statement in the order they run, and the chain its body's calls form."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from ..analysis.skeleton import HELPER, OPERATOR, CallSite, Skeleton
from ..analysis.walk import Visitor
from .continuations import changes_receiver, reads
from .statements import target_names

if TYPE_CHECKING:
    from .state import State

__all__ = ["BlockScan", "Calls", "bound_before", "callees_unknown", "chain"]

_NEVER = (cst.Return, cst.Yield, cst.Await, cst.Global, cst.Nonlocal, cst.Del, cst.FunctionDef,
          cst.ClassDef, cst.Lambda, cst.NamedExpr, cst.TryStar, cst.Match)
_KEYWORDS = {cst.Return: "return", cst.Yield: "yield", cst.Await: "await", cst.Global: "global",
             cst.Nonlocal: "nonlocal", cst.Del: "del", cst.FunctionDef: "def",
             cst.ClassDef: "class", cst.Lambda: "lambda", cst.NamedExpr: ":=",
             cst.TryStar: "except*", cst.Match: "match", cst.Break: "break",
             cst.Continue: "continue"}
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class BlockScan(Visitor):
    """Whether a block stays in the plan's locals, its operator calls (in source order) and
    the names it binds."""

    def __init__(self, sites: Mapping[cst.Call, CallSite], effects: Mapping[cst.Call, str],
                 local_names: Collection[str], self_name: str | None,
                 excluded: Collection[cst.Call], helpers: Mapping[str, Skeleton] | None = None,
                 returns: bool = False) -> None:
        super().__init__()
        self.sites, self.effects, self.excluded = sites, effects, excluded
        self.local_names, self.self_name = local_names, self_name
        #: the helpers' skeletons (a helper method of self may run inside the task, when it
        #: stays local itself); None: none may
        self.helpers, self.returns = helpers, returns
        self.why = ""  # why the block may not run as one task ("" while it may)
        self.node: cst.CSTNode | None = None
        self.calls: list[cst.Call] = []
        self.callees: list[str] = []  # the operators the helpers it calls call (as self.x)
        self.helper_calls: list[str] = []  # the helpers it calls, as written
        self.spread = False  # it calls an operator in a loop or comprehension
        #: locals it changes in place (``status.append(...)``): the block's outputs too
        self.changed: dict[str, None] = {}
        self.written: dict[str, None] = {}  # in order of first binding
        self.except_names: set[str] = set()
        self.loops = self.scopes = 0

    def walk(self, node: cst.CSTNode) -> None:
        if self.node is None:
            self.node = node  # the block scanned
        super().walk(node)

    def fail(self, why: str) -> None:
        self.why = self.why or why

    def on_visit(self, node: cst.CSTNode) -> bool:
        if ((isinstance(node, _NEVER) and not (self.returns and isinstance(node, cst.Return)))
                or (isinstance(node, cst.Break | cst.Continue) and not self.loops)):
            self.fail(f"it has a '{_KEYWORDS.get(type(node), type(node).__name__)}'")
        elif isinstance(node, cst.For | cst.While | cst.With) and getattr(
                node, "asynchronous", None) is not None:
            self.fail("it has an 'async' statement")
        if self.why:
            return False
        if isinstance(node, cst.For | cst.While):
            self.loops += 1
        elif isinstance(node, _COMPREHENSIONS):
            self.scopes += 1
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.For | cst.While):
            self.loops -= 1
        elif isinstance(original_node, _COMPREHENSIONS):
            self.scopes -= 1
        super().on_leave(original_node)

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Subscript | cst.Attribute):
            self._change(target.value, "it stores into an object (an attribute or an item)")
            return
        if not _plain_target(target):
            self.fail("it stores into an object (an attribute or an item)")
        self.written.update(dict.fromkeys(target_names(target)))

    def _change(self, obj: cst.BaseExpression, why: str) -> None:
        """``obj`` (``status`` of ``status.append(...)``, ``out[k] = v``) changes in place: a
        local of its own may, as the block's output; anything else may not."""
        if isinstance(obj, cst.Name) and obj.value in self.local_names \
                and obj.value != self.self_name:
            self.changed.setdefault(obj.value, None)
        else:
            self.fail(why)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._bind(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> bool:
        item = node.item
        if not isinstance(item, cst.Call) or item in self.sites or item in self.effects:
            self.fail("it enters a context manager that is not a call staying in the plan's "
                      "locals (a lock, a file, a function emberjit does not follow)")
        self.walk(item)
        if node.asname is not None:
            self._bind(node.asname.name)
        return False

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> bool:
        if node.type is not None:
            self.walk(node.type)
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self.except_names.add(node.name.name.value)  # unbound again after the handler
        self.walk(node.body)
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        site = self.sites.get(node)
        if site is not None:
            if site.kind == HELPER and self.helpers is not None and self.self_name:
                callees = _helper_callees(self.helpers.get(site.target), self.self_name)
                if isinstance(callees, str):
                    self.fail(f"it calls {site.callee}(), which {callees}")
                self.callees += callees
            elif site.kind != OPERATOR:
                self.fail(f"it calls {site.callee}(), a sub-plan")
            elif node in self.excluded:
                self.fail(f"its call of {site.callee}() starts before its loop")
            if self.loops or self.scopes:
                self.spread = True  # one call per element: they start together
            if site.kind == HELPER:
                self.helper_calls.append(site.callee)
            self.calls.append(node)
            return True
        if node in self.effects:
            self.fail(self.effects[node])
        elif changes_receiver(node, self.local_names, self.self_name):
            func = cst.ensure_type(node.func, cst.Attribute)
            self._change(func.value, f"it calls .{func.attr.value}(), which may change what "
                                     "it is called on")
        return True


def _helper_callees(helper: Skeleton | None, self_name: str) -> list[str] | str:
    """The operators a helper method of self calls (``self.llm``), when the helper may run
    inside a block's task as written: it stays local as a block must (a ``return`` aside) and
    calls only operators held by self; else why not."""
    if helper is None or not helper.is_method or not helper.params:
        return "is a sub-plan emberjit does not run inside a block"
    own = helper.params[0]
    local_names = set(helper.params) | {n for s in helper.all_statements() for n in s.writes}
    unit = BlockScan(helper.sites, helper.effects, local_names, own, (), returns=True)
    unit.walk(helper.node.body)
    if unit.why:
        return unit.why.removeprefix("it ")
    code = cst.Module(body=[]).code_for_node
    callees = []
    for call in unit.calls:
        func: cst.BaseExpression = call.func
        while isinstance(func, cst.Attribute):
            func = func.value
        if not isinstance(func, cst.Name) or func.value != own:
            return "calls an operator it was given"
        callees.append(self_name + code(call.func)[len(own):])
    return callees


def _plain_target(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Name):
        return True
    if isinstance(target, cst.Tuple | cst.List):
        return all(_plain_target(e.value) for e in target.elements)
    return isinstance(target, cst.StarredElement) and _plain_target(target.value)


class Calls(Visitor):
    """The operator call sites in a statement in the order they run, and those not inside
    another one's inputs."""

    def __init__(self, sites: Mapping[cst.Call, CallSite]) -> None:
        super().__init__()
        self.sites, self.depth = sites, 0
        self.found: list[cst.Call] = []
        self.outer: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if node in self.sites:
            if not self.depth:
                self.outer.append(node)
            self.depth += 1

    def leave_Call(self, original_node: cst.Call) -> None:
        if original_node in self.sites:  # after its inputs: in the order they run
            self.found.append(original_node)
            self.depth -= 1


def chain(body: Sequence[cst.BaseStatement],
           sites: Mapping[cst.Call, CallSite]) -> dict[cst.Call, str] | None:
    """For each call of the block's body after the first, what it waits for; None when the
    body's calls do not form a chain (two of them do not depend on each other)."""
    derived: dict[str, int] = {}  # name -> the line of the call its value came from
    notes: dict[cst.Call, str] = {}
    last = 0
    for stmt in body:
        calls = Calls(sites)
        calls.walk(stmt)
        names = set(reads(stmt))
        sources = sorted({derived[n] for n in names if n in derived})
        if len(calls.outer) > 1 or (calls.found and last and not sources):
            return None
        for call in calls.found:
            if last:
                notes[call] = f"runs after the block's call on line {last} returned"
            last = sites[call].line
        if calls.found or sources:
            unit = BlockScan(sites, {}, (), None, ())
            unit.walk(stmt)
            derived.update(dict.fromkeys(unit.written, last))
    return notes


def callees_unknown(unit: BlockScan, state: State, local_names: Collection[str]) -> str:
    """Why a call's callee is not a name, or an attribute of one, bound before the block
    (the run evaluates them where the block starts, to know whether each is pure); "" if
    each is."""
    for call in unit.calls:
        func: cst.BaseExpression = call.func
        while isinstance(func, cst.Attribute):
            func = func.value
        if not isinstance(func, cst.Name) or not bound_before(func.value, unit.written,
                                                              local_names, state):
            return "a callee of it is not a name or attribute bound before it"
    return ""


def bound_before(name: str, written: Collection[str], local_names: Collection[str],
                 state: State) -> bool:
    """Whether ``name`` refers, where the block starts, to what it refers to inside it: not
    bound by the block, and a local surely bound before it (or not a local: a global)."""
    return name not in written and (name not in local_names or name in state.bound)
