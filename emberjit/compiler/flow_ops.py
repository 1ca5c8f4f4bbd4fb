"""What the Python 3.11 opcodes that move values (the stack, locals, cells, attributes,
calls, functions, returns and exceptions) do in the steering analysis; the opcodes of
containers, loops and branches are in :mod:`emberjit.compiler.flow_containers`, which also says
what a handler is. :data:`HANDLERS` holds both; an opcode in neither makes the analysis give up.
"""

from __future__ import annotations

import dataclasses
import dis
import inspect
import types
from typing import TYPE_CHECKING, Any

from .flow_containers import HANDLERS, Successors, arg, const_key, handles
from .flowvalues import (
    BUILT,
    CELL,
    CONST,
    FUNC,
    GLOBAL,
    INPUTS,
    KEY,
    METHOD,
    NULL,
    OBJ,
    OTHER,
    RESULT,
    SELF,
    UNBOUND,
    Value,
    is_operator_value,
    join,
    other,
)

if TYPE_CHECKING:
    from .bytecode_flow import CodeRun, Frame

__all__ = ["HANDLERS"]


# -- the stack and the locals --------------------------------------------------------------------

@handles("NOP", "RESUME", "PRECALL", "EXTENDED_ARG", "CACHE", "COPY_FREE_VARS", "DELETE_DEREF",
         "DELETE_GLOBAL")
def _nothing(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    return None


@handles("POP_TOP", "POP_EXCEPT")
def _pop(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.pop()
    return None


@handles("PUSH_NULL")
def _push_null(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(Value(NULL))
    return None


@handles("COPY")
def _copy(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(f.stack[-arg(ins)])
    return None


@handles("SWAP")
def _swap(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    s, i = f.stack, arg(ins)
    s[-1], s[-i] = s[-i], s[-1]
    return None


@handles("KW_NAMES")
def _kw_names(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.kwnames = tuple(run.code.co_consts[arg(ins)])
    return None


@handles("LOAD_CONST")
def _load_const(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    v = ins.argval
    f.push(Value(CONST, data=(type(v), v), obj=v, label=repr(v)[:30]))
    return None


@handles("LOAD_FAST")
def _load_fast(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(f.local.get(ins.argval, Value(UNBOUND)))
    return None


@handles("STORE_FAST")
def _store_fast(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    value = f.pop()
    f.local[ins.argval] = value if value.label else dataclasses.replace(value, label=ins.argval)
    return None


@handles("DELETE_FAST")
def _delete_fast(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.local.pop(ins.argval, None)
    return None


@handles("MAKE_CELL")
def _make_cell(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    value = f.local.pop(ins.argval, None)
    if value is not None:
        run.flow.store_cell(run.cellref(ins.argval), value)
    return None


@handles("LOAD_CLOSURE")
def _load_closure(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(Value(CELL, data=run.cellref(ins.argval)))
    return None


@handles("LOAD_DEREF")
def _load_deref(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(run.flow.cells.get(run.cellref(ins.argval), Value(UNBOUND)))
    return None


@handles("STORE_DEREF")
def _store_deref(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    run.flow.store_cell(run.cellref(ins.argval), f.pop())
    return None


@handles("LOAD_GLOBAL")
def _load_global(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    if arg(ins) & 1:
        f.push(Value(NULL))
    f.push(run.flow.global_value(ins.argval))
    return None


# -- attributes and calls ------------------------------------------------------------------------

def resolve_attribute(obj: Any, name: str, label: str) -> Value:
    """``obj.name`` found without running code: an object it holds, a method, or OTHER."""
    found = inspect.getattr_static(obj, name, _MISSING)
    where = f"{label}.{name}"
    if found is _MISSING:
        return Value(OTHER, label=where)
    if name in getattr(obj, "__dict__", {}):
        return Value(OBJ, data=id(found), obj=found, label=where)
    if isinstance(found, types.FunctionType):
        return Value("method", label=where)
    if hasattr(type(found), "__get__"):  # a property or another descriptor: code would run
        return Value(OTHER, label=where)
    return Value(OBJ, data=id(found), obj=found, label=where)


_MISSING = object()


def _attribute(run: CodeRun, receiver: Value, name: str) -> Value:
    if receiver.kind == SELF:
        return resolve_attribute(run.flow.owner, name, "self")
    if receiver.kind == OBJ:
        return resolve_attribute(receiver.obj, name, receiver.label)
    return Value(METHOD, receiver.taint, name, ((None, receiver),),
                 label=f"{receiver.label or 'a value'}.{name}")


@handles("LOAD_ATTR")
def _load_attr(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(_attribute(run, f.pop(), ins.argval))
    return None


@handles("LOAD_METHOD")
def _load_method(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    receiver = f.pop()
    f.push(Value(NULL), _attribute(run, receiver, ins.argval))
    return None


@handles("CALL")
def _call(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    kwnames, f.kwnames = f.kwnames, ()
    head, callee, *args = f.popn(arg(ins) + 2)
    if head.kind != NULL:  # a method found by LOAD_METHOD: (method, self, args...)
        callee, args = head, [callee, *args]
    f.push(_call_value(run, ins, callee, args, kwnames))
    return None


def _call_value(run: CodeRun, ins: dis.Instruction, callee: Value, args: list[Value],
                kwnames: tuple[str, ...]) -> Value:
    flow = run.flow
    if callee.kind == FUNC:
        return flow.call_function(callee, args, kwnames, ins, run.in_handled(ins))
    if callee.kind == METHOD and callee.data == "get" and callee.items[0][1].kind == INPUTS:
        return _input_get(run, ins, args)
    if is_operator_value(callee) and len(args) == 1 and kwnames in ((), ("inputs",)):
        if run.in_handled(ins):  # whether the call raises may decide what runs next
            flow.sink(args[0], f"goes to {callee.label} where its exception may be caught "
                               "(try, with or a generator)", ins)
        flow.hand_over(args[0], ins, f"the input of {callee.label}")
        flow.record_site(run.code, ins, args[0])
        return Value(RESULT, args[0].taint)
    counts = callee.kind == GLOBAL and callee.obj is range
    what = "decides a loop count (range())" if counts else \
        f"is passed to {callee.label or 'a callable'}(), code the plan does not replay"
    for value in (callee, *args):
        flow.sink(value, what, ins)
    return other(callee, *args)


def _input_get(run: CodeRun, ins: dis.Instruction, args: list[Value]) -> Value:
    """``inputs.get(key[, default])``: the input's keys are guarded, so a key it has is
    exactly its value, and a key it lacks is the default."""
    key = const_key(args[0]) if args else None
    if key is None or len(args) > 2:
        for value in (Value(INPUTS, run.flow.keys), *args):
            run.flow.sink(value, "is read with a key only known at run time", ins)
        return run.flow.anything()
    if key in run.flow.keys:
        return Value(KEY, frozenset([key]), key, label=f"inputs[{key!r}]")
    return args[1] if len(args) == 2 else Value(CONST, data=(type(None), None))


@handles("CALL_FUNCTION_EX")
def _call_ex(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    _, callee, *args = f.popn(4 if arg(ins) & 1 else 3)
    for value in (callee, *args):
        run.flow.sink(value, f"is passed with * or ** to {callee.label or 'a callable'}()", ins)
    f.push(other(callee, *args))
    return None


@handles("MAKE_FUNCTION")
def _make_function(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    code = f.pop().obj
    closure = f.pop() if arg(ins) & 8 else Value(BUILT, data="tuple")
    for bit in (4, 2, 1):  # annotations, keyword defaults, defaults
        if arg(ins) & bit:
            run.flow.sink(f.pop(), "is a default of a function defined in forward", ins)
    if any(cell.kind != CELL for cell in closure.children()):
        run.flow.give_up("a closure this analysis cannot read", ins)
        return []
    refs = tuple(cell.data for cell in closure.children())
    f.push(Value(FUNC, data=(code, refs), label=f"{code.co_name} (defined in forward)"))
    return None


@handles("RETURN_VALUE")
def _return(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    run.returned(f.pop(), ins)
    return []


@handles("YIELD_VALUE")
def _yield(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    value = f.pop()
    run.result = value if run.result is None else join(run.result, value)
    f.push(other())  # what the consumer sends in
    return None


@handles("RETURN_GENERATOR", "LOAD_ASSERTION_ERROR", "WITH_EXCEPT_START")
def _push_other(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    f.push(other())
    return None


@handles("RAISE_VARARGS")
def _raise(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    for value in f.popn(arg(ins)):
        run.flow.sink(value, "is raised", ins)
    return []


@handles("RERAISE")
def _reraise(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    return []


@handles("PUSH_EXC_INFO")
def _push_exc_info(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    exc = f.pop()
    f.push(other(), exc)
    return None


@handles("BEFORE_WITH")
def _before_with(run: CodeRun, ins: dis.Instruction, f: Frame) -> Successors:
    manager = f.pop()
    run.flow.sink(manager, "is a context manager", ins)
    f.push(other(manager), other(manager))
    return None
