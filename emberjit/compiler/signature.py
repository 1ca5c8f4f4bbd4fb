"""The signature of a plan function, and the names generated code may take.

A plan function takes the parameters of the ``forward``, helper or function it was written from,
and a keyword-only ``run``: the jit layer calls the plan of ``forward`` as ``fn(self, x, run=run)``
for ``op(x)`` and ``fn(self, *args, run=run, **kwargs)`` for ``op(question=q, context=c)``, so
every parameter binds as the original call binds it.
"""

from __future__ import annotations

import functools
import re

import libcst as cst

from .statements import StripAnnotations

__all__ = ["free_name", "plan_function_name", "plan_parameters"]


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
