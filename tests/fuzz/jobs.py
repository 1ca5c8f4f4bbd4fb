"""The fuzzing loop of ``python -m tests.fuzz``, in this process or in worker processes.

With J jobs, worker i checks seeds S+i, S+i+J, ... (a module of its own, not ``__main__``, so
spawned workers can import it)."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from typing import Any

from .generator import RandomChooser, generate
from .runner import check_source, save_regression, shrink

__all__ = ["run_jobs", "work"]


def work(worker: int, jobs: int, n: int, seed: int, no_shrink: bool,
         counts: Any = None) -> tuple[int, int]:
    """Check this worker's share of the N programs from ``seed`` on (all of them until Ctrl-C
    when N is 0), printing divergences and progress; (checked, divergent), also kept up to date
    in ``counts[2 * worker]`` and ``counts[2 * worker + 1]`` when given."""
    share = n // jobs + (worker < n % jobs) if n else 0
    parent = os.getppid() if counts is not None else None
    tag = f"[worker {worker}] " if jobs > 1 else ""
    start, checked, divergent = time.perf_counter(), 0, 0
    seed += worker
    try:
        while (not n or checked < share) and parent in (None, os.getppid()):
            chooser = RandomChooser(seed)
            source = generate(chooser)
            problems = check_source(source)
            checked += 1
            if problems:
                divergent += 1
                if not no_shrink:
                    _, source = shrink(chooser.record)
                    problems = check_source(source) or problems
                path = save_regression(source, problems)
                print(f"{tag}DIVERGENCE seed {seed}: {problems[0][:300]}\n  saved {path}",
                      flush=True)
            if counts is not None:
                counts[2 * worker], counts[2 * worker + 1] = checked, divergent
            seed += jobs
            if checked % 100 == 0:
                rate = checked / (time.perf_counter() - start)
                print(f"{tag}{checked} programs, {rate:.1f}/s, {divergent} divergent", flush=True)
    except KeyboardInterrupt:
        print(f"{tag}interrupted", flush=True)
    return checked, divergent


def _wait(procs: list[Any], grace: float = 15.0) -> None:
    """Wait for the workers; after Ctrl-C (which they get too) give them ``grace`` s to stop
    before terminating them. (A worker whose parent is gone stops by itself.)"""
    deadline = math.inf
    while any(proc.is_alive() for proc in procs):
        try:
            time.sleep(0.2)
        except KeyboardInterrupt:
            deadline = min(deadline, time.monotonic() + grace)
        if time.monotonic() > deadline:
            for proc in procs:
                proc.terminate()
    for proc in procs:
        proc.join()


def run_jobs(jobs: int, n: int, seed: int, no_shrink: bool) -> tuple[int, int]:
    """:func:`work` in ``jobs`` spawned processes; the summed (checked, divergent), counted as
    the workers go (so a worker that dies still counts what it checked)."""
    ctx = multiprocessing.get_context("spawn")
    counts = ctx.Array("q", 2 * jobs)
    procs = [ctx.Process(target=work, args=(i, jobs, n, seed, no_shrink, counts))
             for i in range(jobs)]
    for proc in procs:
        proc.start()
    _wait(procs)
    codes = {i: proc.exitcode for i, proc in enumerate(procs) if proc.exitcode}
    if codes:
        print(f"workers ended with exit codes {codes} (see above)", flush=True)
    return sum(counts[0::2]), sum(counts[1::2])
