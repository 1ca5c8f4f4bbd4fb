"""Tracebacks that point at your code: a plan's functions compiled with your file and lines.

Every statement a plan writes for one of yours stands under a comment naming its origin
(``# app/rag.py:17  answer = inputs["query"]``), and every plan function under one naming the
function (``# app/rag.py:12  RAG.forward``). :func:`compile_parts` compiles each plan function
on its own, as pytest compiles the asserts it rewrites: with the file it came from as the code's
file name and, on every node, the line of the statement it stands for. So an exception raised by
your own code in a plan ends in ``File "app/rag.py", line 17``, with your line under it, and
``pdb`` shows your file. The plan's text stays what ``plan.source`` prints; what the plan itself
does for a statement (``run.submit``, ``run.wait``) is reported at that statement's line, and
whatever has no origin (a guard, a plan of code without a file) keeps the plan's own name and
lines, which ``linecache`` holds.
"""

from __future__ import annotations

import ast
import linecache
import re
from collections.abc import Iterator, Mapping
from types import CodeType

from ..pyast import compile_tree, parse

__all__ = ["compile_parts"]

_MARK = re.compile(r"^\s*# (?P<path>\S+?):(?P<line>\d+)  ")


def compile_parts(source: str, filename: str, origins: Mapping[str, str]) -> Iterator[CodeType]:
    """The code of ``source`` (a plan module), one top-level statement at a time; ``origins``
    maps the paths its comments name to the files they are."""
    marks = _marks(source, origins)
    for node in parse(source, filename).body:
        lines = [marks[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
                 if n in marks]
        files = {file for file, _ in lines}
        if len(files) != 1:
            yield compile_tree(ast.Module(body=[node], type_ignores=[]), filename)
            continue
        file = files.pop()
        _move(node, marks, file, min(line for _, line in lines))
        yield compile_tree(ast.Module(body=[node], type_ignores=[]), file)


def _marks(source: str, origins: Mapping[str, str]) -> dict[int, tuple[str, int]]:
    """Plan line -> (file, line) for every line under an origin comment (until the next)."""
    marks: dict[int, tuple[str, int]] = {}
    current: tuple[str, int] | None = None
    for number, text in enumerate(source.splitlines(), 1):
        found = _MARK.match(text)
        if found is not None:
            file = origins.get(found["path"])
            current = (file, int(found["line"])) if file is not None else None
        elif current is not None:
            marks[number] = current
    return marks


def _move(node: ast.AST, marks: Mapping[int, tuple[str, int]], file: str, first: int) -> None:
    """Give every node of ``node`` the line of the statement it stands for in ``file`` (a line
    without a mark, such as a ``def`` above its header: ``first``), spanning that whole line.
    (A walk of the nodes' own dicts: ``ast.walk`` costs several times as much, per compile.)"""
    where: dict[int, tuple[int, int, int]] = {}  # plan line -> (line, first column, end column)
    stack = [node]
    while stack:
        fields = stack.pop().__dict__
        plan_line = fields.get("lineno")
        if plan_line is not None:
            place = where.get(plan_line)
            if place is None:
                mark = marks.get(plan_line)
                line = mark[1] if mark is not None and mark[0] == file else first
                text = linecache.getline(file, line).rstrip()
                indent = len(text) - len(text.lstrip())
                place = where[plan_line] = (line, indent, max(len(text), indent))
            fields["lineno"] = fields["end_lineno"] = place[0]
            fields["col_offset"], fields["end_col_offset"] = place[1], place[2]
        for value in fields.values():
            if isinstance(value, ast.AST):
                stack.append(value)
            elif type(value) is list:
                stack.extend(item for item in value if isinstance(item, ast.AST))
