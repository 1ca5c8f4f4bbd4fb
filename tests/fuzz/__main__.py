"""``python -m tests.fuzz [--n N] [--seed S] [--no-shrink]``: fuzz until N programs or Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time

from .generator import RandomChooser, generate
from .runner import check_source, save_regression, shrink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("--n", type=int, default=0, help="programs to check (0: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="first seed")
    parser.add_argument("--no-shrink", action="store_true", help="save failures unshrunk")
    args = parser.parse_args(argv)
    start, checked, divergent = time.perf_counter(), 0, 0
    seed = args.seed
    print(f"fuzzing from seed {seed} ({args.n or 'until Ctrl-C'} programs)", flush=True)
    try:
        while not args.n or checked < args.n:
            chooser = RandomChooser(seed)
            source = generate(chooser)
            problems = check_source(source)
            checked += 1
            if problems:
                divergent += 1
                if not args.no_shrink:
                    _, source = shrink(chooser.record)
                    problems = check_source(source) or problems
                path = save_regression(source, problems)
                print(f"DIVERGENCE seed {seed}: {problems[0][:300]}\n  saved {path}", flush=True)
            seed += 1
            if checked % 100 == 0:
                rate = checked / (time.perf_counter() - start)
                print(f"{checked} programs, {rate:.1f}/s, {divergent} divergent", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    elapsed = time.perf_counter() - start
    print(f"done: {checked} programs in {elapsed:.1f} s ({checked / max(elapsed, 1e-9):.1f}/s), "
          f"{divergent} divergent; next seed {seed}")
    return 1 if divergent else 0


if __name__ == "__main__":
    sys.exit(main())
