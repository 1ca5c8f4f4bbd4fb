"""What the Python 3.11 opcodes of containers, subscripts, loops, branches and plain computing
do in the steering analysis (:mod:`emberjit.compiler.bytecode_flow`).

A handler takes the run, the instruction and the frame (changed in place) and returns None to
fall through, or the successors it jumps to (``[]``: none). Every value a branch, a loop, an
index, a comparison or a computation reads is a *sink*: its keys may steer the run. Containers
built in forward keep their items (a dict by constant key) while only the stack holds them
(displays and comprehensions); a container changed any other way is a sink with what goes in.
"""

from __future__ import annotations

import dis
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .flowvalues import (
    BUILT,
    CONST,
    INPUTS,
    ITER,
    KEY,
    OBJ,
    RESULT,
    SEQ,
    UNBOUND,
    Value,
    built,
    elem,
    join,
    other,
    seq,
)

if TYPE_CHECKING:
    from .bytecode_flow import CodeRun, Frame

__all__ = ["HANDLERS", "Successors", "arg", "const_key", "handles"]

Successors = list[tuple[int, "Frame"]] | None
Handler = Callable[["CodeRun", dis.Instruction, "Frame"], Successors]
HANDLERS: dict[str, Handler] = {}
_ITEMS = 256  # a held container with more items than this is iterated as OTHER


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler
    return register


def arg(ins: dis.Instruction) -> int:
    """The instruction's argument (0 for an opcode that takes none)."""
    return ins.arg or 0


def const_key(value: Value) -> Any:
    """The constant a dict may be keyed by (str or int, not bool), else None."""
    key = value.obj if value.kind == CONST else None
    return key if isinstance(key, str | int) and not isinstance(key, bool) else None


def _held(obj: Any, label: str) -> Value:
    return Value(OBJ, data=id(obj), obj=obj, label=label)


def _all_held(container: Any, label: str) -> Value:
    """Any one item of a list, tuple or dict the operator holds."""
    if type(container) not in (list, tuple, dict) or not 0 < len(container) <= _ITEMS:
        return other()
    values = container.values() if type(container) is dict else container
    found: Value | None = None
    for item in values:
        found = _held(item, f"{label}[...]") if found is None else join(found, _held(item, ""))
    assert found is not None
    return found


# -- subscripts ----------------------------------------------------------------------------------

@handles("BINARY_SUBSCR")
def _subscript(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    container, key = f.popn(2)
    run.flow.sink(key, "is an index or a slice bound", ins)
    f.push(_item(run, ins, container, key))
    return None


def _item(run: CodeRun, ins: dis.Instruction, container: Value, key: Value) -> Value:
    k = const_key(key)
    if container.kind == INPUTS:
        if k is None:
            run.flow.sink(container, "is read with a key only known at run time", ins)
            return run.flow.anything()
        return Value(KEY, frozenset([k]), k, label=f"inputs[{k!r}]")
    if container.kind == BUILT and k is not None:
        if container.data != "dict" and isinstance(k, int) and -len(container.items) <= k < 0:
            k += len(container.items)
        found: Value | None = dict(container.items).get(k)
        if found is not None:
            return found
    if container.kind in (BUILT, SEQ):
        return elem(container) or Value(UNBOUND)
    if container.kind == RESULT:
        return Value(RESULT, container.taint | key.taint)
    if container.kind == OBJ and type(container.obj) in (list, tuple, dict):
        obj = container.obj
        if key.kind == CONST and not isinstance(key.obj, slice):
            try:
                return _held(obj[key.obj], f"{container.label}[{key.obj!r}]")
            except (IndexError, KeyError, TypeError):
                return other()
        return _all_held(obj, container.label)
    return other(container, key)


# -- containers built in forward -----------------------------------------------------------------

@handles("BUILD_TUPLE", "BUILD_LIST")
def _build_sequence(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    items = tuple(enumerate(f.popn(arg(ins))))
    if ins.opname == "BUILD_TUPLE":
        f.push(built("tuple", items))
    else:
        f.push(built("list", items, (run.code, ins.offset)))
    return None


@handles("BUILD_MAP")
def _build_map(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    flat = f.popn(2 * arg(ins))
    f.push(_dict(run, ins, flat[0::2], flat[1::2]))
    return None


@handles("BUILD_CONST_KEY_MAP")
def _build_const_key_map(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    keys = f.pop().obj
    values = f.popn(arg(ins))
    consts = [Value(CONST, data=(type(k), k), obj=k) for k in keys]
    f.push(_dict(run, ins, consts, values))
    return None


def _dict(run: CodeRun, ins: dis.Instruction, keys: list[Value], values: list[Value]) -> Value:
    consts = [const_key(k) for k in keys]
    if None in consts or len(set(consts)) != len(consts):  # a plan writes keys as constants
        for key in keys:
            run.flow.sink(key, "is a dict key", ins)
        return other(*keys, *values)
    return built("dict", tuple(zip(consts, values, strict=True)), (run.code, ins.offset))


@handles("BUILD_SET")
def _build_set(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(other(*f.popn(arg(ins))))
    return None


@handles("LIST_TO_TUPLE")
def _list_to_tuple(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    value = f.pop()
    f.push(Value(value.kind, value.taint, "tuple", value.items)
           if value.kind in (BUILT, SEQ) else value)
    return None


@handles("LIST_APPEND", "SET_ADD", "MAP_ADD", "LIST_EXTEND", "SET_UPDATE", "DICT_UPDATE",
         "DICT_MERGE")
def _add(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    """Items added to the container ``arg(ins)`` deep on the stack (a display or a
    comprehension being built, which nothing else holds yet)."""
    if ins.opname == "MAP_ADD":
        key, value = f.popn(2)
        run.flow.sink(key, "is a dict key", ins)
        added = [key, value]
    else:
        added = [_spread(run, ins, f.pop())] if ins.opname.endswith(("EXTEND", "UPDATE",
                                                                     "MERGE")) else [f.pop()]
    target = f.stack[-arg(ins)]
    if target.kind not in (BUILT, SEQ):  # a set: only its taint is known
        f.stack[-arg(ins)] = other(target, *added)
        return None
    if _elsewhere(f, arg(ins)):
        for value in (target, *added):
            run.flow.sink(value, "is put in a container", ins)
        f.stack[-arg(ins)] = other(target, *added)
        return None
    old = elem(target)
    new = added[-1] if old is None else join(old, added[-1])
    f.stack[-arg(ins)] = seq(target.data, new, target.alloc)
    return None


def _spread(run: CodeRun, ins: dis.Instruction, value: Value) -> Value:
    """What one item of ``value`` spread into a container may be."""
    if value.kind in (BUILT, SEQ):
        return elem(value) or Value(UNBOUND)
    if value.kind == CONST and isinstance(value.obj, tuple | frozenset):
        return other()
    run.flow.sink(value, "is spread with * or **", ins)
    return other(value)


def _elsewhere(f: Frame, depth: int) -> bool:
    """The container ``depth`` deep is also in a local or elsewhere on the stack."""
    alloc = f.stack[-depth].alloc
    if alloc is None:
        return True
    others = [*f.local.values(), *f.stack[:-depth], *f.stack[len(f.stack) - depth + 1:]]
    return any(_holds(v, alloc) for v in others)


def _holds(value: Value, alloc: Any) -> bool:
    return value.alloc == alloc or any(_holds(item, alloc) for item in value.children())


@handles("UNPACK_SEQUENCE")
def _unpack(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    value, n = f.pop(), arg(ins)
    if value.kind == BUILT and len(value.items) == n:
        f.push(*reversed([item for _, item in value.items]))
        return None
    if value.kind == SEQ:
        f.push(*[elem(value) or other()] * n)
        return None
    run.flow.sink(value, "is unpacked (how many items it has decides whether it raises)", ins)
    f.push(*[other(value)] * n)
    return None


# -- loops and branches --------------------------------------------------------------------------

@handles("GET_ITER")
def _get_iter(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    value = f.pop()
    if value.kind == OBJ:
        item = _all_held(value.obj, value.label) if type(value.obj) in (list, tuple) else other()
    elif value.kind in (BUILT, SEQ, ITER):
        item = elem(value) or Value(UNBOUND)
    else:
        run.flow.sink(value, "decides a loop count (it is iterated)", ins)
        item = other(value)
    f.push(Value(ITER, item.taint, items=((None, item),)))
    return None


@handles("FOR_ITER")
def _for_iter(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    done = f.copy()
    done.pop()
    iterator = f.stack[-1]
    if iterator.kind != ITER:
        run.flow.sink(iterator, "decides a loop count (it is iterated)", ins)
    f.push(iterator.items[0][1] if iterator.kind == ITER else other(iterator))
    return [(run.after(ins), f), (ins.argval, done)]


@handles("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
def _jump(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    return [(ins.argval, f)]


@handles("POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_FORWARD_IF_NONE",
         "POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_FALSE",
         "POP_JUMP_BACKWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_NONE",
         "POP_JUMP_BACKWARD_IF_NOT_NONE")
def _pop_jump(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    run.flow.sink(f.pop(), "decides a branch", ins)
    return [(run.after(ins), f), (ins.argval, f.copy())]


@handles("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP")
def _jump_or_pop(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    run.flow.sink(f.stack[-1], "decides a branch", ins)
    taken = f.copy()
    f.pop()
    return [(run.after(ins), f), (ins.argval, taken)]


@handles("CONTAINS_OP")
def _contains(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    needle, container = f.popn(2)
    if container.kind == INPUTS:  # which keys the input has is guarded
        run.flow.sink(needle, "is compared", ins)
        f.push(other(needle))
        return None
    return _compute(run, ins, f, [needle, container], 1, "is compared")


# -- plain computing -----------------------------------------------------------------------------

#: opcode -> (values read, of which popped, values pushed, what it does with what it reads);
#: a count of -1 is the instruction's argument
GENERIC: dict[str, tuple[int, int, int, str]] = {
    "UNARY_POSITIVE": (1, 1, 1, "is computed on"), "UNARY_NEGATIVE": (1, 1, 1, "is computed on"),
    "UNARY_NOT": (1, 1, 1, "is negated"), "UNARY_INVERT": (1, 1, 1, "is computed on"),
    "BINARY_OP": (2, 2, 1, "is computed on"), "COMPARE_OP": (2, 2, 1, "is compared"),
    "IS_OP": (2, 2, 1, "is compared"), "BUILD_STRING": (-1, -1, 1, "is formatted"),
    "BUILD_SLICE": (-1, -1, 1, "is an index or a slice bound"),
    "STORE_SUBSCR": (3, 3, 0, "is stored in a container"),
    "DELETE_SUBSCR": (2, 2, 0, "is deleted from a container"),
    "STORE_ATTR": (2, 2, 0, "is stored outside forward"),
    "STORE_GLOBAL": (1, 1, 0, "is stored outside forward"),
    "DELETE_ATTR": (1, 1, 0, "loses an attribute"), "GET_LEN": (1, 0, 1, "is matched"),
    "MATCH_MAPPING": (1, 0, 1, "is matched"), "MATCH_SEQUENCE": (1, 0, 1, "is matched"),
    "MATCH_KEYS": (2, 0, 1, "is matched"), "MATCH_CLASS": (3, 3, 1, "is matched"),
    "CHECK_EXC_MATCH": (1, 1, 1, "is matched"), "CHECK_EG_MATCH": (2, 2, 2, "is matched"),
    "IMPORT_NAME": (2, 2, 1, "is imported"), "IMPORT_FROM": (1, 0, 1, "is imported"),
    "GET_YIELD_FROM_ITER": (1, 1, 1, "decides a loop count (it is iterated)"),
    "UNPACK_EX": (1, 1, -2, "is unpacked"),
}


def _generic(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    reads, pops, pushes, what = GENERIC[ins.opname]
    if ins.opname == "FORMAT_VALUE":
        reads = pops = 2 if arg(ins) & 4 else 1
    reads, pops = (arg(ins) if n == -1 else n for n in (reads, pops))
    if pushes == -2:  # UNPACK_EX: before + 1 + after
        pushes = (arg(ins) & 0xFF) + (arg(ins) >> 8) + 1
    read = f.stack[len(f.stack) - reads:] if reads else []
    if pops:
        f.popn(pops)
    return _compute(run, ins, f, read, pushes, what)


def _compute(run: CodeRun, ins: dis.Instruction, f: Frame, read: list[Value], pushes: int,
             what: str) -> Successors:
    for value in read:
        run.flow.sink(value, what + (f" ({ins.argrepr})" if ins.opname == "BINARY_OP" else ""),
                      ins)
    f.push(*[other(*read)] * pushes)
    return None


GENERIC["FORMAT_VALUE"] = (1, 1, 1, "is formatted")
for _name in GENERIC:
    HANDLERS[_name] = _generic
