"""A ``try`` or ``with`` block whose calls start together, as one task with a run of its own.

``try: answers = [m(q) for m in self.members]; best = self.judge(answers) except ModelError:
best = None`` stays in the plan's locals, so it may run beside independent work (see
:mod:`.blocks`); but made one after another inside the task, as eager code makes them, its
calls would lose the concurrency they have as a waited-for block (:mod:`.guarded`). So the
task gets a run of its own (``run.fork()``): inside it the block is written as a waited-for
block is, with that run's barriers, which wait for the block's own calls only:

.. code-block:: python

    # app/vote.py:31  try:
    def _try_L31(block_run, self, q):
        try:
            answers = [block_run.submit(m, q) for m in self.members]
            best = block_run.call(self.judge, answers, answers)
            block_run.barrier()
        except ModelError:
            best = None
        return best
    best = run.fork_block(_try_L31, self, q, calls=(*self.members, self.judge,))

``calls=`` lists every operator the block may call (the members a comprehension calls, as
``*self.members``), so that an impure one orders the block as an impure call is ordered; a
block whose callees cannot be listed before it starts waits as before.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from ..analysis.walk import Visitor
from .blockscan import bound_before
from .guarded import guarded_body
from .signature import free_name
from .state import State
from .statements import target_names

if TYPE_CHECKING:
    from .codegen import PlanWriter

__all__ = ["forked_body", "spread_callees"]


def spread_callees(w: PlanWriter, stmt: cst.Try | cst.With, calls: Sequence[cst.Call],
                   written: Collection[str], state: State) -> list[str] | str:
    """What ``calls=`` lists for the block's calls (``self.judge``; ``*self.members`` for a
    loop variable over them), or why they cannot be listed before it starts."""
    loops = _LoopTargets()
    loops.walk(stmt)
    code = w.module.code_for_node
    out: list[str] = []
    for call in calls:
        func: cst.BaseExpression = call.func
        while isinstance(func, cst.Attribute):
            func = func.value
        if not isinstance(func, cst.Name):
            return "a callee of it is not a name or attribute"
        root = func.value
        if root not in loops.bound and bound_before(root, written, w.local_names, state):
            out.append(code(call.func))
            continue
        over = loops.over.get(root)
        if over is None or not _known(over, written, w.local_names, state):
            return f"its callee {code(call.func)} is not an operator known before it"
        out.append(over)
    return list(dict.fromkeys(out))


def _known(listed: str, written: Collection[str], local_names: Collection[str],
           state: State) -> bool:
    """Whether the collection ``listed`` (``*self.members``) reads a name bound before the
    block."""
    name = re.match(r"\*?(\w+)", listed)
    return name is not None and bound_before(name[1], written, local_names, state)


class _LoopTargets(Visitor):
    """Loop and comprehension variables bound to the elements of a collection written plainly:
    name -> ``*collection`` (``for m in self.members``), ``*d.values()`` (``for k, op in
    d.items()``), ``*xs`` (``for i, m in enumerate(xs)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.over: dict[str, str] = {}
        self.bound: set[str] = set()  # every loop and comprehension variable of the block
        self.module = cst.Module(body=[])

    def _bind(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        self.bound.update(target_names(target))
        code = self.module.code_for_node
        if isinstance(target, cst.Name) and _plain(iterable):
            self.over[target.value] = f"*{code(iterable)}"
            return
        names = target_names(target)
        if len(names) != 2 or not isinstance(iterable, cst.Call) or not iterable.args:
            return
        func, first = iterable.func, iterable.args[0].value
        if isinstance(func, cst.Attribute) and func.attr.value == "items" and _plain(func.value):
            self.over[names[1]] = f"*{code(func.value)}.values()"
        elif isinstance(func, cst.Name) and func.value == "enumerate" and _plain(first):
            self.over[names[1]] = f"*{code(first)}"

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind(node.target, node.iter)


def _plain(expr: cst.BaseExpression) -> bool:
    """A name or an attribute chain of one: reading it has no effect."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)


def forked_body(w: PlanWriter, stmt: cst.Try | cst.With, params: Sequence[str],
                state: State) -> tuple[str, list[cst.BaseStatement]]:
    """The name of the block's own run and the block written with it (its calls finish
    inside it, on that run); the ledger hears of its calls as the block's."""
    inner_run = free_name("block_run", w.sk.source_text)
    inner = State(set(), set(params), set())
    inner.aliases.immutable.update(state.aliases.immutable & set(params))
    saved, first = (w.run, w._current), len(w.entries)
    w.run, w.block_line = inner_run, w.line_of(stmt)
    try:
        body = guarded_body(w, stmt, inner)
    finally:
        (w.run, w._current), w.block_line = saved, 0
    # a call after the block's first ones waits for them inside the block, as eagerly
    lines = sorted({w.sites[e.call].line for e in w.entries[first:]})
    w.entries[first:] = [e if w.sites[e.call].line == lines[0] else dataclasses.replace(
        e, in_block=f"runs after the block's calls on line "
                    f"{max(n for n in lines if n < w.sites[e.call].line)} returned")
        for e in w.entries[first:]]
    return inner_run, body
