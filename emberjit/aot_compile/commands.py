"""``emberjit compile`` and ``emberjit show`` (wired into :mod:`emberjit.cli`).

Exit status: 0 on success, 1 when compiling fails (``file:line: message`` lines on stderr, like a
compiler), 2 on a usage error (a target that names nothing: the message says what was expected).
"""

from __future__ import annotations

import argparse
import os
import sys
import types
from typing import Any

from ..aot.common import AotCompileError, AotTargetError

__all__ = ["add_commands", "run_compile", "run_show"]

_COMPILE_EPILOG = """\
examples:
  emberjit compile myapp/pipelines.py -o build/plans   a file
  emberjit compile myapp.pipelines                      a module (plans go to myapp/__emberjit__/)
  emberjit compile myapp/ -o build/plans                a package, recursively
  EMBERJIT_AOT_DIR=build/plans python app.py            run with the plans of build/plans

exit status: 0 compiled, 1 a module or operator failed to compile (file:line: message),
2 usage error (the target names no file, package or module)
"""

_SHOW_EPILOG = """\
examples:
  emberjit show myapp.pipelines:Pipeline                the plan's Python source
  emberjit show myapp/pipelines.py:Pipeline --graph mermaid
  emberjit show myapp.pipelines:Pipeline --explain      mode, reasons, guards, steps

exit status: 0 shown, 1 the operator failed to compile, 2 usage error
"""


def add_commands(commands: Any) -> None:
    """Add ``compile`` and ``show`` to the ``emberjit`` subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    loud = common.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    loud.add_argument("-v", "--verbose", action="store_true",
                      help="also print each operator compiled and where files went")
    comp = commands.add_parser(
        "compile", parents=[common], epilog=_COMPILE_EPILOG,
        help="compile every @jit operator of a file, module or package ahead of time",
        description="Import the target (running no forward), compile every @jit operator class "
                    "and jitted function structurally, and write one readable plan module per "
                    "source module plus manifest.json. Unchanged sources rewrite no file.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    comp.add_argument("target", metavar="PATH_OR_MODULE",
                      help="a .py file, a package directory, or a dotted module name")
    comp.add_argument("-o", "--out", metavar="DIR", default=None,
                      help="output directory (default: __emberjit__/ next to each source module)")
    show = commands.add_parser(
        "show", parents=[common], epilog=_SHOW_EPILOG,
        help="print the plan of one operator (source, graph, or explanation)",
        description="Compile one operator class or function structurally (running nothing) and "
                    "print its plan; highlighted when stdout is a terminal and pygments is "
                    "installed.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("target", metavar="TARGET", help="pkg.mod:Name or file.py:Name")
    show.add_argument("--graph", choices=("mermaid", "dot"), default=None,
                      help="print the step graph in Mermaid or Graphviz DOT instead of the "
                           "source")
    show.add_argument("--explain", action="store_true",
                      help="print the chosen mode, its reasons, call sites, guards and steps "
                           "instead of the source (after the graph, with --graph)")


def _usage(command: str, exc: Exception) -> int:
    print(f"emberjit {command}: error: {exc}", file=sys.stderr)
    return 2


def _failed(exc: AotCompileError) -> int:
    for line in exc.problems:
        print(line, file=sys.stderr)
    return 1


def run_compile(args: argparse.Namespace) -> int:
    from .writer import compile_module

    try:
        result = compile_module(args.target, args.out)
    except AotTargetError as exc:
        return _usage("compile", exc)
    except AotCompileError as exc:
        return _failed(exc)
    if args.verbose:
        for op in result.operators:
            print(f"  {op}")
        for note in result.skipped:
            print(f"  skipped {note}")
        for path in result.files:
            print(f"  wrote {path}")
    if not args.quiet:
        print(result)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from .targets import resolve_object

    try:
        obj, _ = resolve_object(args.target)
        owner, config = _owner(obj, args.target)
    except AotTargetError as exc:
        return _usage("show", exc)
    except AotCompileError as exc:
        return _failed(exc)
    try:
        text = _render(owner, config, args)
    except AotCompileError as exc:
        return _failed(exc)
    if args.graph is None and not args.explain:
        text = _highlight(text)
    print(text)
    return 0


def _owner(obj: Any, target: str) -> tuple[Any, Any]:
    from ..jit.api import JitFunction, JitOperator
    from ..jit.state import JitConfig
    from ..operator import Operator

    if isinstance(obj, JitFunction):
        return obj._emberjit_state.owner, obj._emberjit_state.config
    if isinstance(obj, JitOperator):
        return obj.original, obj._emberjit_state.config
    if isinstance(obj, type) and issubclass(obj, Operator):
        return obj, obj._emberjit_config or JitConfig(mode="structural")
    if isinstance(obj, Operator | types.FunctionType):
        return obj, JitConfig(mode="structural")
    raise AotTargetError(f"{target!r} is {type(obj).__name__}, not an operator class, an "
                         "operator instance or a function")


def _render(owner: Any, config: Any, args: argparse.Namespace) -> str:
    from ..compiler import compile_structural
    from ..errors import EmberJitError
    from ..jit.explain import Explanation
    from ..options import current
    from ..runtime import scheduler_for
    from .writer import _problem

    try:
        plan, _ = compile_structural(owner)
    except EmberJitError as exc:
        raise AotCompileError([_problem(owner, exc)]) from None
    if args.graph is None and not args.explain:
        return str(plan.source).rstrip("\n")
    parts = []
    if args.graph is not None:
        parts.append(plan.to_mermaid() if args.graph == "mermaid" else plan.to_dot())
    if args.explain:
        name = getattr(owner, "__qualname__", type(owner).__qualname__)
        reasons = (f"show: compiled structurally from source (the class's jit mode is "
                   f"{config.mode!r}); nothing ran",)
        parts.append(str(Explanation(
            name=name, mode="structural", reasons=reasons,
            scheduler=scheduler_for(current(), plan.concurrent), sequential=plan.explanations,
            guards=plan.guards, table=plan.table(), sites=plan.sites)))
    return "\n\n".join(parts)


def _highlight(text: str) -> str:
    """Syntax-highlight for a terminal when pygments is installed; plain text otherwise."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    try:
        from pygments import highlight  # type: ignore[import-untyped,unused-ignore]
        from pygments.formatters import (  # type: ignore[import-untyped,unused-ignore]
            TerminalFormatter,
        )
        from pygments.lexers import PythonLexer  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return text
    return str(highlight(text, PythonLexer(), TerminalFormatter())).rstrip("\n")
