"""The ``emberjit`` command (also ``python -m emberjit``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .demo import run_demo

__all__ = ["main"]

_EXAMPLES = """\
examples:
  emberjit demo                          run the demo pipeline (50 ms simulated calls)
  python -m emberjit demo --latency 0.01 --members 5
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
        help="run a refine/ensemble/vote/judge pipeline on a simulated model and time it",
        description="Run the design page's pipeline (refine, ensemble, vote, judge) on a "
                    "deterministic simulated model and print the answer and the wall time.",
        epilog="example:\n  emberjit demo --latency 0.02 --members 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--latency", type=_non_negative_float, default=0.05, metavar="SECONDS",
                      help="simulated latency of each model call (default: %(default)s)")
    demo.add_argument("--members", type=_positive_int, default=10, metavar="N",
                      help="number of ensemble members (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits 2 on bad usage)."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return run_demo(latency=args.latency, n=args.members)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects the rest
