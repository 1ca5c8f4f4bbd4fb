"""The ledger of call sites: what the plan does with every call of ``forward``, and why.

Codegen reports each call site it rewrites (whether its result is needed at once, which pending
values it reads, whether its statement waits for every earlier call and why); this module turns
those facts into one line per site for ``explain_jit_selection``:

``concurrent``
    started as soon as it is reached; nothing but its own inputs ahead of it.
``dependent``
    it waits on a value from an earlier call (a true data dependency, named with its line), or
    the plan's control flow needs its result at once (an ``if`` or ``while`` on it).
``held back``
    it waits for more than its data: its statement runs after every earlier call returned (code
    emberjit does not follow, a mutation of an object a running call was given, a method of
    ``self`` without source), it is inside a ``try``/``with`` block that waits for every
    earlier call (one that runs as a task of its own does not: :mod:`.blocks`), its loop
    waits for every earlier call somewhere in its body (so its iterations run one after
    another), or its result is used at once by code that runs in program order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import libcst as cst
import networkx as nx

from ..analysis.skeleton import CallSite

__all__ = ["HELD", "Entry", "SiteReport", "critical_paths", "site_reports", "summary"]

CONCURRENT, DEPENDENT, HELD = "concurrent", "dependent", "held back"


@dataclasses.dataclass(frozen=True)
class SiteReport:
    """One call site of the plan and what the plan does with it."""

    line: int
    callee: str
    status: str  # CONCURRENT | DEPENDENT | HELD
    detail: str = ""

    def __str__(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"line {self.line} {self.callee}(...): {self.status}{detail}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """What codegen knew when it rewrote one call site."""

    call: cst.Call
    at_once: bool  # its result is used at once on the plan's thread
    reads: tuple[str, ...]  # pending values its arguments read
    origin: Mapping[str, int]  # pending value -> the line that produced it
    held: str = ""  # why its statement waits for every earlier call, if it does
    guard: int = 0  # the line of the enclosing try/with block, if any
    control: int = 0  # the line of the if/while whose test it is in, if any
    early: int = 0  # the line of the loop it was started before, if it was
    loops: tuple[int, ...] = ()  # the lines of the loops it is in, outermost first
    after: tuple[int, ...] = ()  # started early once the calls on these lines returned
    #: the line of the try/with block it is in, when that block runs as one task
    #: (:mod:`.blocks`), and what it waits for inside the block ("" when it is the first call)
    block: int = 0
    in_block: str = ""


def _report(site: CallSite, entry: Entry, loop_barriers: Mapping[int, int]) -> SiteReport:
    line = site.line
    if entry.early and entry.after:
        lines = ", ".join(str(n) for n in entry.after)
        return SiteReport(line, site.callee, DEPENDENT,
                          f"each iteration's call starts when its call on line {lines} returns, "
                          f"before the loop at line {entry.early} reaches it")
    if entry.early:
        return SiteReport(line, site.callee, CONCURRENT,
                          f"every iteration's call starts before the loop at line {entry.early}")
    if entry.block:
        return _in_block(site, entry)
    waiting = [loop for loop in entry.loops if loop in loop_barriers]
    if waiting and not entry.guard:
        loop = waiting[0]
        return SiteReport(line, site.callee, HELD, (
            f"the loop at line {loop} runs its iterations one after another: line "
            f"{loop_barriers[loop]} in it waits for every earlier call"))
    if entry.guard:
        return SiteReport(line, site.callee, HELD, f"inside the try/with block at line "
                          f"{entry.guard}: its calls finish before the block ends, as eagerly")
    if entry.held:
        return SiteReport(line, site.callee, HELD, entry.held)
    if entry.control:
        return SiteReport(line, site.callee, DEPENDENT,
                          f"line {entry.control} branches on its result")
    if entry.reads:
        values = ", ".join(f"{v} (line {entry.origin[v]})" if v in entry.origin else v
                           for v in entry.reads)
        return SiteReport(line, site.callee, DEPENDENT, f"waits on {values}")
    if entry.at_once:
        return SiteReport(line, site.callee, HELD,
                          "its result is used at once by code that runs in program order")
    return SiteReport(line, site.callee, CONCURRENT)


def _in_block(site: CallSite, entry: Entry) -> SiteReport:
    """A call of a ``try``/``with`` block that runs as one task beside independent work."""
    unit = f"the block at line {entry.block} runs as one task beside independent work"
    if entry.in_block:
        return SiteReport(site.line, site.callee, DEPENDENT, f"{entry.in_block} ({unit})")
    if entry.reads:
        values = ", ".join(f"{v} (line {entry.origin[v]})" if v in entry.origin else v
                           for v in entry.reads)
        return SiteReport(site.line, site.callee, DEPENDENT, f"waits on {values} ({unit})")
    return SiteReport(site.line, site.callee, CONCURRENT, unit)


def site_reports(sites: Mapping[cst.Call, CallSite], entries: Iterable[Entry],
                 loop_barriers: Mapping[int, int] | None = None) -> tuple[SiteReport, ...]:
    """One report per call site, in source order; a site codegen rewrote several times (a
    loop's body is written twice) keeps its last entry. ``loop_barriers``: loop line -> a
    line in its body that waits for every earlier call (so its iterations do not overlap)."""
    last: dict[cst.Call, Entry] = {}
    for entry in entries:
        last[entry.call] = entry
    barriers = loop_barriers or {}
    reports = [_report(site, last[call], barriers) if call in last else
               SiteReport(site.line, site.callee, HELD, "not reached by the plan's rewrite")
               for call, site in sites.items()]
    return tuple(sorted(reports, key=lambda r: r.line))


def critical_paths(graph: nx.DiGraph, held_lines: Collection[int],
                   helpers: Mapping[str, int] | None = None,
                   barrier_lines: Collection[int] = ()) -> tuple[int, int]:
    """(the plan's critical path, the dataflow ideal), in calls, over one function's steps:
    the ideal follows data edges and the control edges of the ``if``/``for`` a step is in; the
    plan also makes a held-back step wait for every call step before it, and every step after
    a barrier line wait for every step before it. ``helpers``: the critical path of each
    helper or function a step calls (1 when not given)."""
    helpers = helpers or {}
    steps = sorted(graph.nodes(data=True), key=lambda n: n[1]["line"])
    preds = {n: [a for a, _, d in graph.in_edges(n, data=True)
                 if d.get("kind") == "control" or (d.get("kind") == "data"
                                                   and not d.get("carried"))]
             for n, _ in steps}
    ideal: dict[str, int] = {}
    plan: dict[str, int] = {}
    floor = 0  # what a run.barrier() made every later step wait for
    for name, info in steps:  # source order is a topological order of these edges
        own = _own_calls(info, helpers)
        ideal[name] = own + max((ideal[p] for p in preds[name] if p in ideal), default=0)
        before = [floor, *(plan[p] for p in preds[name] if p in plan)]
        if info["line"] in barrier_lines:
            floor = max(floor, *plan.values()) if plan else floor
            before.append(floor)
        if own and info["line"] in held_lines:
            before += list(plan.values())
        plan[name] = own + max(before)
    return max(plan.values(), default=0), max(ideal.values(), default=0)


def _own_calls(info: Mapping[str, Any], helpers: Mapping[str, int]) -> int:
    """The calls one step makes one after another: 1 for an operator call, a helper's own
    critical path for a helper call."""
    if info["kind"] not in ("call", "fanout", "helper"):
        return 0
    via = max((helpers.get(t, 1) for t in info["targets"] if t in helpers), default=0)
    return max(via + int(info["kind"] != "helper"), 1)


def summary(reports: Iterable[SiteReport], graph: nx.DiGraph | None = None,
            held_lines: Collection[int] = (), helpers: Mapping[str, int] | None = None,
            barrier_lines: Collection[int] = (), serial_loops: Collection[int] = ()) -> str:
    """``5 call sites: 3 concurrent, 1 dependent, 1 held back; critical path 3 calls (dataflow
    ideal 2)``: the paths over ``graph`` (forward's steps), ``held_lines`` its held-back lines;
    ``serial_loops``: loops whose iterations run one after another (the paths count a loop's
    body once, so the summary says so)."""
    reports = list(reports)
    counts = {s: sum(1 for r in reports if r.status == s) for s in (CONCURRENT, DEPENDENT, HELD)}
    text = (f"{len(reports)} call site{'s' * (len(reports) != 1)}: "
            f"{counts[CONCURRENT]} concurrent, {counts[DEPENDENT]} dependent, "
            f"{counts[HELD]} held back")
    if graph is not None:
        plan, ideal = critical_paths(graph, held_lines, helpers, barrier_lines)
        text += f"; critical path {plan} call{'s' * (plan != 1)} (dataflow ideal {ideal})"
    if serial_loops:
        lines, many = ", ".join(str(n) for n in sorted(serial_loops)), len(serial_loops) > 1
        text += (f"; the loop{'s' * many} at line{'s' * many} {lines} run{'' if many else 's'} "
                 "its iterations one after another, each counted once in these paths")
    return text
