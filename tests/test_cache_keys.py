"""Result-cache keys under edits (issue 16): each case makes the key of a realistic call, changes
one thing, and asserts a hit (the same key) or a miss (another key). 0 false hits, 0 misses for
cosmetic edits.

Source edits are real edits of module files: the program below (an operator module and a module of
prompt pieces it reads as ``qa_prompts.X``) is written into tmp_path, imported, keyed, edited on
disk and imported again as a fresh module under the same name (as another process would), with
``sys.modules``, ``linecache`` and bytecode files out of the way. The objects, models and inputs
a call holds: tests/test_cache_keys_values.py."""

from __future__ import annotations

import importlib
import linecache
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest

from emberjit import Operator, execution_options
from emberjit.cache.policy import decide
from emberjit.inputs import inputs_of
from emberjit.models import SimulatedModel

OPS = '''\
"""Answer a question from its context with a few answerers, then let a judge pick one."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

import qa_prompts
from emberjit import Operator
from emberjit.ops import ModelCall

ANSWER_TEMPLATE = "Question: {question}\\nContext: {context}\\nAnswer:"
_SPACES = re.compile(r"\\s+")


def squeeze(text: str) -> str:
    return _SPACES.sub(" ", text)


def clean(text: str) -> str:
    return squeeze(text).strip()


def render(question: str, context: str, sep: str = qa_prompts.SEPARATOR) -> str:
    return ANSWER_TEMPLATE.format(question=clean(question), context=clean(context)) + sep


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)
    return wrapper


@dataclasses.dataclass
class Style:
    tone: str = "plain"

    def instruction(self) -> str:
        return f"Answer in a {self.tone} tone."


class Answer(Operator):
    """Answer one question from its context."""

    prefix = "Answer:"

    def __init__(self, model: Any, temperature: float = 0.0, max_tokens: int = 64) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.style = Style()

    def forward(self, question: str, context: str = "") -> dict[str, Any]:
        prompt = self.build(question, context)
        reply = self.model(prompt, temperature=self.temperature, max_tokens=self.max_tokens)
        return {"answer": self.tidy(reply)}

    @logged
    def build(self, question: str, context: str) -> str:
        intro = f"{qa_prompts.PREAMBLE} {self.style.instruction()}\\n"
        return intro + render(question, qa_prompts.shorten(context))

    def tidy(self, reply: str) -> str:
        return reply.removeprefix(self.prefix).strip()


class Pipeline(Operator):
    def __init__(self, model: Any, n: int = 3) -> None:
        self.answerers = [Answer(model, temperature=0.0) for _ in range(n)]
        self.judge = ModelCall(model, "Pick the best answer: {answers}")

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        answers = [a(question=inputs["question"], context=inputs.get("context", ""))
                   for a in self.answerers]
        return self.judge({"answers": [a["answer"] for a in answers]})
'''

PROMPTS = '''\
"""Prompt pieces the operators share."""

PREAMBLE = "Be accurate and brief."
SEPARATOR = "\\n---\\n"


def shorten(text: str, limit: int = 200) -> str:
    return text[:limit]
'''

Q = {"question": "What is a plan?", "context": "A plan  is the\ncompiled program."}


class Edit(NamedTuple):
    name: str
    file: str  # "ops" or "prompts"
    old: str
    new: str
    hit: bool


EDITS = [
    # -- what the result depends on: a miss ----------------------------------------------------
    Edit("helper method body", "ops", ".strip()\n\n\nclass Pipeline",
         ".strip().rstrip('.')\n\n\nclass Pipeline", hit=False),
    Edit("module-level helper function body", "ops", "context=clean(context))",
         "context=context)", hit=False),
    Edit("function reached through another function", "ops", '_SPACES.sub(" ", text)',
         '_SPACES.sub("", text)', hit=False),
    Edit("template string class attribute", "ops", 'prefix = "Answer:"', 'prefix = "A:"',
         hit=False),
    Edit("module-level template constant", "ops", "\\nAnswer:\"", "\\nReply:\"", hit=False),
    Edit("regex constant", "ops", 're.compile(r"\\s+")', 're.compile(r"[ \\t]+")', hit=False),
    Edit("helper function of another module (module.attr)", "prompts", "text[:limit]",
         "text[:limit].upper()", hit=False),
    Edit("template of another module (module.attr)", "prompts", "accurate and brief",
         "accurate", hit=False),
    Edit("a default value taken from a constant", "prompts", 'SEPARATOR = "\\n---\\n"',
         'SEPARATOR = "\\n===\\n"', hit=False),
    Edit("a decorator's wrapper body", "ops", "return fn(*args, **kwargs)",
         "return fn(*args, **kwargs).lower()", hit=False),
    Edit("a dataclass method body", "ops", "in a {self.tone} tone", "with a {self.tone} tone",
         hit=False),
    Edit("a dataclass field default", "ops", 'tone: str = "plain"', 'tone: str = "formal"',
         hit=False),
    Edit("a model call's keyword argument", "ops", "max_tokens=self.max_tokens)",
         'max_tokens=self.max_tokens, stop=["\\n"])', hit=False),
    Edit("a constructor default", "ops", "max_tokens: int = 64", "max_tokens: int = 32",
         hit=False),
    Edit("a sub-operator's template", "ops", "Pick the best answer", "Pick the right answer",
         hit=False),
    Edit("forward's control flow", "ops", "for a in self.answerers]",
         "for a in self.answerers[:2]]", hit=False),
    # -- cosmetic: a hit -----------------------------------------------------------------------
    Edit("comments added", "ops", "    def tidy(self, reply: str) -> str:\n",
         "    # the model echoes the prefix\n    def tidy(self, reply: str) -> str:  # tidy\n"
         "        # strip it\n", hit=True),
    Edit("blank lines added", "ops", "        prompt = self.build(question, context)\n",
         "\n        prompt = self.build(question, context)\n\n", hit=True),
    Edit("a docstring edited", "ops", '"""Answer one question from its context."""',
         '"""Answers a question using the context it is given (a short one)."""', hit=True),
    Edit("a docstring added to a helper", "ops", "def squeeze(text: str) -> str:\n",
         'def squeeze(text: str) -> str:\n    """Runs of white space become one space."""\n',
         hit=True),
    Edit("the module docstring edited", "prompts", "Prompt pieces the operators share.",
         "Prompt pieces.\n\nShared by every operator.", hit=True),
    Edit("reformatted", "ops",
         "        reply = self.model(prompt, temperature=self.temperature, "
         "max_tokens=self.max_tokens)\n",
         "        reply = self.model(\n            prompt,\n"
         "            temperature=self.temperature,\n"
         "            max_tokens=(self.max_tokens),\n        )\n", hit=True),
    Edit("quotes and parentheses changed", "ops", '_SPACES.sub(" ", text)',
         "(_SPACES.sub(' ', text))", hit=True),
    Edit("a helper moved in the file", "ops",
         'def squeeze(text: str) -> str:\n    return _SPACES.sub(" ", text)\n\n\n', "", hit=True),
    Edit("an unused helper and import added", "ops", "import re\n",
         "import json\nimport re\n\n\ndef unused(x: str) -> str:\n    return json.dumps(x)\n",
         hit=True),
]
EDIT = {e.name: e for e in EDITS}
MOVED = 'def squeeze(text: str) -> str:\n    return _SPACES.sub(" ", text)\n'


class Program:
    """The two modules in a directory of their own, imported afresh on each :meth:`load`."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.sources = {"ops": OPS, "prompts": PROMPTS}

    def write(self, edit: Edit | None = None) -> None:
        if edit is not None:
            text = self.sources[edit.file]
            assert text.count(edit.old) == 1, edit.name
            text = text.replace(edit.old, edit.new)
            if edit.name == "a helper moved in the file":
                text += "\n\n" + MOVED
            self.sources[edit.file] = text
        (self.where / "qa_ops.py").write_text(self.sources["ops"])
        (self.where / "qa_prompts.py").write_text(self.sources["prompts"])

    def load(self, edit: Edit | None = None) -> ModuleType:
        self.write(edit)
        _forget()
        return importlib.import_module("qa_ops")


def _forget() -> None:
    for name in ("qa_ops", "qa_prompts"):
        sys.modules.pop(name, None)
    linecache.clearcache()
    importlib.invalidate_caches()


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Program]:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edit within a second: no stale .pyc
    yield Program(tmp_path)
    _forget()


def key(op: object, *args: Any, **kwargs: Any) -> str:
    """The key of ``op(*args, **kwargs)``, parsed as the call parses it."""
    found, why = decide(op, inputs_of(args, kwargs))
    assert found, why
    return found


def test_every_edit_changes_the_source_it_names(program: Program) -> None:
    for edit in EDITS:
        text = {"ops": OPS, "prompts": PROMPTS}[edit.file]
        assert text.count(edit.old) == 1 and edit.old != edit.new, edit.name


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_an_edit_misses_exactly_when_the_result_may_change(program: Program, edit: Edit) -> None:
    model = SimulatedModel(latency=0)
    before = program.load()
    pipeline_key = key(before.Pipeline(model), Q)
    answer_key = key(before.Answer(model), question=Q["question"], context=Q["context"])
    after = program.load(edit)
    assert after is not before and after.Pipeline is not before.Pipeline  # a fresh module
    if edit.hit:
        assert key(after.Pipeline(model), Q) == pipeline_key, f"cosmetic miss: {edit.name}"
        assert key(after.Answer(model), question=Q["question"],
                   context=Q["context"]) == answer_key
    else:
        assert key(after.Pipeline(model), Q) != pipeline_key, f"false hit: {edit.name}"


def test_the_edits_outcomes_are_what_the_code_does(program: Program) -> None:
    """The misses are real: each miss edit changes the prompts the model is sent (or how its
    reply is read), and each cosmetic edit changes none."""
    def run(module: ModuleType) -> tuple[list[str], Any]:
        prompts: list[str] = []

        def model(prompt: str, **params: Any) -> str:
            prompts.append(f"{prompt}|{sorted(params.items())}")
            return "Answer: forty-two."

        return prompts, module.Pipeline(model)(Q)

    baseline = run(program.load())
    for edit in EDITS:
        fresh = Program(program.where)
        outcome = run(fresh.load(edit))
        assert (outcome == baseline) == edit.hit, edit.name


def test_a_module_rebinding_its_template_at_run_time_misses(program: Program) -> None:
    module = program.load()
    pipeline = module.Pipeline(SimulatedModel(latency=0))
    before = key(pipeline, Q)
    module.ANSWER_TEMPLATE = "Q: {question}\nC: {context}\nA:"
    assert key(pipeline, Q) != before
    module.ANSWER_TEMPLATE = OPS.split('ANSWER_TEMPLATE = "')[1].split('"')[0].replace(
        "\\n", "\n")
    assert key(pipeline, Q) == before


def test_a_method_patched_onto_the_class_misses(program: Program) -> None:
    module = program.load()
    answer = module.Answer(SimulatedModel(latency=0))
    before = key(answer, question="q")
    module.Answer.tidy = lambda self, reply: reply
    assert key(answer, question="q") != before


def test_a_file_edited_after_its_import_is_not_described_by_its_new_text(
        program: Program) -> None:
    """A process that imported the old file and keys after the edit (a notebook kernel not
    reloaded) runs the old code: its key must not be the key of the new code."""
    model = SimulatedModel(latency=0)
    program.sources["ops"] = "\n" * 3 + OPS  # code no other test made (keys are kept per code)
    running = program.load()
    edit = EDIT["helper method body"]
    program.write(edit)  # on disk only: the old code keeps running
    stale = key(running.Pipeline(model), Q)
    fresh = program.load()
    assert running.Answer.tidy is not fresh.Answer.tidy
    assert stale != key(fresh.Pipeline(model), Q)


def test_a_cosmetic_edit_is_served_from_the_file_and_a_body_edit_runs_again(
        program: Program, tmp_path: Path) -> None:
    model = SimulatedModel(latency=0)
    path = tmp_path / "results.db"
    with execution_options(cache=path):
        first = program.load().Pipeline(model)(Q)
        assert model.calls == 2  # three equal answerers: the first runs, the others are served
        again = program.load(EDIT["reformatted"]).Pipeline(model)(Q)
        assert again == first and model.calls == 2
        program.load(EDIT["function reached through another function"]).Pipeline(model)(Q)
    assert model.calls == 4  # the answer's prompt changed, so did the judge's


TYPES = """\
import dataclasses


@dataclasses.dataclass(frozen=True)
class Question:
    text: str

    def prompt(self) -> str:
        return "Q: " + self.text
"""


class Prompted(Operator[Any, str]):
    """Calls a method of its input, whose class it never names."""

    def forward(self, question: Any) -> str:
        return str(question.prompt())


def test_a_method_of_the_input_s_class_counts(program: Program) -> None:
    def load(text: str) -> ModuleType:
        (program.where / "qa_types.py").write_text(text)
        sys.modules.pop("qa_types", None)
        linecache.clearcache()
        return importlib.import_module("qa_types")

    before = key(Prompted(), load(TYPES).Question("x"))
    commented = TYPES.replace("    def prompt", "    # what the model is sent\n    def prompt")
    assert key(Prompted(), load(commented).Question("x")) == before
    edited = load(TYPES.replace('"Q: "', '"Question: "'))
    assert key(Prompted(), edited.Question("x")) != before
    sys.modules.pop("qa_types", None)
