"""``python -m tests.fuzz [--n N] [--seed S] [--jobs J] [--no-shrink]``: fuzz until N programs
or Ctrl-C, in J worker processes splitting the seeds (worker i checks S+i, S+i+J, ...)."""

from __future__ import annotations

import argparse
import sys
import time

from .jobs import run_jobs, work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("--n", type=int, default=0, help="programs to check (0: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="first seed")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no-shrink", action="store_true", help="save failures unshrunk")
    args = parser.parse_args(argv)
    jobs = max(1, args.jobs)
    print(f"fuzzing from seed {args.seed} ({args.n or 'until Ctrl-C'} programs, "
          f"{jobs} job{'s' if jobs > 1 else ''})", flush=True)
    start = time.perf_counter()
    if jobs == 1:
        checked, divergent = work(0, 1, args.n, args.seed, args.no_shrink)
    else:
        checked, divergent = run_jobs(jobs, args.n, args.seed, args.no_shrink)
    elapsed = time.perf_counter() - start
    print(f"done: {checked} programs in {elapsed:.1f} s ({checked / max(elapsed, 1e-9):.1f}/s), "
          f"{divergent} divergent", flush=True)
    return 1 if divergent else 0


if __name__ == "__main__":
    sys.exit(main())
