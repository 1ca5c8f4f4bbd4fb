"""The file lines of a function's statements, read from Python's own parser.

libcst's ``PositionProvider`` regenerates the code to count positions, which costs as much as the
rest of the analysis. The function's statements are the same in libcst's tree and in ``ast``'s,
in the same order, and ``ast`` (C, cached per file) carries their lines. The two trees are walked
side by side; where they disagree in shape, :func:`locate` returns None and the caller asks
libcst. (A call site is placed on its statement's line.)
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import linecache
from collections.abc import Mapping, Sequence

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from ..pyast import parse

__all__ = ["Located", "file_positions", "locate", "locate_with_libcst"]


@dataclasses.dataclass(frozen=True)
class Located:
    """File lines of statement nodes (and, from libcst's positions, of call nodes)."""

    lines: dict[cst.CSTNode, int]


_Index = dict[tuple[str, int], "ast.FunctionDef | ast.AsyncFunctionDef"]


@functools.lru_cache(maxsize=64)
def _functions(filename: str, digest: str, text: str) -> _Index:
    """Every function of the file by (name, first line as in ``co_firstlineno``)."""
    del filename, digest  # cache key only
    try:
        tree = parse(text)  # under the lock every ast conversion takes (emberjit.pyast)
    except SyntaxError:
        return {}
    index: _Index = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            index[(node.name, start)] = node
    return index


_PAIRS: dict[type[cst.CSTNode], tuple[type[ast.AST], ...]] = {
    cst.If: (ast.If,), cst.For: (ast.For, ast.AsyncFor), cst.While: (ast.While,),
    cst.With: (ast.With, ast.AsyncWith), cst.Try: (ast.Try,), cst.TryStar: (ast.TryStar,),
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef), cst.ClassDef: (ast.ClassDef,),
    cst.Match: (ast.Match,),
}


class _Aligner:
    def __init__(self) -> None:
        self.lines: dict[cst.CSTNode, int] = {}

    def suite(self, suite: cst.BaseSuite | None, stmts: Sequence[ast.stmt]) -> bool:
        if suite is None:
            return not stmts
        if isinstance(suite, cst.SimpleStatementSuite):
            return self.smalls(suite.body, stmts) == len(stmts)
        return self.block([s for s in suite.body if isinstance(s, cst.BaseStatement)], stmts)

    def smalls(self, smalls: Sequence[cst.BaseSmallStatement], stmts: Sequence[ast.stmt]) -> int:
        for i, small in enumerate(smalls):
            if i >= len(stmts):
                return -1
            self.lines[small] = stmts[i].lineno
        return len(smalls)

    def block(self, body: Sequence[cst.BaseStatement], stmts: Sequence[ast.stmt]) -> bool:
        i = 0
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                used = self.smalls(stmt.body, stmts[i:])
                if used <= 0:
                    return False
                self.lines[stmt] = stmts[i].lineno
                i += used
                continue
            if i >= len(stmts) or not isinstance(stmts[i], _PAIRS.get(type(stmt), ())):
                return False
            if not self.compound(stmt, stmts[i]):
                return False
            i += 1
        return i == len(stmts)

    def compound(self, stmt: cst.BaseStatement, node: ast.stmt) -> bool:
        self.lines[stmt] = node.lineno
        if isinstance(stmt, cst.If) and isinstance(node, ast.If):
            if not self.suite(stmt.body, node.body):
                return False
            if isinstance(stmt.orelse, cst.If):
                return len(node.orelse) == 1 and self.compound(stmt.orelse, node.orelse[0])
            return self.suite(stmt.orelse.body if stmt.orelse else None, node.orelse)
        if isinstance(stmt, cst.For | cst.While) and isinstance(node, ast.For | ast.AsyncFor
                                                                   | ast.While):
            return self.suite(stmt.body, node.body) and self.suite(
                stmt.orelse.body if stmt.orelse else None, node.orelse)
        if isinstance(stmt, cst.With) and isinstance(node, ast.With | ast.AsyncWith):
            return self.suite(stmt.body, node.body)
        if isinstance(stmt, cst.Try) and isinstance(node, ast.Try):
            if len(stmt.handlers) != len(node.handlers):
                return False
            return (self.suite(stmt.body, node.body)
                    and all(self.suite(h.body, a.body)
                            for h, a in zip(stmt.handlers, node.handlers, strict=True))
                    and self.suite(stmt.orelse.body if stmt.orelse else None, node.orelse)
                    and self.suite(stmt.finalbody.body if stmt.finalbody else None,
                                   node.finalbody))
        return True  # nested def, class, match: their insides are not analyzed


def locate(fnode: cst.FunctionDef, filename: str, digest: str, text: str,
           first_line: int) -> Located | None:
    """Lines of ``fnode``'s statements and calls (``first_line``: the decorator or ``def`` line
    as in ``co_firstlineno``), or None when the fast path cannot vouch for them."""
    try:
        index = _functions(filename, digest, text)
    except SystemError:  # CPython 3.11: another thread was inside ast.parse (emberjit.pyast)
        return None
    afn = index.get((fnode.name.value, first_line))
    if afn is None:
        return None
    aligner = _Aligner()
    if not aligner.suite(fnode.body, afn.body):
        return None
    aligner.lines[fnode] = afn.lineno
    return Located(aligner.lines)


def file_positions(fnode: cst.FunctionDef, first_line: int,
                   filename: str) -> dict[cst.CSTNode, CodeRange]:
    """libcst's positions (``PositionProvider``) of the nodes of ``fnode``, in the file's lines
    and character columns: libcst places the function at column 0 of a module of its own, so
    they shift by the function's first line and its indentation in the file."""
    positions = MetadataWrapper(cst.Module(body=[fnode]), unsafe_skip_copy=True).resolve(
        PositionProvider)
    anchor = fnode.decorators[0] if fnode.decorators else fnode
    lines = first_line - positions[anchor].start.line
    first = linecache.getline(filename, first_line)
    cols = len(first) - len(first.lstrip())
    return {n: CodeRange(CodePosition(r.start.line + lines, r.start.column + cols),
                         CodePosition(r.end.line + lines, r.end.column + cols))
            for n, r in positions.items()}


def locate_with_libcst(positions: Mapping[cst.CSTNode, CodeRange]) -> Located:
    """The slow path: the file lines of statements and calls from :func:`file_positions`."""
    return Located({node: pos.start.line for node, pos in positions.items()
                    if isinstance(node, cst.BaseStatement | cst.BaseSmallStatement | cst.Call
                                  | cst.FunctionDef | cst.Decorator)})
