"""The signature of a plan function, and the names generated code may take.

A plan function takes the parameters of the ``forward``, helper or function it was written from,
and a keyword-only ``run``: the jit layer calls the plan of ``forward`` as ``fn(self, x, run=run)``
for ``op(x)`` and ``fn(self, *args, run=run, **kwargs)`` for ``op(question=q, context=c)``, so
every parameter binds as the original call binds it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import libcst as cst

from ..analysis.skeleton import Skeleton
from .statements import StripAnnotations

__all__ = ["ExplicitSuper", "free_name", "plan_function", "plan_function_name",
           "plan_parameters", "super_class_name"]


def plan_function_name(qualname: str) -> str:
    """``Pipeline.forward`` -> ``Pipeline__forward``; a function ``f`` -> ``f__plan``."""
    parts = [_identifier(p) for p in qualname.split(".") if p != "<locals>"]
    if len(parts) == 1:
        return f"{parts[0]}__plan"
    return "_".join(parts[:-1]) + "__" + parts[-1]


def _identifier(text: str) -> str:
    """``text`` made safe to stand in generated code as (part of) a name."""
    clean = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return clean if clean.isidentifier() else f"_{clean}"


def free_name(wanted: str, text: str) -> str:
    """``wanted``, or with underscores added, so that it names nothing in ``text``."""
    taken = _words(text)
    while wanted in taken:
        wanted += "_"
    return wanted


@functools.lru_cache(maxsize=16)
def _words(text: str) -> frozenset[str]:
    """The words in ``text`` (read once per source: a plan asks for dozens of fresh names)."""
    return frozenset(re.findall(r"\w+", text))


def plan_function(sk: Skeleton, body: Sequence[cst.BaseStatement], run: str,
                  header: cst.EmptyLine, self_name: str | None, main: bool) -> cst.FunctionDef:
    """The plan function of ``sk``'s function around its rewritten ``body``: named after it,
    its parameters and a keyword-only ``run``, ``header`` (a comment naming the original) above
    it, ``super()`` made explicit."""
    leading = [header] if main else [cst.EmptyLine(), cst.EmptyLine(), header]  # (PEP 8)
    written = sk.node.with_changes(
        name=cst.Name(plan_function_name(sk.qualname)),
        params=plan_parameters(sk.node.params, run), decorators=[], returns=None,
        body=cst.IndentedBlock(body=list(body)), leading_lines=leading, asynchronous=None)
    if self_name is not None and "super()" in sk.source_text:
        explicit = written.visit(ExplicitSuper(sk.qualname, self_name))
        assert isinstance(explicit, cst.FunctionDef)
        written = explicit
    return written


def plan_parameters(params: cst.Parameters, run: str) -> cst.Parameters:
    """The plan function's parameters: the original's, and a keyword-only ``run`` (see the
    module docstring). Annotations are dropped: the plan must not evaluate names the module
    only imports for type checking."""
    params = params.visit(StripAnnotations())  # type: ignore[assignment]
    star_arg = params.star_arg
    if isinstance(star_arg, cst.MaybeSentinel):
        star_arg = cst.ParamStar()
    return params.with_changes(star_arg=star_arg,
                               kwonly_params=[*params.kwonly_params, cst.Param(cst.Name(run))])


def super_class_name(qualname: str) -> str:
    """The plan constant holding the class a method was defined in (``super()`` needs it)."""
    return "_class_of_" + plan_function_name(qualname)


class ExplicitSuper(cst.CSTTransformer):
    """``super()`` -> ``super(_class_of_Child__forward, self)``: a plan function is defined
    outside the class, so the zero-argument form (which reads the method's ``__class__`` cell)
    would fail; the constant is that cell's class."""

    def __init__(self, qualname: str, self_name: str) -> None:
        super().__init__()
        self.cls, self.self_name = super_class_name(qualname), self_name

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if isinstance(func, cst.Name) and func.value == "super" and not updated.args:
            return updated.with_changes(args=[cst.Arg(cst.Name(self.cls)),
                                              cst.Arg(cst.Name(self.self_name))])
        return updated
