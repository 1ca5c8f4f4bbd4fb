"""Choosing how to run an operator: the mode decision and its reasons.

``decide`` returns a :class:`Specialization`: a plan (with its guard) or "eager", with the mode
and the reasons, which ``explain_jit_selection`` prints.
"""

from __future__ import annotations

import types
import weakref
from typing import TYPE_CHECKING, Any

from ..errors import EmberJitError, JitFallbackError, StructuralAnalysisError, operator_name
from ..operator import holds_operators
from .specialization import Specialization

if TYPE_CHECKING:
    from .state import JitConfig

__all__ = ["decide", "is_leaf", "reaches_operators"]

_leaves: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()


def decide(owner: Any, config: JitConfig) -> Specialization:
    """The specialization for ``owner`` under ``config`` (compiles when a plan is chosen)."""
    from ..compiler import analyze, compile_structural  # libcst only when compiling

    mode = config.mode
    if mode == "enhanced" and not config.child:
        analyze(owner)  # no source: StructuralAnalysisError, as in structural mode
        return _trace(owner, config, ["enhanced: requested; the structural plan, with what one "
                                      "traced run shows (open call sites, fan-out sizes, cheap "
                                      "calls)"], enhanced=True)
    if not config.child and (mode == "trace" or config.force_trace
                             or config.sample_input is not None):
        asked = [f"mode={mode!r}", *(["force_trace"] if config.force_trace else []),
                 *(["sample_input"] if config.sample_input is not None else [])]
        return _trace(owner, config, [f"trace: requested ({', '.join(asked)}); replays the "
                                      "traced path, like torch.jit.trace"])
    if mode == "auto" or config.child:
        try:
            skeletons, _ = analyze(owner)
        except StructuralAnalysisError as exc:
            if config.child or not holds_operators(owner):
                return Specialization.eager(operator_name(owner), [
                    f"auto: no usable source, kept eager: {exc.reason}"], owner=owner)
            return _trace(owner, config, [
                f"auto: no usable source ({exc.reason}): trace mode, which replays the "
                "traced path"])
        from ..compiler.enhanced import leaves_open

        open_sites = [] if config.child else leaves_open(owner, skeletons)
        if open_sites:
            return _trace(owner, config, [
                "auto: the source leaves call sites open (" + "; ".join(open_sites[:3]) +
                "): enhanced mode, whose trace resolves those that call operators"],
                enhanced=True)
        if not reaches_operators(skeletons):
            return Specialization.eager(operator_name(owner), [
                "auto: a leaf (no operator calls in forward): jit would only add cost"],
                owner=owner)
    plan, guard = compile_structural(owner)
    held = [s for s in plan.sites if ": held back" in s]
    if config.strict and (plan.explanations or held):  # like torch.compile(fullgraph=True)
        raise JitFallbackError(
            f"{plan.qualname} ({plan.location}): strict=True, but lines stay sequential: "
            + "; ".join((*plan.explanations, *held)) + ". Move the calls out of these blocks, "
            "or drop strict=True")
    reasons = ["structural: the source resolves every operator call"
               if mode != "structural" else "structural: requested"]
    return Specialization("structural", plan, guard, tuple(reasons))


def _trace(owner: Any, config: JitConfig, reasons: list[str],
           enhanced: bool = False) -> Specialization:
    """Trace (or enhanced) mode: a specialization that learns from a traced run (now on
    ``sample_input``, else on the next call; :mod:`emberjit.jit.tracemodes`)."""
    mode = "enhanced" if enhanced else "trace"
    if isinstance(owner, types.FunctionType):
        fix = ("write it as a def and use mode='auto' or 'structural', which compile "
               "functions" if owner.__name__ == "<lambda>" else
               "use mode='auto' or 'structural', which compile functions")
        raise EmberJitError(
            f"jit({owner.__qualname__}, mode={mode!r}): {mode} mode takes operator instances "
            f"and classes; {fix} (or wrap it in an Operator subclass to trace it)")
    from .tracemodes import EnhancedLearner, Learner  # the compiler, only when tracing

    kind = EnhancedLearner if enhanced else Learner
    learner = kind(owner, config, tuple(reasons))
    if config.sample_input is not None:  # traced now, at decoration time
        return learner.learn(config.sample_input, None)[1]
    return learner.pending()


def is_leaf(op: Any) -> bool:
    """True when ``op``'s forward calls no operator (cached per class and forward code): such
    an operator is called directly, never through a plan."""
    from ..aot.load import aot_leaf

    cls = type(op)
    code = getattr(getattr(cls, "forward", None), "__code__", None)
    if _leaves.get(cls) is code:
        return True
    known = aot_leaf(cls)  # decided ahead of time (source hash checked), without libcst
    if known is not None:
        return known
    from ..compiler import analyze  # libcst only when analyzing

    try:
        skeletons, _ = analyze(op)
    except StructuralAnalysisError:
        return False
    if reaches_operators(skeletons):
        return False
    if not vars(op) or not any(isinstance(v, list | dict | tuple) for v in vars(op).values()):
        _leaves[cls] = code  # a leaf whatever its attributes hold
    return True


def reaches_operators(skeletons: list[Any]) -> bool:
    """Whether forward (or a helper or function it reaches) is worth a plan: it calls an
    operator, or makes leaf calls that may overlap (two or more, or one in a loop or a
    comprehension, counting the calls of the helpers it reaches: ``[self.llm(q) for _ in
    range(5)]``, ``[self.ask(q) for q in qs]``). A leaf's helpers that call nothing (string
    building, a counter), or one model request (``ModelCall``), leave it a leaf: it runs
    eagerly, as a leaf should."""
    by_key = {sk.key: sk for sk in skeletons}
    if any(c.kind == "operator" and not c.leaf for sk in skeletons for c in sk.call_sites()):
        return True
    return _leaf_calls(skeletons[0], by_key, set()) > 1


def _leaf_calls(sk: Any, by_key: dict[str, Any], seen: set[str]) -> int:
    """How many leaf calls one run of ``sk`` may make, counting 2 for "more than one"."""
    count = 0
    for site in sk.call_sites():
        if site.kind == "operator":
            calls = 1
        elif site.target in by_key and site.target not in seen:
            calls = _leaf_calls(by_key[site.target], by_key, seen | {sk.key})
        else:
            calls = 2 if site.target in seen else 0  # recursion: more than one
        if calls and (site.fanout is not None or _in_loop(sk, site)):
            calls = 2
        count += calls
    return min(count, 2)


def _in_loop(sk: Any, site: Any) -> bool:
    for stmt in sk.statements:
        for inner in stmt.walk():
            if inner.kind in ("for", "while") and any(site in s.calls for s in inner.walk()):
                return True
    return False
