"""Tests of emberjit/demo.py, emberjit/cli.py and ``python -m emberjit``."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from emberjit.cli import main
from emberjit.demo import run_demo


def test_run_demo_prints_answer_and_wall_time() -> None:
    out = io.StringIO()
    assert run_demo(out, latency=0.001) == 0
    text = out.getvalue()
    assert "model: SimulatedModel(name='simulated', latency=0.001, seed=0) (1 ms per call)" in text
    assert ("eager: 1 refine + 10 ensemble members + vote + judge, sequential (12 model calls)"
            in text)
    assert "  answer: Answer-07b3e4b6: on 'What is machine learning?'\n" in text
    assert "  votes: 7/10\n" in text
    match = re.search(r"wall time: (\d+\.\d) ms", text)
    assert match is not None
    assert float(match.group(1)) >= 12 * 1.0  # twelve sequential 1 ms calls


def test_run_demo_runs_jitted_side_by_side() -> None:
    out = io.StringIO()
    assert run_demo(out, latency=0.02, n=6) == 0
    text = out.getvalue()
    assert "jit (mode=structural)" in text
    answers = re.findall(r"  answer: (.*)\n", text)
    assert len(answers) == 2 and answers[0] == answers[1]
    times = [float(t) for t in re.findall(r"wall time: (\d+\.\d) ms", text)]
    assert len(times) == 2
    eager_ms, jit_ms = times
    assert eager_ms >= 8 * 20.0  # eight sequential 20 ms calls
    assert jit_ms < eager_ms  # six of the calls overlap
    speedup = re.search(r"speed-up: (\d+\.\d)x", text)
    assert speedup is not None and float(speedup.group(1)) > 1.0
    assert "same answer: yes" in text
    assert "plan:\n  # emberjit plan for Pipeline.forward (emberjit/demo.py:" in text
    assert "run.submit(self.ensemble, refined" in text


def test_run_demo_without_plan() -> None:
    out = io.StringIO()
    assert run_demo(out, latency=0, n=2, show_plan=False) == 0
    text = out.getvalue()
    assert "same answer: yes" in text and "plan:" not in text and "run.submit" not in text


def test_run_demo_members() -> None:
    out = io.StringIO()
    assert run_demo(out, latency=0, n=3) == 0
    assert "1 refine + 3 ensemble members + vote + judge, sequential (5 model calls)" in (
        out.getvalue())


def test_main_demo_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--latency", "0", "--members", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 ensemble members" in text and "# emberjit plan for" in text
    assert main(["demo", "--latency", "0", "--members", "2", "--no-plan"]) == 0
    text = capsys.readouterr().out
    assert "same answer: yes" in text and "# emberjit plan for" not in text


@pytest.mark.parametrize("argv", [["demo", "--members", "0"], ["demo", "--latency", "-1"],
                                  ["demo", "--latency", "fast"], [], ["nosuch"]])
def test_main_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: emberjit" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "python -m emberjit demo --latency 0.01 --members 5" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "emberjit demo --latency 0.02 --members 5" in capsys.readouterr().out


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emberjit", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_python_m_emberjit_demo() -> None:
    done = _run("demo", "--latency", "0.001")
    assert done.returncode == 0, done.stderr
    assert "answer: Answer-" in done.stdout
    assert "wall time:" in done.stdout
    assert "same answer: yes" in done.stdout


def test_python_m_emberjit_unknown_subcommand() -> None:
    done = _run("nosuch")
    assert done.returncode == 2
    assert "invalid choice: 'nosuch'" in done.stderr
