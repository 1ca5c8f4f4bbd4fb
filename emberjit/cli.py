"""The ``emberjit`` command (also ``python -m emberjit``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .aot_compile.commands import add_commands as add_aot_commands
from .aot_compile.commands import run_compile, run_show
from .cache.commands import add_commands as add_cache_commands
from .cache.commands import run_cache
from .demo import run_demo

__all__ = ["main"]

_EXAMPLES = """\
examples:
  emberjit demo                          run the demo pipeline (50 ms simulated calls)
  python -m emberjit demo --latency 0.01 --members 5
  emberjit compile myapp/pipelines.py -o build/plans   compile @jit operators ahead of time
  emberjit show myapp.pipelines:Pipeline --explain      print one operator's plan
  emberjit cache info results.db                        what a result cache file holds
"""


def _non_negative_float(text: str) -> float:
    """argparse type: a number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _model_spec(text: str) -> str:
    """argparse type: ``simulated`` or ``openai:NAME``."""
    if text == "simulated" or (text.startswith("openai:") and len(text) > len("openai:")):
        return text
    raise argparse.ArgumentTypeError(f"expected 'simulated' or 'openai:NAME', got {text!r}")


def run_demo_command(args: argparse.Namespace) -> int:
    """``emberjit demo``: on the simulated model, or on ``OpenAIModel`` for ``openai:NAME``."""
    import sys

    if args.model == "simulated":
        if args.base_url is not None:
            print("emberjit demo: --base-url needs --model openai:NAME", file=sys.stderr)
            return 2
        return run_demo(latency=args.latency, n=args.members, show_plan=not args.no_plan)
    from .openai_model import ModelEndpointError, OpenAIModel

    try:
        model = OpenAIModel(args.model.split(":", 1)[1], base_url=args.base_url)
        return run_demo(n=args.members, show_plan=not args.no_plan, model=model)
    except ModelEndpointError as exc:
        print(f"emberjit demo: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="emberjit",
        description="emberjit: a just-in-time and ahead-of-time compiler for compound-AI programs.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a refine/ensemble/vote/judge pipeline eagerly and jitted, and time both",
        description="Run the design page's pipeline (refine, ensemble, vote, judge) on a "
                    "deterministic simulated model, eagerly and jitted (structural mode); print "
                    "the answers, both wall times, the speed-up and the plan.",
        epilog="example:\n  emberjit demo --latency 0.02 --members 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--latency", type=_non_negative_float, default=0.05, metavar="SECONDS",
                      help="simulated latency of each model call (default: %(default)s)")
    demo.add_argument("--members", type=_positive_int, default=10, metavar="N",
                      help="number of ensemble members (default: %(default)s)")
    demo.add_argument("--no-plan", action="store_true",
                      help="do not print the generated plan's source")
    demo.add_argument("--model", type=_model_spec, default="simulated", metavar="SPEC",
                      help="'simulated' (default) or 'openai:NAME': the model NAME on an "
                           "OpenAI-compatible endpoint (needs emberjit[openai]; the key comes "
                           "from OPENAI_API_KEY)")
    demo.add_argument("--base-url", default=None, metavar="URL",
                      help="the endpoint of --model openai:NAME, e.g. "
                           "http://localhost:11434/v1 (default: OPENAI_BASE_URL, else OpenAI's)")
    bench = commands.add_parser(
        "bench",
        help="run the benchmarks (needs a source checkout and the bench extra)",
        description="Run benchmarks/ from a source checkout (the current directory): every "
                    "workload against eager, hand-written threads/asyncio and dask; prints a "
                    "table, writes benchmarks/results/latest.json and docs/perf_fanout_width.png.",
        epilog="example:\n  pip install -e '.[bench]' && emberjit bench --quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--quick", action="store_true", help="fewer repeats (not for the docs)")
    bench.add_argument("--only", nargs="+", default=(), metavar="NAME",
                       help="fanout nested wide chain compile width (default: all)")
    add_aot_commands(commands)  # compile, show
    add_cache_commands(commands)  # cache info, cache clear
    return parser


def run_bench(quick: bool, only: Sequence[str]) -> int:
    """``emberjit bench``: run ``benchmarks.run.main`` from the checkout in the current dir."""
    import importlib
    import importlib.util
    import os
    import sys

    missing = [m for m in ("dask", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"emberjit bench: missing the bench extra ({', '.join(missing)}); install it with "
              "pip install -e '.[bench]' (or run make bench)", file=sys.stderr)
        return 2
    if os.path.isfile(os.path.join("benchmarks", "__init__.py")) and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        runner = importlib.import_module("benchmarks.run")
    except ImportError as exc:
        print(f"emberjit bench: cannot import the benchmarks package ({exc}); run it from the "
              "root of an emberjit source checkout (the directory holding benchmarks/)",
              file=sys.stderr)
        return 2
    argv = (["--quick"] if quick else []) + (["--only", *only] if only else [])
    return int(runner.main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits 2 on bad usage)."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return run_demo_command(args)
    if args.command == "bench":
        return run_bench(args.quick, args.only)
    if args.command == "compile":
        return run_compile(args)
    if args.command == "show":
        return run_show(args)
    if args.command == "cache":
        return run_cache(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects the rest
