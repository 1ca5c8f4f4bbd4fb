"""``Plan``: a linked plan artifact: its :class:`~.artifact.PlanCode` (source, names it binds,
guards, steps) and the functions its source compiled to.

:func:`link` is the one link step every plan goes through (structural, trace and enhanced plans
as they are compiled, AOT plans as they are read): the source is compiled once and registered in
``linecache`` under a name like ``<emberjit-plan Pipeline.forward #3>``, so tracebacks, ``pdb``
and ``inspect.getsource`` show the generated lines. Plan functions see the defining module's
globals live (through :class:`PlanGlobals`), never a stale copy.
"""

from __future__ import annotations

import builtins
import dataclasses
import itertools
import linecache
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a graph is made: it costs ~90 ms, and AOT runs need none
    import networkx as nx

from .artifact import PlanCode, one_line
from .origins import compile_parts

__all__ = ["Plan", "PlanCode", "PlanGlobals", "compile_source", "link", "link_homes",
           "link_variant", "no_plan", "one_line"]

_counter = itertools.count(1)


class PlanGlobals(dict[str, Any]):
    """The plan's own names (plan functions, guard constants); everything else is looked up
    live in the defining module's globals, then in ``closure`` cells, then in builtins."""

    def __init__(self, module_globals: Mapping[str, Any],
                 closure: Mapping[str, Any] | None = None) -> None:
        super().__init__(__builtins__=builtins)
        # builtins the module does not shadow, held here so lookups skip __missing__
        self.update({k: v for k, v in vars(builtins).items()
                     if k not in module_globals and not k.startswith("_")})
        self._module = module_globals
        self._closure = dict(closure or {})

    def __missing__(self, key: str) -> Any:
        cell = self._closure.get(key)
        if cell is not None:
            return cell.cell_contents
        try:
            return self._module[key]
        except KeyError:
            raise KeyError(key) from None


def link_homes(namespace: PlanGlobals, homes: Sequence[tuple[str, str]],
               suffix: str = "") -> None:
    """Plan functions of helpers defined in another module (a base class's method, an imported
    function) run with that module's globals, as the originals do: ``homes`` pairs a plan
    function's name with its module's name. Each sees every plan function and constant."""
    spaces: list[PlanGlobals] = []
    for name, module in homes:
        old = namespace.get(name + suffix)
        home = sys.modules.get(module)
        if not isinstance(old, types.FunctionType) or home is None:
            continue
        own = PlanGlobals(vars(home))
        new = types.FunctionType(old.__code__, own, old.__name__, old.__defaults__,
                                 old.__closure__)
        new.__kwdefaults__ = old.__kwdefaults__
        namespace[name + suffix] = new
        spaces.append(own)
    for own in spaces:
        own.update({k: v for k, v in namespace.items() if k not in vars(builtins)})


def compile_source(source: str, label: str, namespace: PlanGlobals,
                   origins: Mapping[str, str] | None = None) -> str:
    """Compile and run ``source`` into ``namespace``; returns the linecache file name. With
    ``origins`` (the files its comments name), each plan function is compiled with the file and
    lines of the code it stands for (:mod:`.origins`)."""
    filename = f"<emberjit-plan {label} #{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    codes = compile_parts(source, filename, origins) if origins else [
        compile(source, filename, "exec")]
    for code in codes:
        exec(code, namespace)
    return filename


def link(code: PlanCode, label: str, module_globals: Mapping[str, Any], *,
         closure: Mapping[str, Any] | None = None, constants: Mapping[str, Any] | None = None,
         inline: frozenset[int] = frozenset(), origins: Mapping[str, str] | None = None) -> Plan:
    """The one link step: a plan artifact -> a :class:`Plan`. Names not defined by the plan or
    ``constants`` (the values of the names it binds: what its guard compares with) are the
    defining module's, seen live; ``closure`` holds a jitted closure's cells; helpers defined in
    other modules are relinked to theirs (:func:`link_homes`)."""
    given = dict(constants or {})
    missing = [name for name, _ in code.binds if name not in given]
    if missing:
        raise ValueError(f"linking the plan of {code.qualname} gave no value for the names it "
                         f"binds: {', '.join(missing)}")
    namespace = PlanGlobals(module_globals, closure)
    namespace.update(given)
    filename = compile_source(code.source, label, namespace, origins)
    link_homes(namespace, code.homes)
    return Plan(code=code, fn=namespace[code.function_name], guard=namespace[code.guard_name],
                filename=filename, inline=inline, origins=dict(origins or {}))


def no_plan(qualname: str, mode: str, location: str, reasons: Sequence[str]) -> Plan:
    """What ``.plan`` shows when there is no plan to run (an eager decision, or a trace not made
    yet): a source of comments that says why, no steps, no guards. Calling it is an error."""
    lines = [f"# emberjit: {one_line(qualname)} has no plan (mode={mode}): it runs as written",
             *(f"# {one_line(r)}" for r in reasons),
             "# explain_jit_selection(...) says more"]
    code = PlanCode(qualname=qualname, mode=mode, source="\n".join(lines) + "\n",
                    function_name="", guard_name="", binds=(), guards=(), steps=(), edges=(),
                    concurrent=False, location=location, source_sha256="",
                    explanations=tuple(reasons))

    def fn(*_: Any, **__: Any) -> Any:
        raise TypeError(f"{qualname} has no plan to call (mode={mode}); call the operator or "
                        "function itself")

    return Plan(code=code, fn=fn, guard=lambda *_: None, filename="")


def link_variant(plan: Plan, source: str, suffix: str, label: str) -> Any:
    """Link another form of ``plan`` (its async variant: the same functions, renamed with
    ``suffix``) into the plan's own namespace, where its constants and helpers are; returns the
    variant's entry function."""
    namespace = plan.fn.__globals__
    assert isinstance(namespace, PlanGlobals)
    compile_source(source, label, namespace, plan.origins)
    link_homes(namespace, plan.homes, suffix)
    return namespace[plan.function_name + suffix]


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """One linked plan. ``fn`` is the entry function, ``guard`` its guard; ``str(plan)`` is its
    source. What it reads about itself is its artifact's (``plan.code``)."""

    code: PlanCode
    fn: Callable[..., Any] = dataclasses.field(repr=False)
    guard: Callable[..., str | None] = dataclasses.field(repr=False)
    filename: str  # the linecache name of the generated source
    inline: frozenset[int] = frozenset()  # enhanced: ids of operators run inline (Run.inline)
    #: the files the source's comments name (path as shown -> file): its functions' frames
    #: show those files and lines (:mod:`.origins`)
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    #: forms of this plan made on first use, kept with it: the async variant
    #: (:func:`emberjit.compiler.async_plan.async_variant`)
    variants: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    # -- the artifact's fields, read through ----------------------------------------------------

    @property
    def qualname(self) -> str:
        return self.code.qualname

    @property
    def mode(self) -> str:
        return self.code.mode

    @property
    def source(self) -> str:
        return self.code.source

    @property
    def function_name(self) -> str:
        return self.code.function_name

    @property
    def guards(self) -> tuple[str, ...]:
        return self.code.guards

    @property
    def concurrent(self) -> bool:
        return self.code.concurrent

    @property
    def location(self) -> str:
        return self.code.location

    @property
    def source_sha256(self) -> str:
        return self.code.source_sha256

    @property
    def explanations(self) -> tuple[str, ...]:
        return self.code.explanations

    @property
    def sites(self) -> tuple[str, ...]:
        return self.code.sites

    @property
    def homes(self) -> tuple[tuple[str, str], ...]:
        return self.code.homes

    @property
    def graph(self) -> nx.DiGraph:
        """The steps as a networkx graph (derived from ``code.steps``)."""
        return self.code.graph

    def __str__(self) -> str:
        return self.code.source

    def __repr__(self) -> str:
        calls = sum(1 for s in self.code.steps if s.kind in ("call", "fanout"))
        return (f"<Plan {self.qualname} mode={self.mode} steps={len(self.code.steps)} "
                f"calls={calls} concurrent={self.concurrent}>")

    def table(self) -> str:
        """One row per step: name, kind, target, dependencies, group (like torch.fx's
        ``print_tabular``)."""
        return self.code.table()

    def to_mermaid(self) -> str:
        """The steps as a Mermaid flowchart (data edges solid, control edges dotted)."""
        return self.code.to_mermaid()

    def to_dot(self) -> str:
        """The steps in Graphviz DOT."""
        return self.code.to_dot()

    def with_notes(self, explanations: tuple[str, ...], sites: tuple[str, ...]) -> Plan:
        """The same plan, with what explain says of it replaced (the source is unchanged)."""
        code = dataclasses.replace(self.code, explanations=explanations, sites=sites)
        return dataclasses.replace(self, code=code, variants={})
