"""The Skeleton of a function: its statements, their read and write sets, and its operator call
sites, found with libcst visitors and metadata (positions, scopes), never by running it.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

import libcst as cst

__all__ = ["FANOUT_KINDS", "CallSite", "Skeleton", "Statement"]

#: Call-site kinds: an operator call; a helper method of ``self`` analyzed in turn; a method of
#: ``self`` without source (a barrier); a function of the user's (module level, imported)
#: analyzed in turn, its plan called without ``self``.
OPERATOR, HELPER, OPAQUE, FUNCTION = "operator", "helper", "opaque", "function"
FANOUT_KINDS = ("comprehension", "for", "map")


@dataclasses.dataclass(frozen=True)
class CallSite:
    """One call in the source that the plan treats specially."""

    line: int
    kind: str  # OPERATOR | HELPER | OPAQUE
    callee: str  # the callee as written: "self.refiner", "m", "self.ops['judge']"
    target: str  # what it resolves to: "refiner", "members[*]", "ops['judge']", helper name
    fanout: str | None = None  # "comprehension over members", "for over members", None
    #: enhanced mode: the source leaves the callee open; the trace saw it call an operator
    dynamic: bool = False
    #: the callee is a leaf that is not an operator (a model, a marked function, a method of a
    #: leaf object): the plan calls it through ``run.leaf``
    leaf: bool = False

    def __str__(self) -> str:
        extra = f", fan-out: {self.fanout}" if self.fanout else ""
        return f"line {self.line}: {self.callee}(...) -> {self.kind} {self.target}{extra}"


@dataclasses.dataclass(frozen=True)
class Statement:
    """One statement of the function body (compound ones hold their blocks)."""

    line: int
    kind: str  # assign, expr, return, if, for, while, with, try, def, other
    text: str  # the statement's first line, as written
    reads: frozenset[str]
    writes: frozenset[str]
    calls: tuple[CallSite, ...]
    blocks: tuple[tuple[Statement, ...], ...] = ()
    note: str = ""  # why the statement is a barrier or kept sequential, if it is
    #: local containers it fills (``d[k] = v``, ``xs.append(v)``): their readers depend on it
    fills: frozenset[str] = frozenset()

    def walk(self) -> list[Statement]:
        out = [self]
        for block in self.blocks:
            for stmt in block:
                out.extend(stmt.walk())
        return out

    def __str__(self) -> str:
        calls = f"  calls: {', '.join(c.target for c in self.calls)}" if self.calls else ""
        return (f"{self.line:>5} {self.kind:<7} {self.text[:60]:<60} reads {sorted(self.reads)} "
                f"writes {sorted(self.writes)}{calls}")


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """What analysis knows of one function. ``node`` is the parsed function whose ``Call`` nodes
    key ``sites`` (by identity); codegen rewrites that node."""

    qualname: str
    filename: str
    display_path: str  # the file as shown in plans: relative to its import root
    first_line: int
    params: tuple[str, ...]
    statements: tuple[Statement, ...]
    node: cst.FunctionDef
    sites: Mapping[cst.Call, CallSite]
    source_sha256: str
    lines: Mapping[cst.CSTNode, int] = dataclasses.field(default_factory=dict)  # stmt -> line
    helpers: tuple[str, ...] = ()  # helper methods and functions called (analyzed in turn)
    #: the functions among ``helpers``: target -> the function object
    functions: Mapping[str, types.FunctionType] = dataclasses.field(default_factory=dict,
                                                                   repr=False)
    key: str = "forward"  # how callers name it: "forward", a method's name, a function target
    #: the function analyzed (what guards compare code with)
    function: types.FunctionType | types.MethodType | None = dataclasses.field(
        default=None, repr=False, compare=False)
    #: ``with`` blocks whose context managers only set context variables (they order nothing)
    contexts: frozenset[cst.With] = frozenset()
    #: (callee as written, code of its generator) of those blocks' managers: guarded
    context_guards: tuple[tuple[str, types.CodeType], ...] = ()
    barriers: tuple[str, ...] = ()  # explanations: lines kept sequential and why
    is_method: bool = True
    source_text: str = dataclasses.field(default="", repr=False)
    # simple statement node -> its Statement (codegen skips what has nothing to rewrite)
    statement_of: Mapping[cst.CSTNode, Statement] = dataclasses.field(default_factory=dict,
                                                                       repr=False)
    #: ordinary calls that may act beyond the plan's locals (see ``analysis.effects``) -> why:
    #: the plan runs them after every call started before them returned
    effects: Mapping[cst.Call, str] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def location(self) -> str:
        return f"{self.display_path}:{self.first_line}"

    def all_statements(self) -> list[Statement]:
        return [s for top in self.statements for s in top.walk()]

    def call_sites(self) -> list[CallSite]:
        return [c for s in self.all_statements() for c in s.calls]

    def __str__(self) -> str:
        lines = [f"Skeleton of {self.qualname} ({self.location})"]
        lines += [f"  {s}" for s in self.all_statements()]
        lines += [f"  barrier: {b}" for b in self.barriers]
        return "\n".join(lines)
