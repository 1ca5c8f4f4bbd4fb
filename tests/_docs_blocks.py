"""The fenced code blocks of a Markdown page (README.md, docs/*.md), read from the page at test
time, and running them where jit can read them: compiled at the block's own lines of the page, so
``inspect`` (linecache) finds a class's ``forward`` in the page itself.

Shared by tests/test_readme_tour.py and tests/test_docs_examples.py.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.M | re.S)
_HEADING = re.compile(r"^#+ (.+)$", re.M)


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    path: Path
    lang: str  # "python", "bash", "" (unlabelled)
    number: int  # 1, 2, ... among the page's blocks of this language
    first_line: int  # the line of the page its code starts at (1-based)
    code: str
    heading: str  # the last heading above it
    prose: str  # the page's text between the block before it and this one
    #: an unlabelled block right after this one (nothing but blank lines between): what it prints
    output: str | None

    @property
    def name(self) -> str:
        """``quickstart.md#2``: the page and the block's number among its ``lang`` blocks."""
        return f"{self.path.name}#{self.number}"

    def padded(self) -> str:
        """The code, preceded by as many empty lines as stand before it on the page."""
        return "\n" * (self.first_line - 1) + self.code

    def run(self, namespace: dict[str, Any]) -> None:
        """Run the whole block in ``namespace``."""
        exec(compile(self.padded(), str(self.path), "exec"), namespace)

    def statements(self) -> list[Statement]:
        """The block's top-level statements, each compiled at its own lines of the page."""
        tree = ast.parse(self.padded(), str(self.path))
        lines = self.padded().splitlines()
        comments = _comments(self.padded())
        out = []
        for node in tree.body:
            end = node.end_lineno or node.lineno
            out.append(Statement(
                node=node,
                code=compile(ast.Module(body=[node], type_ignores=[]), str(self.path), "exec"),
                text="\n".join(lines[node.lineno - 1:end]),
                comment=" ".join(comments.get(n, "") for n in range(node.lineno, end + 1)),
                line=node.lineno))
        return out


@dataclass(frozen=True)
class Statement:
    """A top-level statement of a block: what runs, and the comments on its lines."""

    node: ast.stmt
    code: CodeType
    text: str
    comment: str  # its lines' comments, without the "#", joined by spaces
    line: int  # its first line on the page


def _comments(source: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string.lstrip("#").strip()
            for tok in tokens if tok.type == tokenize.COMMENT}


def prose(path: Path) -> str:
    """The page's text outside its fenced blocks."""
    return _FENCE.sub("", path.read_text(encoding="utf-8"))


def blocks(path: Path, lang: str | None = "python") -> list[Block]:
    """The page's fenced blocks in ``lang`` (every block when None), in page order."""
    text = path.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    found: list[Block] = []
    counts: dict[str, int] = {}
    for i, fence in enumerate(fences):
        kind = fence.group(1)
        counts[kind] = counts.get(kind, 0) + 1
        if lang is not None and kind != lang:
            continue
        after = fences[i + 1] if i + 1 < len(fences) else None
        output = None
        if after is not None and not after.group(1) and not text[fence.end():after.start()].strip():
            output = after.group(2)
        headings = _HEADING.findall(_FENCE.sub("", text[:fence.start()]))
        found.append(Block(
            path=path, lang=kind, number=counts[kind],
            first_line=text[:fence.start(2)].count("\n") + 1, code=fence.group(2),
            heading=headings[-1] if headings else "",
            prose=text[fences[i - 1].end() if i else 0:fence.start()], output=output))
    return found
