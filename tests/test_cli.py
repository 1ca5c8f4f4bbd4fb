"""``emberjit compile`` / ``emberjit show`` as a user runs them: subprocesses on a copy of
tests/aot_pkg; exit codes 0 / 1 (compile failure, file:line: message) / 2 (usage)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EMBERJIT = Path(sys.executable).parent / "emberjit"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EMBERJIT_AOT_DIR"}
    return subprocess.run([sys.executable, "-m", "emberjit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    shutil.copytree(HERE / "aot_pkg", root / "aot_pkg",
                    ignore=shutil.ignore_patterns("__pycache__", "__emberjit__"))
    (root / "broken").mkdir()
    (root / "broken" / "__init__.py").write_text("")
    (root / "broken" / "nosource.py").write_text(
        "from emberjit import Operator, jit\n\n\n"
        "@jit(mode='structural')\n"
        "class NoSource(Operator):\n"
        "    forward = lambda self, inputs: inputs  # noqa: E731\n")
    (root / "syntax.py").write_text("def broken(:\n    pass\n")
    (root / "raises.py").write_text("x = 1\nraise RuntimeError('boom at import')\n")
    return root


def test_compile_quiet_and_verbose(pkg: Path) -> None:
    done = cli(pkg, "compile", "aot_pkg", "-o", "out")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"compiled 4 operators from aot_pkg -> out/aot_pkg_ops_pipelines_plans.py"
                        r" \(\d+ ms\)\n", done.stdout), done.stdout
    quiet = cli(pkg, "compile", "aot_pkg.ops.pipelines", "-o", "out", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == ""
    loud = cli(pkg, "compile", "aot_pkg/ops/pipelines.py", "-o", "out", "-v")
    assert "  aot_pkg.ops.pipelines:Pipeline (structural)\n" in loud.stdout
    assert "  aot_pkg.ops.pipelines:Leafy (eager)\n" in loud.stdout
    assert "wrote " in loud.stdout


def test_show_source_graph_explain(pkg: Path) -> None:
    done = cli(pkg, "show", "aot_pkg.ops.pipelines:Pipeline")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# emberjit plan for Pipeline.forward")
    assert "def Pipeline__forward(self, inputs, *, run):" in done.stdout
    assert "\x1b[" not in done.stdout  # piped: plain text
    mermaid = cli(pkg, "show", "aot_pkg/ops/pipelines.py:Pipeline", "--graph", "mermaid")
    assert mermaid.stdout.startswith("flowchart TD\n") and "L34 -->|first| L35" in mermaid.stdout
    dot = cli(pkg, "show", "aot_pkg.ops.pipelines:both_ways", "--graph", "dot")
    assert dot.stdout.startswith('digraph "both_ways" {')
    explain = cli(pkg, "show", "aot_pkg.ops.pipelines:WithHelper", "--explain")
    assert explain.returncode == 0, explain.stderr
    assert explain.stdout.startswith("WithHelper: mode structural")
    assert "type(self).both is WithHelper.both as compiled" in explain.stdout
    assert "call sites:" in explain.stdout  # explain accounts for every call site here too
    both = cli(pkg, "show", "aot_pkg.ops.pipelines:Pipeline", "--graph", "mermaid", "--explain")
    assert both.returncode == 0, both.stderr  # as the README and docs/cli.md show them
    graph, report = both.stdout.split("\n\n", 1)
    assert graph == mermaid.stdout.rstrip("\n")
    assert report.startswith("Pipeline: mode structural")


def test_compiled_files_have_the_mode_a_plain_open_gives(pkg: Path) -> None:
    done = cli(pkg, "compile", "aot_pkg", "-o", "modes")
    assert done.returncode == 0, done.stderr
    mask = os.umask(0)
    os.umask(mask)
    for written in (pkg / "modes").iterdir():
        assert written.stat().st_mode & 0o777 == 0o666 & ~mask, written  # not -rw------- only


@pytest.mark.parametrize(("args", "message"), [
    (["compile", "no_such_module"], "no module named 'no_such_module'"),
    (["compile", "missing/file.py"], "no such file or directory: 'missing/file.py'"),
    (["compile", "not a name"], "'not a name' is not a module name: expected a .py file"),
    (["show", "aot_pkg.ops.pipelines"], "expected TARGET as pkg.mod:Name or file.py:Name"),
    (["show", "aot_pkg.ops.pipelines:Nope"],
     "module 'aot_pkg.ops.pipelines' has no attribute 'Nope'; it defines: "),
    (["show", "aot_pkg/ops/nofile.py:Pipeline"], "no such file: 'aot_pkg/ops/nofile.py'"),
    (["show", "aot_pkg.ops.pipelines:__doc__"], "is str, not an operator class, an operator"),
    (["show", "aot_pkg.ops.pipelines:Pipeline", "--graph", "png"], "invalid choice: 'png'"),
])
def test_usage_errors_exit_2(pkg: Path, args: list[str], message: str) -> None:
    done = cli(pkg, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stdout == ""


def test_show_instance_is_not_an_error(pkg: Path) -> None:
    done = cli(pkg, "show", "aot_pkg.ops.pipelines:shout")  # a leaf Tag instance
    assert done.returncode == 0, done.stderr
    assert "def Tag__forward" in done.stdout


@pytest.mark.parametrize(("target", "line"), [
    ("broken", r"^.*broken/nosource\.py:6: cannot analyze NoSource"),
    ("syntax.py", r"^.*syntax\.py:1: SyntaxError: "),
    ("raises", r"^.*raises\.py:2: importing raises raised RuntimeError: boom at import$"),
])
def test_compile_failures_exit_1_with_file_line(pkg: Path, target: str, line: str) -> None:
    done = cli(pkg, "compile", target, "-o", "bad")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert re.search(line, done.stderr, re.MULTILINE), done.stderr
    assert not (pkg / "bad").exists()  # nothing written when compiling fails


@pytest.mark.parametrize("command", ["compile", "show"])
def test_help_has_examples(pkg: Path, command: str) -> None:
    done = cli(pkg, command, "--help")
    assert done.returncode == 0
    assert "examples:\n  emberjit " + command in done.stdout
    assert "--quiet" in done.stdout and "--verbose" in done.stdout


def test_console_script_is_the_same_command(pkg: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EMBERJIT_AOT_DIR"}
    done = subprocess.run([str(EMBERJIT), "show", "aot_pkg.ops.pipelines:Pipeline"], cwd=pkg,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == cli(pkg, "show", "aot_pkg.ops.pipelines:Pipeline").stdout
