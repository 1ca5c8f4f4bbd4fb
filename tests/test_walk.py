"""The read-only walk (`emberjit.analysis.walk`) visits what libcst visits, in its order."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from emberjit.analysis.walk import Visitor

ROOT = Path(__file__).resolve().parent.parent

#: Layout node types: the walk does not visit them (whitespace, comments, punctuation).
LAYOUT = (
    cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.EmptyLine, cst.Newline,
    cst.Comment, cst.Comma, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket,
    cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Semicolon, cst.Colon,
    cst.Dot, cst.AssignEqual, cst.Asynchronous, cst.ParamSlash,
)

EXTRA = '''
@deco(1)
async def f(a, /, b: int = 2, *args, c, d=3, **kw) -> "T":
    x = body if test else orelse
    y = call(k=v, *s, **m)
    async with ctx() as (p, q):
        async for i in aiter():
            await g(i)
    try:
        pass
    except (E, F) as e:
        raise X from e
    else:
        z: int = lambda t, *u: t[1:2:3]
    finally:
        del z
    match y:
        case [1, *rest] if rest:
            pass
        case {"k": v, **other}:
            pass
        case Point(x=0) | None as p:
            pass
    return {k: v for k, v in d.items() if k}, f"{x!r:>{w}}", (yield), [*a], {**b}
type Alias[T] = list[T]
class C[T](Base, metaclass=M):
    global g
    from . import (a as b)
    def h(*, k): from m import *
'''


class _Libcst(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not isinstance(node, LAYOUT):
            self.seen.append(node)
        return True


class _Walk(Visitor):
    def __init__(self) -> None:
        self.seen: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.seen.append(node)
        return True


def _sources() -> list[tuple[str, str]]:
    files = sorted((ROOT / "emberjit").rglob("*.py")) + sorted((ROOT / "fixtures").rglob("*.py"))
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in files] + [("extra", EXTRA)]


@pytest.mark.parametrize(("name", "text"), _sources(), ids=[n for n, _ in _sources()])
def test_walk_visits_the_code_nodes_libcst_visits_in_its_order(name: str, text: str) -> None:
    module = cst.parse_module(text)
    ours, theirs = _Walk(), _Libcst()
    ours.walk(module)
    module.visit(theirs)
    assert [type(n).__name__ for n in ours.seen] == [type(n).__name__ for n in theirs.seen]
    assert all(a is b for a, b in zip(ours.seen, theirs.seen, strict=True))


def test_visit_methods_skip_children_and_leave_methods_run() -> None:
    class Calls(Visitor):
        def __init__(self) -> None:
            self.names: list[str] = []
            self.left = 0

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            self.names.append(node.value)

        def leave_Call(self, original_node: cst.Call) -> None:
            self.left += 1

    found = Calls()
    found.walk(cst.parse_expression("f(a, lambda b: g(b), h(c))"))
    assert found.names == ["f", "a", "h", "c"]
    assert found.left == 2


# -- file lines: the fast path (ast) and libcst's positions agree (issue 14: one mechanism) -----


def _decorated(f: object) -> object:
    return f


class _Lines:
    @_decorated
    def forward(self, inputs: dict[str, str]) -> list[str]:
        first = inputs["q"].strip()
        answers = [
            self.ask(first, n)
            for n in range(3)
        ]
        if answers:
            return answers
        return [first]

    def ask(self, q: str, n: int) -> str:
        return f"{q}{n}"


def test_libcst_positions_give_the_lines_the_fast_path_gives() -> None:
    import libcst as cst

    from emberjit.analysis.lines import file_positions, locate, locate_with_libcst
    from emberjit.analysis.source import function_source

    src = function_source(_Lines.forward)
    fast = locate(src.node, src.filename, src.file_sha256, src.file_text, src.first_line)
    slow = locate_with_libcst(file_positions(src.node, src.first_line, src.filename))
    assert fast is not None
    statements = [n for n in fast.lines if isinstance(n, cst.BaseSmallStatement | cst.If)]
    assert len(statements) >= 4
    assert {n: fast.lines[n] for n in statements} == {n: slow.lines[n] for n in statements}
    ret = next(n for n in statements if isinstance(n, cst.Return))
    first_code_line = _Lines.forward.__code__.co_firstlineno
    assert slow.lines[ret] > first_code_line  # file lines, not lines of the function's own text
