"""The Python examples of docs/*.md run as the pages have them, and every number a page claims
about one is the number it makes (issue 15, item 8). README.md's tour: tests/test_readme_tour.py.

The code is read from the pages at test time (tests/_docs_blocks.py), never copied here. A page's
```python blocks run in page order in one fresh namespace, one top-level statement at a time, on
the built-in SimulatedModel, which this module replaces with a subclass that records every call
(start, end, thread, latency). A page that uses names it does not define (`Pipeline`, `model`,
`fast`, `x`) runs the Quickstart's first example before its own, and must name them (in
backticks) and link the Quickstart.

What a comment on a statement claims, and how it is held (times by SLACK, below):
- `eager: N x L ms`: run again under emberjit.disabled(), the statement makes N model calls of
  L ms, one after another, in N x L ms.
- `M x L ms` or `about M x L ms` (a jitted claim): run again as written (its first run compiled),
  its model calls of L ms form a chain of M, each starting after the one before it ended, in
  M x L ms; with an eager claim beside it, it makes the N calls too.
- `at most K operator calls in flight`: in that run, more than one model call at once, never
  more than K.
- `one thread`: every model call of that run on the calling thread.
- `L ms per call`: the model the statement binds sleeps L ms a call.
- `== EXPR`: what the statement binds equals EXPR, evaluated right after it.
- Any other time in a comment ("550 ms") fails the test: it would not be held.
An unlabelled block right after an example is what the example prints: compared line by line,
names and counts exactly, times within SLACK (a profile summary: its top operators in any order,
and the critical path's member index, whichever member was slowest, aside). Every name a run
block imports is used on its page; every emberjit name any block imports exists.

plans.md's blocks are printed plans, compared, not run: the first is the Ensemble's plan as the
compiler prints it; the others, functions of the idiom program the paragraph above names
(`fixtures/idioms/`), without their `# file.py:LINE` comments.

Not run (every other python block of docs/*.md runs; the test checks these exist):
    quickstart.md#2  OpenAIModel: needs a real endpoint
    scaling.md#4  Dask: needs a distributed cluster
    migration-from-xcs.md#1  an import table beside Ember's: Ember is not installed
    dspy.md#2  a real LM (dspy.LM): needs an endpoint
Other blocks are not Python: shell commands (cli.md, scaling.md, reliability.md), error and
command output, the layer diagram (concepts.md), and the benchmark tables of performance.md and
scaling.md (measured by `make bench`, in minutes: tests/test_bench_smoke.py runs their code).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import importlib
import io
import os
import re
import symtable
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import emberjit
import emberjit.models
from emberjit import get_jit_stats
from emberjit.compiler import compile_structural
from emberjit.jit.stats import JitStats
from emberjit.models import SimulatedModel
from emberjit.ops import Ensemble
from tests._docs_blocks import DOCS, Block, Statement, blocks, prose

#: The one tolerance. A time a page claims (K x L ms) holds when the run took at least that
#: (sleeps are never shorter) and at most SLACK more; a time a printed sample shows (itself a
#: measurement) holds within SLACK either way. K itself is held exactly, by the chain of calls
#: (and N by the count), so SLACK only has to be far from what load adds to a run of a few
#: calls (a few ms) and from the gap it must tell apart (eager 11 x 50 ms against 2 x 50 ms).
SLACK = 0.150

SEED = "quickstart.md#1"  # Pipeline, model, fast, x: what other pages' examples use
COMPARED = "plans.md"
_TIME = re.compile(r"(eager: )?(?:about )?(\d+) x (\d+) ms")
_PER_CALL = re.compile(r"(\d+) ms per call")
_IN_FLIGHT = re.compile(r"at most (\d+) operator calls in flight")
_EQUALS = re.compile(r"== ([^;]+)")
_ANY_TIME = re.compile(r"\d+(?:\.\d+)? ?ms\b")


def _not_run() -> dict[str, str]:
    section = (__doc__ or "").split("Not run (", 1)[1].split("\nOther blocks", 1)[0]
    return dict(re.findall(r"^    (\S+\.md#\d+)  (.+)$", section, re.M))


NOT_RUN = _not_run()
PAGES = sorted(DOCS.glob("*.md"))


def _run_blocks(page: str) -> list[Block]:
    return [b for b in blocks(DOCS / page) if b.name not in NOT_RUN and page != COMPARED]


RUN_PAGES = [p.name for p in PAGES if _run_blocks(p.name)]


# -- the recorded model -------------------------------------------------------------------------

@dataclass
class _ModelCall:
    start: float
    end: float
    thread: int
    latency: float


class _Recorder:
    """Every call of every SimulatedModel made while the pages run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[_ModelCall] = []
        self.in_flight = self.peak = 0

    def reset(self) -> None:
        with self.lock:
            self.calls, self.peak = [], 0

    @contextlib.contextmanager
    def call(self, model: SimulatedModel) -> Iterator[None]:
        start = time.perf_counter()
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1
                self.calls.append(_ModelCall(start, time.perf_counter(),
                                             threading.get_ident(), model.latency))


RECORDER = _Recorder()


class _Recorded(SimulatedModel):
    """SimulatedModel, its calls recorded (the pages import it as SimulatedModel)."""

    def __call__(self, prompt: str, **params: Any) -> str:
        with RECORDER.call(self):
            return super().__call__(prompt, **params)

    async def acall(self, prompt: str, **params: Any) -> str:
        with RECORDER.call(self):
            return await super().acall(prompt, **params)


def _chain(calls: list[_ModelCall]) -> int:
    """The longest run of calls each starting after the one before it ended."""
    longest: list[int] = []
    ordered = sorted(calls, key=lambda c: c.end)
    for i, call in enumerate(ordered):
        longest.append(1 + max((longest[j] for j in range(i) if ordered[j].end <= call.start),
                               default=0))
    return max(longest, default=0)


# -- running a page -----------------------------------------------------------------------------

@dataclass
class _Measured:
    """One more run of a statement that makes claims."""

    seconds: float
    calls: list[_ModelCall]
    peak: int


@dataclass
class _Ran:
    statement: Statement
    block: Block
    printed: str
    stats: tuple[JitStats, JitStats]  # the jit totals before and after it
    eager: _Measured | None = None
    jitted: _Measured | None = None
    equals: list[tuple[str, Any, Any]] = field(default_factory=list)  # (EXPR, bound, EXPR's value)


@dataclass
class _Page:
    namespace: dict[str, Any]
    ran: list[_Ran]


def _exec(statement: Statement, namespace: dict[str, Any]) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(statement.code, namespace)
    return printed.getvalue()


def _measure(statement: Statement, namespace: dict[str, Any], eager: bool) -> _Measured:
    RECORDER.reset()
    with emberjit.disabled() if eager else contextlib.nullcontext():
        start = time.perf_counter()
        _exec(statement, namespace)
        seconds = time.perf_counter() - start
    return _Measured(seconds, list(RECORDER.calls), RECORDER.peak)


def _bound(statement: Statement) -> str:
    node = statement.node
    assert isinstance(node, ast.Assign) and len(node.targets) == 1, statement.text
    assert isinstance(node.targets[0], ast.Name), f"{statement.text}: binds no one name"
    return node.targets[0].id


def _run(block: Block, namespace: dict[str, Any], checked: bool) -> list[_Ran]:
    ran = []
    for statement in block.statements():
        before = get_jit_stats()
        printed = _exec(statement, namespace)
        record = _Ran(statement, block, printed, (before, get_jit_stats()))
        if checked:
            claims = list(_TIME.finditer(statement.comment))
            if any(m.group(1) for m in claims):
                record.eager = _measure(statement, namespace, eager=True)
            if any(not m.group(1) for m in claims) or _IN_FLIGHT.search(statement.comment) or (
                    "one thread" in statement.comment):
                record.jitted = _measure(statement, namespace, eager=False)
            for match in _EQUALS.finditer(statement.comment):
                expr = match.group(1).strip()
                record.equals.append((expr, namespace[_bound(statement)], eval(expr, namespace)))
        ran.append(record)
    return ran


@contextlib.contextmanager
def _recorded_model_in_a_scratch_directory() -> Iterator[None]:
    """The pages' SimulatedModel recorded, and their files (a profile's run.json) kept apart."""
    cwd, real = os.getcwd(), emberjit.models.SimulatedModel
    emberjit.models.SimulatedModel = _Recorded
    try:
        with tempfile.TemporaryDirectory() as scratch:
            os.chdir(scratch)
            yield
    finally:
        os.chdir(cwd)
        emberjit.models.SimulatedModel = real


def _seed() -> Block:
    return next(b for b in blocks(DOCS / SEED.split("#")[0]) if b.name == SEED)


@functools.cache
def run_page(page: str) -> _Page:
    """The page's examples run in order (after the Quickstart's first when it uses its names),
    and each claim's statement run again and measured."""
    namespace: dict[str, Any] = {"__name__": f"docs_{page[:-3].replace('-', '_')}"}
    ran = []
    with _recorded_model_in_a_scratch_directory():
        if _free_names(page):
            _run(_seed(), namespace, checked=False)
        for block in _run_blocks(page):
            ran += _run(block, namespace, checked=True)
    return _Page(namespace, ran)


# -- what the code of a page binds, reads and imports -------------------------------------------

def _names(code: list[Block]) -> tuple[set[str], set[str], set[str]]:
    """(names bound, names read, names imported) at module level by these blocks (a function
    reading a module-level name reads it too; its parameters and locals are its own)."""
    bound, read, imported = set(), set(), set()
    for block in code:
        top = symtable.symtable(block.code, block.name, "exec")
        tables = [top]
        while tables:
            table = tables.pop()
            tables += table.get_children()
            for symbol in table.get_symbols():
                name = symbol.get_name()
                if symbol.is_referenced() and (table is top or symbol.is_global()):
                    read.add(name)
                if table is top and symbol.is_imported():
                    imported.add(name)
                if table is top and (symbol.is_assigned() or symbol.is_imported()):
                    bound.add(name)
    return bound, read, imported


def _free_names(page: str) -> set[str]:
    bound, read, _ = _names(_run_blocks(page))
    return read - bound - set(dir(builtins))


# -- the tests ----------------------------------------------------------------------------------

def test_the_blocks_not_run_are_there_and_the_rest_run() -> None:
    """A block runs unless the docstring lists it: the list must name blocks that exist."""
    names = {b.name for page in PAGES for b in blocks(page)}
    assert NOT_RUN and set(NOT_RUN) <= names, f"listed, but no such block: {set(NOT_RUN) - names}"
    assert set(RUN_PAGES) >= {"quickstart.md", "index.md", "concepts.md", "modes.md",
                              "scaling.md", "scheduling.md", "migration-from-xcs.md"}


def test_emberjit_names_every_block_imports_exist() -> None:
    for page in PAGES:
        for block in blocks(page):
            flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            tree = compile(block.code, block.name, "exec", flags=flags)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("emberjit"):
                    module = importlib.import_module(node.module or "")
                    missing = [a.name for a in node.names if not hasattr(module, a.name)]
                    assert not missing, f"{block.name}: {node.module} has no {missing}"


@pytest.mark.parametrize("page", RUN_PAGES)
def test_a_page_defines_what_it_uses_and_uses_what_it_imports(page: str) -> None:
    _, read, imported = _names(_run_blocks(page))
    assert not imported - read, f"{page} imports names it never uses: {imported - read}"
    free = _free_names(page)
    if not free:
        return
    seeded = _names([_seed()])[0]
    assert free <= seeded, f"{page} uses names defined nowhere: {free - seeded}"
    text = prose(DOCS / page)
    assert "quickstart.md" in text, f"{page} uses the Quickstart's {free}: link it"
    unnamed = {n for n in free if f"`{n}`" not in text}
    assert not unnamed, f"{page} uses the Quickstart's {unnamed} without naming them"


def _within(claimed: float, measured: float) -> bool:
    return claimed <= measured <= claimed + SLACK


@pytest.mark.parametrize("page", RUN_PAGES)
def test_a_page_runs_and_its_comments_tell_the_truth(page: str) -> None:
    for ran in run_page(page).ran:
        where, comment = f"{page}:{ran.statement.line}", ran.statement.comment
        times = list(_TIME.finditer(comment))
        unheld = _ANY_TIME.findall(_PER_CALL.sub("", _TIME.sub("", comment)))
        assert not unheld, f"{where}: a time no claim holds: {unheld} in {comment!r}"
        eager_calls = next((int(m.group(2)) for m in times if m.group(1)), None)
        for match in times:
            count, latency = int(match.group(2)), int(match.group(3)) / 1e3
            run = ran.eager if match.group(1) else ran.jitted
            assert run is not None
            assert {c.latency for c in run.calls} == {latency}, f"{where}: not {latency} s a call"
            assert _chain(run.calls) == count, (
                f"{where}: {match.group(0)!r}, but the calls formed a chain of "
                f"{_chain(run.calls)} (of {len(run.calls)} calls)")
            assert _within(count * latency, run.seconds), (
                f"{where}: {match.group(0)!r}, but it took {run.seconds * 1e3:.0f} ms")
            if eager_calls is not None:
                assert len(run.calls) == eager_calls, f"{where}: {len(run.calls)} model calls"
        if limit := _IN_FLIGHT.search(comment):
            assert ran.jitted is not None and 1 < ran.jitted.peak <= int(limit.group(1)), (
                f"{where}: {ran.jitted.peak if ran.jitted else '-'} calls in flight")
        if "one thread" in comment:
            assert ran.jitted is not None and {c.thread for c in ran.jitted.calls} == {
                threading.get_ident()}, f"{where}: calls on other threads"
        if per_call := _PER_CALL.search(comment):
            model = run_page(page).namespace[_bound(ran.statement)]
            assert model.latency * 1e3 == int(per_call.group(1)), where
        for expr, bound, expected in ran.equals:
            assert bound == expected, f"{where}: not == {expr}: {bound!r} != {expected!r}"
    for block in _run_blocks(page):
        if block.output is not None:
            printed = "".join(r.printed for r in run_page(page).ran if r.block == block)
            _same_output(block.name, block.output, printed)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _same_output(name: str, shown: str, printed: str) -> None:
    """The page's sample and what its example printed: text and counts exactly, times (a
    number before "ms") within SLACK either way."""
    shown_lines, printed_lines = shown.splitlines(), printed.splitlines()
    if shown.startswith("wall time:"):  # a profile summary
        top = shown_lines.index("top operators by time (inclusive):")
        assert shown_lines[top] in printed_lines, f"{name} prints:\n{printed}"

        def normal(lines: list[str]) -> list[str]:  # which member was slowest is chance
            path = [re.sub(r"\[\d+\]", "[i]", s) if s.startswith("    ") else s for s in lines]
            return path[:top + 1] + sorted(lines[top + 1:], key=lambda s: s.split(" (")[0])
        shown_lines, printed_lines = normal(shown_lines), normal(printed_lines)
    assert len(shown_lines) == len(printed_lines), f"{name} prints:\n{printed}"
    for want, got in zip(shown_lines, printed_lines, strict=True):
        assert _NUMBER.sub("N", want).split() == _NUMBER.sub("N", got).split(), (
            f"{name}: the page shows {want!r}, the example prints {got!r}")
        for w, g in zip(_numbers(want), _numbers(got), strict=True):
            if w[1]:
                assert abs(w[0] - g[0]) <= SLACK * 1e3, f"{name}: {want!r} but {got!r}"
            else:
                assert w == g, f"{name}: {want!r} but {got!r}"


def _numbers(line: str) -> list[tuple[float, bool]]:
    """The numbers of a line, each with whether it is a time in ms."""
    return [(float(m.group(0)), line[m.end():].lstrip().startswith("ms"))
            for m in _NUMBER.finditer(line)]


def test_concepts_table_has_the_columns_the_page_names() -> None:
    page = run_page("concepts.md")
    ran = next(r for r in page.ran if ".table()" in r.statement.text)
    named = ran.statement.comment.split("one row per step: ", 1)[1].split(", ")
    header = page.namespace["fast"].plan.table().splitlines()[0]
    assert re.split(r"\s{2,}", header.strip()) == named


def test_modes_disabled_counts_nothing_and_the_plan_counts_again() -> None:
    ran = run_page("modes.md").ran
    off = next((r for r in ran if "nothing counted in the jit stats" in r.statement.comment), None)
    assert off is not None and "emberjit.disabled()" in off.statement.text, "the example moved"
    assert off.stats[0] == off.stats[1]
    again = ran[ran.index(off) + 1]
    assert "the plan again" in again.statement.comment
    assert again.stats[1].calls > again.stats[0].calls
    assert again.stats[1].compiles == again.stats[0].compiles


def _function(source: str, name: str) -> str:
    """Function ``name`` of a plan's source, without its ``# file.py:LINE`` comments."""
    start = source.index(f"\ndef {name}(") + 1
    end = source.find("\n\n\n", start)
    lines = source[start:end if end >= 0 else None].splitlines()
    return "".join(line + "\n" for line in lines
                   if not re.match(r"\s*# [\w/.]+\.py:\d+  ", line))


def test_plans_page_shows_what_the_compiler_prints() -> None:
    first, *idioms = blocks(DOCS / COMPARED)
    header = re.match(r"# emberjit plan for (\w+)\.forward \(([\w/]+)\.py:\d+\)", first.code)
    assert header is not None and header.group(1) == "Ensemble", "only the Ensemble is built here"
    assert importlib.import_module(header.group(2).replace("/", ".")).Ensemble is Ensemble
    plan, _ = compile_structural(Ensemble.of(SimulatedModel(latency=0), 3))
    assert first.code == str(plan.source).rstrip("\n") + "\n"
    assert idioms
    for block in idioms:
        program = re.findall(r"`(\w+)\.py`", block.prose)[-1]
        plan, _ = compile_structural(
            importlib.import_module(f"fixtures.idioms.{program}").build())
        function = re.match(r"def (\w+)\(", block.code)
        assert function is not None, block.name
        assert block.code == _function(str(plan.source), function.group(1)), block.name


def test_a_chain_is_calls_one_after_another() -> None:
    """The measure the claims rest on: a chain is calls one after another, not calls at once."""
    def call(start: float, end: float) -> _ModelCall:
        return _ModelCall(start, end, 0, 0.05)
    together = [call(0.05, 0.1) for _ in range(10)]
    assert _chain([call(0, 0.05), *together]) == 2
    assert _chain([call(i * 0.05, (i + 1) * 0.05) for i in range(11)]) == 11
    assert _chain([]) == 0
