"""Where the values of a dict input's keys go in ``forward``, read from its bytecode alone (no
source needed, nothing run): the driver of the steering analysis
(:mod:`emberjit.compiler.steering`).

:func:`follow` interprets forward's code objects (and the comprehensions, lambdas and inner
functions it makes and calls) over :class:`~emberjit.compiler.flowvalues.Value`\\ s: a forward
data flow of the stack and the locals to a fixed point at every instruction, the cells that
nested code shares joined over every store. Each opcode's effect lives in
:mod:`emberjit.compiler.flow_ops`. A value reaching anything but a local, a container built in
forward, a pure operator's input (outside ``try`` and ``with``) or forward's result is a
*sink*: its keys may steer the run (:attr:`Flow.sinks`, each with why and the line); an
operator's result carries the keys of its input. Whatever the analysis does not follow (an
unknown opcode, recursion, too many steps, another Python's bytecode) is :attr:`Flow.unknown`,
and then every key may steer.
"""

from __future__ import annotations

import builtins
import dataclasses
import dis
import inspect
import sys
import types
from typing import Any

from .flow_ops import HANDLERS
from .flowvalues import (
    BUILT,
    INPUTS,
    KEY,
    METHOD,
    OBJ,
    RESULT,
    SELF,
    SEQ,
    UNBOUND,
    Value,
    funcs_in,
    join,
    other,
)

__all__ = ["Flow", "follow"]

_STEPS = 50_000  # instructions interpreted, all code objects together
_NESTING = 8  # calls of functions defined in forward inside one another
_ROUNDS = 8  # re-runs until the cells nested code shares are stable
_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
_LAZY = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
Site = tuple[str, int, int, int, int]


@dataclasses.dataclass
class Frame:
    """The stack and locals at one instruction (``kwnames``: KW_NAMES for the next CALL)."""

    stack: list[Value]
    local: dict[str, Value]
    kwnames: tuple[str, ...] = ()

    def copy(self) -> Frame:
        return Frame(list(self.stack), dict(self.local), self.kwnames)

    def push(self, *values: Value) -> None:
        self.stack.extend(values)

    def pop(self) -> Value:
        return self.stack.pop()

    def popn(self, n: int) -> list[Value]:
        """The top ``n`` values, deepest first."""
        if n == 0:
            return []
        values = self.stack[-n:]
        del self.stack[-n:]
        return values


def _join_frames(a: Frame, b: Frame) -> Frame | None:
    if len(a.stack) != len(b.stack):
        return None
    local = dict(a.local)
    for name, value in b.local.items():
        local[name] = join(local[name], value) if name in local else value
    return Frame([join(x, y) for x, y in zip(a.stack, b.stack, strict=True)], local,
                 a.kwnames or b.kwnames)


class Flow:
    """One analysis of ``owner``'s forward over a dict input with ``keys``."""

    def __init__(self, owner: Any, keys: frozenset[Any], globals_: dict[str, Any]) -> None:
        self.owner, self.keys, self.globals = owner, keys, globals_
        self.sinks: dict[Any, str] = {}  # key -> why it may steer ("it decides a branch at L")
        self.sites: dict[Site, Value] = {}  # a pure operator call's position -> its input
        self.returned: Value | None = None  # what forward returns
        self.unknown: str | None = None
        self.cells: dict[Any, Value] = {}
        self.dirty = False
        self.memo: dict[Any, Value] = {}
        self.active: list[Any] = []
        self.steps = 0

    # -- what the opcodes report --------------------------------------------------------------

    def give_up(self, why: str, ins: dis.Instruction | None = None) -> None:
        if self.unknown is None:
            self.unknown = why + (f" at line {_line(ins)}" if ins is not None else "")

    def sink(self, value: Value, what: str, ins: dis.Instruction) -> None:
        """``value`` reaches code whose outcome may depend on it: each of its keys may steer."""
        for func in funcs_in(value):
            self.escape(func)
        whole = value.kind == INPUTS or (value.kind == METHOD
                                         and any(v.kind == INPUTS for v in value.children()))
        whose = ("it" if value.kind == KEY else "the whole input" if whole
                 else "a value made from it")
        for key in value.taint:
            self.sinks.setdefault(key, f"{whose} {what} at line {_line(ins)}")

    def hand_over(self, value: Value, ins: dis.Instruction, where: str) -> None:
        """``value`` becomes an operator's input or forward's result, which a trace plan
        rebuilds from the input and earlier results by identity: what it cannot rebuild from
        the new input (a value computed from a key) is a sink."""
        if value.kind in (KEY, INPUTS, RESULT, OBJ, SELF) or not value.taint:
            for func in funcs_in(value):
                self.escape(func)
        elif value.kind in (BUILT, SEQ):
            for item in value.children():
                self.hand_over(item, ins, where)
        else:
            self.sink(value, f"is computed into {where}", ins)

    def record_site(self, code: types.CodeType, ins: dis.Instruction, value: Value) -> None:
        pos = ins.positions
        if pos is None or None in pos:
            return
        assert pos.lineno is not None and pos.end_lineno is not None
        assert pos.col_offset is not None and pos.end_col_offset is not None
        site = (code.co_filename, pos.lineno, pos.end_lineno, pos.col_offset, pos.end_col_offset)
        self.sites[site] = join(self.sites[site], value) if site in self.sites else value

    def store_cell(self, ref: Any, value: Value) -> None:
        old = self.cells.get(ref)
        new = value if old is None else join(old, value)
        if new != old:
            self.cells[ref], self.dirty = new, True

    # -- functions defined in forward ---------------------------------------------------------

    def call_function(self, func: Value, args: list[Value], kwnames: tuple[str, ...],
                      ins: dis.Instruction, in_try: bool) -> Value:
        code, refs = func.data
        if kwnames or code.co_flags & _VARIADIC or code.co_kwonlyargcount \
                or len(args) != code.co_argcount:
            for arg in args:
                self.sink(arg, f"is passed to {func.label}() in a way this analysis does not "
                               "bind", ins)
            return self.escape(func)
        return self._run(code, refs, tuple(args), ins, in_try)

    def escape(self, func: Value) -> Value:
        """``func`` may be called by code the analysis does not follow, with anything."""
        code, refs = func.data
        count = (code.co_argcount + code.co_kwonlyargcount
                 + bool(code.co_flags & inspect.CO_VARARGS)
                 + bool(code.co_flags & inspect.CO_VARKEYWORDS))
        return self._run(code, refs, (self.anything(),) * count, None, True)

    def anything(self) -> Value:
        return other(Value(INPUTS, self.keys))

    def _run(self, code: types.CodeType, refs: tuple[Any, ...], args: tuple[Value, ...],
             ins: dis.Instruction | None, in_try: bool) -> Value:
        """What ``code`` returns when called with ``args`` (``in_try``: where an exception it
        raises may be caught; a generator runs wherever it is consumed, so it may be)."""
        in_try = in_try or bool(code.co_flags & _LAZY)
        key = (code, refs, args, in_try)
        if key in self.memo:
            return self.memo[key]
        if key in self.active or len(self.active) >= _NESTING:
            self.give_up(f"{code.co_name} calls itself or nests too deep", ins)
            return self.anything()
        self.active.append(key)
        params = dict(zip(code.co_varnames, args, strict=False))
        free = dict(zip(code.co_freevars, refs, strict=True))
        result = CodeRun(self, code, params, free, in_try=in_try).run()
        self.active.pop()
        if code.co_flags & _LAZY:  # a generator: what it yields, when something iterates it
            result = other(result)
        self.memo[key] = result
        return result

    def global_value(self, name: str) -> Value:
        obj = self.globals.get(name, getattr(builtins, name, None))
        return Value("global", data=name, obj=obj, label=name)


def _line(ins: dis.Instruction | None) -> str:
    line = None if ins is None or ins.positions is None else ins.positions.lineno
    return "?" if line is None else str(line)


class CodeRun:
    """One code object interpreted to a fixed point (see the module docstring)."""

    def __init__(self, flow: Flow, code: types.CodeType, params: dict[str, Value],
                 free: dict[str, Any], root: bool = False, in_try: bool = False) -> None:
        self.flow, self.code, self.params, self.free, self.root = flow, code, params, free, root
        self.in_try = in_try
        self.handlers = HANDLERS
        self.instructions = list(dis.get_instructions(code))
        self.at = {ins.offset: i for i, ins in enumerate(self.instructions)}
        self.handlers_of: list[Any] = getattr(dis.Bytecode(code), "exception_entries", [])
        self.result: Value | None = None

    def cellref(self, name: str) -> Any:
        return self.free.get(name, (self.code, name))

    def in_handled(self, ins: dis.Instruction) -> bool:
        """An exception ``ins`` raises may be caught (a ``try`` or ``with`` block, here or
        around the call of this code): then whether it raises may change the path."""
        return self.in_try or any(e.start <= ins.offset < e.end for e in self.handlers_of)

    def after(self, ins: dis.Instruction) -> int:
        return self.instructions[self.at[ins.offset] + 1].offset

    def returned(self, value: Value, ins: dis.Instruction) -> None:
        if self.root:
            self.flow.hand_over(value, ins, "forward's result")
            flow = self.flow
            flow.returned = value if flow.returned is None else join(flow.returned, value)
        self.result = value if self.result is None else join(self.result, value)

    def run(self) -> Value:
        """The join of what the code returns (and yields)."""
        flow = self.flow
        states = {self.instructions[0].offset: Frame([], dict(self.params))}
        work = [self.instructions[0].offset]
        while work and flow.unknown is None:
            offset = work.pop()
            flow.steps += 1
            if flow.steps > _STEPS:
                flow.give_up(f"forward's bytecode takes more than {_STEPS} steps to follow")
                break
            ins = self.instructions[self.at[offset]]
            frame = states[offset].copy()
            for target, handler_frame in self._exception_handlers(offset, frame):
                self._merge(states, work, target, handler_frame, ins)
            for target, out in self._step(ins, frame):
                self._merge(states, work, target, out, ins)
        return self.result or Value(UNBOUND)

    def _step(self, ins: dis.Instruction, frame: Frame) -> list[tuple[int, Frame]]:
        handler = self.handlers.get(ins.opname)
        if handler is None:
            self.flow.give_up(f"forward's bytecode has {ins.opname}, which this analysis "
                              "does not follow,", ins)
            return []
        out = handler(self, ins, frame)
        return [(self.after(ins), frame)] if out is None else out

    def _exception_handlers(self, offset: int, frame: Frame) -> list[tuple[int, Frame]]:
        found = []
        for entry in self.handlers_of:
            if entry.start <= offset < entry.end:
                stack = frame.stack[:entry.depth] + [other()] * (1 + entry.lasti)
                found.append((entry.target, Frame(stack, dict(frame.local))))
        return found

    def _merge(self, states: dict[int, Frame], work: list[int], target: int, frame: Frame,
               ins: dis.Instruction) -> None:
        old = states.get(target)
        new = frame if old is None else _join_frames(old, frame)
        if new is None:
            self.flow.give_up("the stack differs between two paths", ins)
        elif new != old:
            states[target] = new
            if target not in work:
                work.append(target)


def forward_code(owner: Any) -> tuple[types.FunctionType | None, str | None]:
    """``type(owner).forward`` as a plain function, or None and why not."""
    forward = inspect.getattr_static(type(owner), "forward", None)
    if not isinstance(forward, types.FunctionType):
        return None, "forward is not a plain function"
    if "forward" in getattr(owner, "__dict__", {}):
        return None, "the instance has a forward of its own"
    return forward, None


def follow(owner: Any, keys: frozenset[Any]) -> Flow:
    """Interpret ``owner``'s forward on a dict input with ``keys`` (see the module docstring)."""
    forward, why = forward_code(owner)
    flow = Flow(owner, keys, forward.__globals__ if forward is not None else {})
    if sys.version_info[:2] != (3, 11):
        flow.give_up(f"this analysis reads Python 3.11's bytecode, not "
                     f"{sys.version_info[0]}.{sys.version_info[1]}'s")
    param = _inputs_parameter(owner, forward) if forward is not None else None
    if forward is None or param is None:
        flow.give_up(why or "forward's input is not one parameter")
    if flow.unknown is not None or forward is None or param is None:
        return flow
    code = forward.__code__
    params = {code.co_varnames[0]: Value(SELF, label="self"),
              param: Value(INPUTS, keys, label="inputs")}
    for _ in range(_ROUNDS):
        flow.dirty, flow.memo = False, {}
        CodeRun(flow, code, params, {}, root=True).run()
        if not flow.dirty or flow.unknown is not None:
            return flow
    flow.give_up("the values forward's nested functions share do not settle")
    return flow


def _inputs_parameter(owner: Any, forward: types.FunctionType) -> str | None:
    """The parameter the one input binds to (``forward(self, inputs)`` or ``*, inputs``)."""
    from ..inputs import KEYWORD, POSITIONAL
    code = forward.__code__
    style = getattr(owner, "_forward_style", None)
    if style == POSITIONAL and code.co_argcount >= 2:
        return code.co_varnames[1]
    kwonly = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    if style == KEYWORD and code.co_argcount >= 1 and "inputs" in kwonly:
        return "inputs"
    return None
