"""Every ast conversion emberjit makes holds one lock (emberjit.pyast): CPython 3.11 corrupts the
AST converter's state when two threads convert at once ("SystemError: AST constructor recursion
depth mismatch"), which the fuzzer met when the traceback pass compiled plans on worker threads."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from emberjit.compiler.origins import compile_parts

PACKAGE = Path(__file__).resolve().parent.parent / "emberjit"


def _unlocked_conversions(path: Path) -> list[int]:
    """Lines of ``path`` that call ast.parse, or compile() on something not a plain string."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Attribute) and fn.attr == "parse" and \
                isinstance(fn.value, ast.Name) and fn.value.id == "ast":
            found.append(node.lineno)
        first = node.args[0] if node.args else None
        if isinstance(fn, ast.Name) and fn.id == "compile" and isinstance(first, ast.Call) and \
                isinstance(first.func, ast.Attribute) and isinstance(first.func.value, ast.Name) \
                and first.func.value.id == "ast":
            found.append(node.lineno)  # compile(ast.Module(...), ...)
    return found


def test_no_module_converts_ast_outside_the_lock() -> None:
    offenders = {str(p.relative_to(PACKAGE)): lines for p in PACKAGE.rglob("*.py")
                 if p.name != "pyast.py" and (lines := _unlocked_conversions(p))}
    assert offenders == {}, "use emberjit.pyast.parse / compile_tree (they hold AST_LOCK)"


def test_plans_compile_on_many_threads_at_once() -> None:
    source = "\n\n".join(f"# app.py:{i}  f{i}\ndef f{i}(x):\n    # app.py:{i + 1}  y = x\n"
                         f"    return [x, {{'k': (x, [x, (x,)])}}, {i}]" for i in range(1, 60, 2))
    errors: list[BaseException] = []

    def compile_many() -> None:
        try:
            for _ in range(40):
                for code in compile_parts(source, "<plan>", {"app.py": "/srv/app.py"}):
                    assert code.co_filename in ("/srv/app.py", "<plan>")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=compile_many) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
