"""Ahead-of-time plans (emberjit/aot): compile a copy of tests/aot_pkg, then load the plans in fresh
processes: no libcst at call time, plan_origin "aot", stale and corrupted plans refused."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import emberjit
from emberjit.compiler.artifact import PlanCode

HERE = Path(__file__).resolve().parent
PLANS = "aot_pkg_ops_pipelines_plans.py"
PIPELINES = Path("aot_pkg/ops/pipelines.py")


def run(cwd: Path, *args: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python *args`` in ``cwd``; EMBERJIT_AOT_DIR only when ``env`` sets it."""
    full = {k: v for k, v in os.environ.items() if k != "EMBERJIT_AOT_DIR"}
    full.update(env or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    """A private copy of the fixture package (tests edit it)."""
    shutil.copytree(HERE / "aot_pkg", tmp_path / "aot_pkg",
                    ignore=shutil.ignore_patterns("__pycache__", "__emberjit__"))
    return tmp_path


def compile_(cwd: Path, out: str = "plans") -> subprocess.CompletedProcess[str]:
    done = run(cwd, "-m", "emberjit", "compile", "aot_pkg", "-o", out)
    assert done.returncode == 0, done.stderr
    return done


# Runs in a fresh process: first call of each root from the plans, libcst never imported.
CHECK = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error")
    from aot_pkg.ops.pipelines import Pipeline, WithHelper, Leafy, both_ways
    from emberjit import get_jit_stats
    p = Pipeline(n=3)
    assert p({"text": "x"}) == {"text": "last(m0(first(x))+m1(first(x))+m2(first(x)))"}
    assert "libcst" not in sys.modules, "libcst imported by the first call"
    assert WithHelper()({"text": "y"}) == {"text": "a(y)+b(y)"}
    assert Leafy()({"text": "q"}) == {"text": "Q"}
    assert both_ways({"text": "z"}) == {"text": "shout(z)|whisper(z)"}
    assert both_ways({"text": "z"}) == {"text": "shout(z)|whisper(z)"}
    assert "libcst" not in sys.modules
    origins = [get_jit_stats(o).plan_origin for o in (p, both_ways)]
    assert origins == ["aot", "aot"], origins
    assert get_jit_stats(p).compiles == 0
    print("ok")
""")


def test_compile_writes_plan_module_and_manifest(pkg: Path) -> None:
    done = compile_(pkg)
    assert done.stdout.startswith(
        f"compiled 4 operators from aot_pkg -> {os.path.join('plans', PLANS)} (")
    manifest = json.loads((pkg / "plans" / "manifest.json").read_text())
    assert manifest["emberjit"] == emberjit.__version__
    entry = manifest["modules"]["aot_pkg.ops.pipelines"]
    assert entry["plans"] == PLANS and entry["source"] == "aot_pkg/ops/pipelines.py"
    assert sorted(entry["operators"]) == ["Leafy", "Pipeline", "WithHelper", "both_ways"]
    assert entry["operators"]["WithHelper"]["methods"] == ["forward", "both"]
    assert entry["operators"]["Leafy"]["mode"] == "eager"
    assert "aot_pkg.ops.pipelines:Fanout" in entry["children"]  # composite child: its own plan
    # the plan sha256 in the manifest is the hash of the plan text in the module
    namespace: dict[str, object] = {}
    exec((pkg / "plans" / PLANS).read_text(), namespace)
    plan = namespace["PLANS"]["Pipeline"]  # type: ignore[index]
    source = plan["plan"]["source"]  # the plan artifact as data (PlanCode.to_dict)
    assert source.startswith("# emberjit plan for Pipeline.forward")
    assert hashlib.sha256(source.encode()).hexdigest() == (
        entry["operators"]["Pipeline"]["plan_sha256"])
    stored = PlanCode.from_dict(plan["plan"])  # read back as it was written
    assert stored.source == source and stored.methods == ("forward",)
    assert stored.steps and {s.kind for s in stored.steps} >= {"call"}


def test_recompile_is_byte_identical_and_rewrites_nothing(pkg: Path) -> None:
    compile_(pkg)
    files = sorted((pkg / "plans").iterdir())
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}
    compile_(pkg)
    assert sorted((pkg / "plans").iterdir()) == files  # no temp files left behind
    assert {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files} == before


def test_plans_load_in_fresh_process_without_libcst(pkg: Path) -> None:
    compile_(pkg)
    done = run(pkg, "-c", CHECK, env={"EMBERJIT_AOT_DIR": str(pkg / "plans")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_default_directory_next_to_the_source(pkg: Path) -> None:
    done = run(pkg, "-m", "emberjit", "compile", "aot_pkg/ops/pipelines.py")
    assert done.returncode == 0, done.stderr
    assert (pkg / "aot_pkg/ops/__emberjit__" / PLANS).is_file()
    done = run(pkg, "-c", CHECK)
    assert done.returncode == 0, done.stderr


def test_aot_dir_option_and_jit_without_plans(pkg: Path) -> None:
    compile_(pkg, "elsewhere")
    script = textwrap.dedent("""
        import sys
        from emberjit import jit, get_jit_stats
        from aot_pkg.ops.pipelines import Pipeline
        p = jit(Pipeline(n=2), aot_dir="elsewhere")
        assert p({"text": "x"}) == {"text": "last(m0(first(x))+m1(first(x)))"}
        print(get_jit_stats(p).plan_origin, get_jit_stats(p).compiles)
        q = Pipeline(n=2)  # @jit, no aot_dir, nothing in the default place: jit in process
        assert q({"text": "x"}) == {"text": "last(m0(first(x))+m1(first(x)))"}
        print(get_jit_stats(q).plan_origin, "libcst" in sys.modules)
    """)
    done = run(pkg, "-W", "error", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["aot 0", "jit True"]


STALE_CHECK = textwrap.dedent("""
    import warnings
    from aot_pkg.ops.pipelines import Pipeline
    from emberjit import get_jit_stats
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = Pipeline(n=2)
        first = p({"text": "x"})
        second = Pipeline(n=2)({"text": "x"})
    assert first == second, (first, second)
    print(first["text"])
    print(get_jit_stats(p).plan_origin)
    print(len([w for w in caught if w.category is RuntimeWarning]))
    print(caught[0].message)
    print(caught[0].filename, caught[0].lineno)
""")


def test_stale_plan_is_detected_and_never_run(pkg: Path) -> None:
    compile_(pkg)
    source = pkg / PIPELINES
    text = source.read_text()
    assert text.count("return self.last(joined)") == 1
    source.write_text(text.replace("return self.last(joined)", "return self.first(joined)"))
    done = run(pkg, "-c", STALE_CHECK, env={"EMBERJIT_AOT_DIR": str(pkg / "plans")})
    assert done.returncode == 0, done.stderr
    answer, origin, warned, message, where = done.stdout.strip().split("\n")
    assert answer == "first(m0(first(x))+m1(first(x)))"  # the edited source ran
    assert origin == "jit"
    assert warned == "1"  # once, not per instance or per call
    assert where == "<string> 8"  # the user's call, not a line of emberjit
    assert str(pkg / "plans" / PLANS) in message and "stale" in message
    fix = message.split("Fix: ", 1)[1]
    assert fix == f"cd {pkg} && emberjit compile aot_pkg.ops.pipelines -o {pkg / 'plans'}"
    cmd = fix.replace("emberjit compile", f"{sys.executable} -m emberjit compile")
    fixed = subprocess.run(cmd, shell=True, cwd="/", capture_output=True, text=True,
                           timeout=120)  # the fix the warning names, from another directory
    assert fixed.returncode == 0, fixed.stderr
    done = run(pkg, "-c", STALE_CHECK, env={"EMBERJIT_AOT_DIR": str(pkg / "plans")})
    assert done.stdout.strip().split("\n")[1:3] == ["aot", "0"], done.stdout


@pytest.mark.parametrize("damage", ["edit_plan", "truncate", "manifest", "old_format"])
def test_corrupted_plan_is_refused(pkg: Path, damage: str) -> None:
    compile_(pkg)
    plans, manifest = pkg / "plans" / PLANS, pkg / "plans" / "manifest.json"
    if damage == "edit_plan":
        text = plans.read_text()
        line = "    return run.submit(self.last, joined)\n"
        assert line in text  # PLAN_0 is the root plan of Pipeline
        plans.write_text(text.replace(line, "    return {'text': 'hacked'}\n", 1))
    elif damage == "truncate":
        plans.write_text(plans.read_text()[:500])
    elif damage == "old_format":  # plans written before a plan was its artifact as data
        assert '"format": 3' in manifest.read_text()
        manifest.write_text(manifest.read_text().replace('"format": 3', '"format": 2'))
    else:
        manifest.write_text("{not json")
    done = run(pkg, "-c", STALE_CHECK, env={"EMBERJIT_AOT_DIR": str(pkg / "plans")})
    assert done.returncode == 0, done.stderr
    answer, origin, warned, message, where = done.stdout.strip().split("\n")
    assert answer == "last(m0(first(x))+m1(first(x)))" and where == "<string> 8"
    assert origin == "jit" and warned == "1"
    assert str(plans) in message and "emberjit compile" in message
    assert ("corrupted" in message) or ("unreadable" in message) or (
        "plans format 1; this emberjit reads format 2" in message)


def test_load_plan_helpers_in_process() -> None:
    from emberjit.aot import owner_source_sha256
    from emberjit.demo import Pipeline

    first = owner_source_sha256(Pipeline, ("forward",))
    assert len(first) == 64 and first == owner_source_sha256(Pipeline, ("forward",))
    assert owner_source_sha256(Pipeline, ("forward", "no_such_method")) == ""
