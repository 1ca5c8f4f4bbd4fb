"""The signature of a plan function, and the names generated code may take.

The jit layer calls the plan of ``forward`` as ``fn(self, inputs, run)``, whatever forward's own
signature; :func:`plan_parameters` writes that signature and the statements binding the rest of
forward's parameters as one call binds them (``args = (inputs,)`` for ``forward(self, *args)``,
``kwargs = {}``). Helpers and functions keep their parameters and gain a keyword-only ``run``.
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


def _bind(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)])


def plan_parameters(params: cst.Parameters, run: str, entry: bool, source: str
                    ) -> tuple[cst.Parameters, list[cst.BaseStatement]]:
    """The plan function's parameters and its prologue (see the module docstring). ``entry``:
    the plan of a method's ``forward``; ``source``: the text fresh names must not clash with.
    Annotations are dropped: the plan must not evaluate names the module only imports for
    type checking."""
    params = params.visit(StripAnnotations())  # type: ignore[assignment]
    run_param = cst.Param(cst.Name(run))
    if not entry:
        star_arg = params.star_arg
        if isinstance(star_arg, cst.MaybeSentinel):
            star_arg = cst.ParamStar()
        return params.with_changes(star_arg=star_arg,
                                   kwonly_params=[*params.kwonly_params, run_param]), []
    every = (*params.posonly_params, *params.params, *params.kwonly_params)
    plain = [p.with_changes(default=None, equal=cst.MaybeSentinel.DEFAULT,
                            comma=cst.MaybeSentinel.DEFAULT) for p in every]
    rest = [p for p in every[2:] if p.default is not None]
    prologue: list[cst.BaseStatement] = []
    star, star_kw = params.star_arg, params.star_kwarg
    if isinstance(star, cst.Param):  # forward(self, *args): the input is args[0]
        if len(plain) >= 2:
            prologue.append(_bind(star.name.value, cst.Tuple(elements=[])))
        else:
            name = free_name(f"{star.name.value}_0", source)
            plain.append(cst.Param(cst.Name(name)))
            prologue.append(_bind(star.name.value,
                                  cst.Tuple(elements=[cst.Element(cst.Name(name))])))
    if star_kw is not None:  # forward(self, x, **kwargs): one input binds no keywords
        prologue.append(_bind(star_kw.name.value, cst.Dict(elements=[])))
    separator: cst.ParamStar | cst.MaybeSentinel = cst.ParamStar() if rest else \
        cst.MaybeSentinel.DEFAULT
    return cst.Parameters(params=[*plain[:2], run_param], star_arg=separator,
                          kwonly_params=rest), prologue
