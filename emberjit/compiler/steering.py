"""Which numbers and flags of a dict input a trace plan must guard by value, and why.

A trace plan replays one traced path. A number or flag in the input (an ``int``, ``float``,
``bool`` or ``None`` at a key) can choose that path: a loop count, a branch. Guarding every
such value re-traces on every new value, so a plan made from a trace guards one only when:

1. forward's bytecode (:mod:`emberjit.compiler.bytecode_flow`, which needs no source) shows
   that its value may reach something whose outcome it can change: a branch, a loop, a
   comparison, an index, a computation, a call of anything but a pure operator, an operator
   call whose exception may be caught (a call's result carries the keys of its input, so a
   branch on a result counts too), or a place the analysis does not follow (the whole input
   passed to a helper, ``**inputs``, an opcode it does not know: then every number and flag is
   guarded, as before); or
2. the plan's arguments and forward disagree on where it goes. The recorder finds arguments
   by identity, and small ints are shared objects: a ``4`` written in forward is
   ``inputs["x"]`` to the recorder when ``x`` is 4, and a flag (``True``) is always replayed
   as the traced constant. So wherever the plan reads ``inputs[k]``, forward must pass exactly
   ``inputs[k]`` (no other value on any path), and wherever forward passes ``inputs[k]``, the
   plan must read it; else ``k`` is guarded.

Any other number is only passed along: one plan serves every value of it.
"""

from __future__ import annotations

from typing import Any

from ..tracing.trace import Source, Trace
from .bytecode_flow import follow
from .flowvalues import BUILT, KEY, SEQ, Value, elem, maybe_keys

__all__ = ["guarded_inputs", "is_number"]


def is_number(value: Any) -> bool:
    """A value that may steer a path: a number or a flag."""
    return isinstance(value, bool | int | float) or value is None


def guarded_inputs(owner: Any, trace: Trace, sample: dict[Any, Any]) -> dict[Any, str]:
    """The keys of ``sample`` whose values the plan of ``trace`` must equal, each with why (in
    the input's order); numbers and flags not listed are only passed along."""
    numbers = frozenset(k for k, v in sample.items() if is_number(v))
    if not numbers:
        return {}
    flow = follow(owner, frozenset(sample))
    if flow.unknown is not None:
        return {k: f"{flow.unknown}: every number and flag is guarded" for k in sample
                if k in numbers}
    why = {k: flow.sinks[k] for k in numbers if k in flow.sinks}
    for call in trace.top_level():
        found = flow.sites.get(call.site) if call.site is not None else None
        where = f"at line {call.site[1]}" if call.site is not None else "in a call"
        _compare(call.source, found, numbers, why, where)
    _compare(trace.output, flow.returned, numbers, why, "in forward's result")
    return {k: why[k] for k in sample if k in why}


def _compare(src: Source, value: Value | None, numbers: frozenset[Any], why: dict[Any, str],
             where: str) -> None:
    """Hold the plan's ``src`` to what forward passes there (``value``; None: not found)."""
    if src.kind == "build":
        for key, item in src.items:
            _compare(item, _child(value, key), numbers, why, where)
        return
    read = src.path[0] if src.kind == "input" and len(src.path) == 1 else None
    if read in numbers and not (value is not None and value.kind == KEY and value.data == read):
        why.setdefault(read, "the plan would pass it " + (
            f"{where}, where forward passes another value the recorder cannot tell from it "
            "(the same object: a small int or a constant, say)" if value is not None else
            f"{where}, which the analysis did not find in forward's code"))
    for key in _keys_in(value) & numbers:
        if key != read:
            why.setdefault(key, f"the plan would replay its traced value {where} (the "
                                "recorder rebuilds a flag, None or a shared object as the "
                                "traced one)")


def _child(value: Value | None, key: Any) -> Value | None:
    if value is None:
        return None
    if value.kind == BUILT:
        return dict(value.items).get(key)
    if value.kind == SEQ:
        return elem(value)
    return None


def _keys_in(value: Value | None) -> frozenset[Any]:
    """The keys whose value may be ``value`` or an item inside it."""
    if value is None:
        return frozenset()
    found = maybe_keys(value)
    if value.kind in (BUILT, SEQ):
        for item in value.children():
            found |= _keys_in(item)
    return found
