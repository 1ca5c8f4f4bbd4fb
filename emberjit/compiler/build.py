"""The structural compiler: source -> Skeleton -> graph -> plan source -> compiled Plan.

``compile_structural(target)`` runs nothing of ``forward``: it reads the source, looks at the
instance (or the class), and writes the plan. Helper methods of ``self`` that ``forward`` calls
are compiled in turn into functions of the same plan module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
from collections.abc import Collection
from typing import Any

import libcst as cst

from ..analysis import (
    OperatorEnv,
    Skeleton,
    build_skeleton,
    env_for_class,
    env_for_function,
    env_for_instance,
    find_forward,
    function_source,
)
from ..analysis.bindings import target_root
from ..analysis.env import OP
from ..leaves import is_leaf
from ..operator import Operator
from .artifact import PlanCode, steps_of
from .assumptions import Assumption, Assumptions, header
from .codegen import PlanWriter
from .ledger import HELD, SiteReport, critical_paths, site_reports, summary
from .merge import build_graph, has_concurrency
from .plan import Plan, link
from .signature import free_name, plan_function_name, super_class_name

__all__ = ["Enhancement", "analyze", "compile_structural"]


@dataclasses.dataclass(frozen=True)
class Enhancement:
    """What a trace adds to a structural plan (enhanced mode; see :mod:`.enhanced`)."""

    dynamic: frozenset[cst.CSTNode]  # open call sites the trace saw calling an operator
    length_guards: tuple[tuple[str, int], ...]  # (collection attribute, size the trace saw)
    inline: frozenset[int]  # ids of operators measured cheap
    notes: tuple[str, ...]  # what explain and the plan header say about all this
    concurrent: bool = False  # the trace saw a resolved site called repeatedly, or two of them


def analyze(target: Any, dynamic: Collection[cst.CSTNode] = ()
            ) -> tuple[list[Skeleton], OperatorEnv]:
    """The skeletons of ``forward`` (first) and of the helper methods it reaches. ``dynamic``:
    call nodes to compile as operator calls with an open callee (enhanced mode)."""
    done = {"forward"}
    if isinstance(target, types.FunctionType):
        env = env_for_function(target)
        first = build_skeleton(function_source(target), env, is_method=False, dynamic=dynamic)
        done.add(f"{target.__module__}.{target.__qualname__}")
    else:
        env = env_for_instance(target) if isinstance(target, Operator) else env_for_class(target)
        first = build_skeleton(find_forward(target), env, dynamic=dynamic)
    skeletons = [first]
    functions = dict(first.functions)
    queue = list(first.helpers)
    while queue:
        name = queue.pop(0)
        if name in done:
            continue
        done.add(name)
        fn = functions.get(name)
        if fn is not None:  # a function of the user's: its own globals, no self
            helper = build_skeleton(function_source(fn), env_for_function(fn), is_method=False,
                                    dynamic=dynamic, helper=True)
        else:
            helper = build_skeleton(function_source(env.helpers[name], target), env,
                                    dynamic=dynamic, helper=True)
        skeletons.append(dataclasses.replace(helper, key=name))
        functions.update(helper.functions)
        queue.extend(helper.helpers)
    return skeletons, env


#: the references of names emberjit itself provides (see :mod:`.assumptions`)
_EMBERJIT = {"Operator": "emberjit:Operator", "_is_leaf": "emberjit:is_leaf"}


def _assumptions(target: Any, env: OperatorEnv, skeletons: list[Skeleton],
                 lengths: tuple[tuple[str, int], ...] = ()) -> Assumptions:
    """What the plan of ``skeletons`` assumes: the code it was compiled from, the operators it
    calls, the context managers it left unordered, the fan-out sizes a trace saw."""
    main = skeletons[0]
    items = [Assumption(f"source of {main.qualname} sha256 {main.source_sha256[:16]}")]
    prelude: tuple[str, ...]
    if isinstance(target, types.FunctionType):
        items.append(Assumption.holds(  # a closure's function: no global name to look up
            "_function.__code__ is _code_0", f"{target.__name__}.__code__ is the code compiled",
            {"_code_0": "function.code", "_function": "function"},
            _code_0=target.__code__, _function=target))
        used = {c.target for c in main.call_sites() if c.kind == "operator"}
        items += [Assumption.holds(f"isinstance({n}, Operator)", f"{n} is an Operator",
                                   _EMBERJIT, Operator=Operator)
                  for n in sorted(used & env.global_ops - env.leaves)]
        params, prelude = "", ()
    else:
        items += _method_assumptions(env, skeletons)
        called = sorted({target_root(c.target) for sk in skeletons for c in sk.call_sites()
                         if c.kind == "operator" and not c.dynamic
                         and env.attrs.get(target_root(c.target)) == OP})
        items += [Assumption.holds(f"isinstance(self.__dict__.get({a!r}), Operator)",
                                   f"self.{a} is an Operator", _EMBERJIT, Operator=Operator)
                  if a not in env.leaves else
                  Assumption.holds(f"_is_leaf(self.__dict__.get({a!r}))", f"self.{a} is a leaf",
                                   _EMBERJIT, _is_leaf=is_leaf)
                  for a in called]
        params, prelude = "self", ("    cls = type(self)",)
    items += _context_assumptions(skeletons)
    items += [Assumption(f"len(self.{attr}) == {n} (the fan-out size the trace saw)", (
        f"    if len(self.{attr}) != {n}:",
        f"        return f'len(self.{attr}) is {{len(self.{attr})}}, the trace saw {n}: "
        "re-specialized'")) for attr, n in lengths]  # enhanced: fan-outs of the traced size
    shape = () if isinstance(target, types.FunctionType) else tuple(sorted(env.attrs.items()))
    return Assumptions(tuple(items), params, prelude, _classes_for_super(skeletons), shape)


def _method_assumptions(env: OperatorEnv, skeletons: list[Skeleton]) -> list[Assumption]:
    """forward, each helper method and each function of the user's is the code compiled."""
    items = []
    for i, sk in enumerate(skeletons):
        if sk.key not in env.helpers and i:  # a function of the user's
            fn = _function_of(skeletons, sk.key)
            items.append(Assumption.holds(f"_fn_{i}.__code__ is _code_{i}",
                                          f"{sk.qualname}.__code__ is the code compiled",
                                          **{f"_fn_{i}": fn, f"_code_{i}": fn.__code__}))
            items += [Assumption.holds(f"getattr(cls, {name!r}, None) is _fn_{i}",
                                       f"type(self).{name} is the static method compiled")
                      for name, static in env.statics.items() if static is fn]
            continue
        # forward is watched under the name calls use, whatever the function is called
        method = "forward" if i == 0 else sk.key
        fn = _plain(sk.function) if sk.function is not None else env.helpers[method]
        items.append(Assumption.holds(f"getattr(cls.{method}, '__code__', None) is _code_{i}",
                                      f"type(self).{method} is {sk.qualname} as compiled",
                                      {f"_code_{i}": f"code:{method}"},
                                      **{f"_code_{i}": fn.__code__}))
    return items


def _classes_for_super(skeletons: list[Skeleton]) -> dict[str, type]:
    """The class each method using ``super()`` was defined in, from its ``__class__`` cell
    (see :class:`~emberjit.compiler.signature.ExplicitSuper`)."""
    out: dict[str, type] = {}
    for sk in skeletons:
        if not sk.is_method or sk.function is None:
            continue
        fn = _plain(sk.function)
        names = fn.__code__.co_freevars
        if "__class__" in names and fn.__closure__:
            cell = fn.__closure__[names.index("__class__")]
            out[super_class_name(sk.qualname)] = cell.cell_contents
    return out


def _context_assumptions(skeletons: list[Skeleton]) -> list[Assumption]:
    """Each ``with`` block's context manager left unordered (it only sets context variables)
    still runs the generator compiled."""
    return [Assumption.holds(
        f"getattr(getattr({callee}, '__wrapped__', None), '__code__', None) is _context_{i}",
        f"{callee} is the context manager compiled", **{f"_context_{i}": code})
        for i, (callee, code) in enumerate(dict.fromkeys(
            g for sk in skeletons for g in sk.context_guards))]


def _site_lines(writers: list[PlanWriter], graph: Any) -> tuple[str, ...]:
    """explain's call sites: one line per site (a helper's named as such), then the summary
    with the critical paths over ``graph`` (forward's steps, a helper's call counting its own
    critical path)."""
    reports: list[SiteReport] = []
    lines: list[str] = []
    held: dict[str, list[int]] = {}
    for i, writer in enumerate(writers):
        own = site_reports({c: s for c, s in writer.sk.sites.items() if s.kind != "opaque"},
                           writer.entries, writer.loop_barriers)
        reports += own
        lines += [str(r) if i == 0 else f"{r} (in {writer.sk.qualname})" for r in own]
        held[writer.sk.key] = [r.line for r in own if r.status == HELD]
    helpers: dict[str, int] = {}
    graphs = {w.sk.key: build_graph(w.sk) for w in writers[1:]}
    barriers = {w.sk.key: w.barrier_lines for w in writers}
    for _ in range(3):  # helpers calling helpers (a recursive one counts a few levels)
        helpers = {key: critical_paths(g, held[key], helpers, barriers[key])[0]
                   for key, g in graphs.items()}
    main = writers[0].sk.key
    first = writers[0]
    serial = {loop for e in first.entries if not e.early for loop in e.loops
              if loop in first.loop_barriers}
    return (*lines, summary(reports, graph, held[main], helpers, barriers[main], serial))


def _plain(fn: types.FunctionType | types.MethodType) -> types.FunctionType:
    """The function itself, for a bound method."""
    inner = fn.__func__ if isinstance(fn, types.MethodType) else fn
    assert isinstance(inner, types.FunctionType)
    return inner


def _function_of(skeletons: list[Skeleton], key: str) -> types.FunctionType:
    """The function object behind the helper skeleton ``key`` (a function of the user's)."""
    return next(sk.functions[key] for sk in skeletons if key in sk.functions)


def _homes(skeletons: list[Skeleton], env: OperatorEnv,
           main_globals: Any) -> tuple[tuple[str, str], ...]:
    """(plan function, module) of every helper defined outside forward's module."""
    out = []
    for sk in skeletons[1:]:
        original = env.helpers.get(sk.key) or _function_of(skeletons, sk.key)
        if original.__globals__ is not main_globals:
            out.append((plan_function_name(sk.qualname), original.__module__))
    return tuple(out)


def _defining_class(cls: type, name: str, fn: types.FunctionType) -> type:
    for klass in cls.__mro__:
        if klass.__dict__.get(name) is fn:
            return klass
    return cls


def compile_structural(target: Any, enhance: Enhancement | None = None) -> tuple[Plan, Any]:
    """Compile ``target`` (operator instance, operator class, or function) structurally.

    Returns the plan and its guard function (``guard(self) -> bool``, or ``guard() -> bool``
    for functions). ``enhance`` (enhanced mode): what a trace added (open call sites resolved,
    fan-out size guards, operators run inline).
    """
    skeletons, env = analyze(target, enhance.dynamic if enhance else ())
    main = skeletons[0]
    is_function = isinstance(target, types.FunctionType)
    run = free_name("run", "\n".join(sk.source_text for sk in skeletons))
    helper_names = {sk.key: plan_function_name(sk.qualname) for sk in skeletons[1:]}
    helpers = {sk.key: sk for sk in skeletons[1:]}
    writers = [PlanWriter(sk, run, helper_names, main=i == 0, helpers=helpers)
               for i, sk in enumerate(skeletons)]
    functions = [writer.function() for writer in writers]
    name = plan_function_name(main.qualname)
    assumed = _assumptions(target, env, skeletons, enhance.length_guards if enhance else ())
    graph = build_graph(main)
    concurrent = has_concurrency(graph) or bool(enhance and enhance.concurrent)
    explanations = tuple(main.barriers) + tuple(b for sk in skeletons[1:] for b in sk.barriers)
    explanations += tuple(dict.fromkeys(n for writer in writers for n in writer.notes))
    mode = "enhanced" if enhance else "structural"
    notes = enhance.notes if enhance else ()
    lines = header(f"emberjit plan for {main.qualname} ({main.location}), mode={mode}",
                   [f"source sha256 {main.source_sha256}",
                    f"concurrent calls: {'yes' if concurrent else 'no'}"], assumed, notes)
    body = cst.Module(body=functions).code
    source = "\n".join(lines) + "\n" + body.rstrip() + "\n\n\n" + assumed.guard_source(
        f"{name}__guard")
    globals_ = (target if is_function or main.function is None
                else _plain(main.function)).__globals__
    closure = {}
    if is_function and target.__closure__:
        closure = dict(zip(target.__code__.co_freevars, target.__closure__, strict=True))
    steps, edges = steps_of(graph)
    code = PlanCode(
        qualname=main.qualname, mode=mode, source=source, function_name=name,
        guard_name=f"{name}__guard", binds=assumed.binds,
        guards=assumed.readable, steps=steps, edges=edges, concurrent=concurrent,
        location=main.location, source_sha256=hashlib.sha256(
            "".join(sk.source_sha256 for sk in skeletons).encode()).hexdigest(),
        explanations=explanations + notes, sites=_site_lines(writers, graph),
        homes=_homes(skeletons, env, globals_), shape=assumed.shape)
    plan = link(code, main.qualname, globals_, closure=closure, constants=assumed.constants,
                inline=enhance.inline if enhance else frozenset(),
                origins={sk.display_path: sk.filename for sk in skeletons})
    return plan, plan.guard
