"""Differential fuzzing: random operator programs run eagerly and jitted must agree.

``python -m tests.fuzz --n 10000 [--jobs 2]`` (or ``make fuzz N=10000``) runs until N programs or
Ctrl-C; ``tests/fuzz/test_fuzz.py`` runs a time-bounded sample under ``make test``. Modules:
``generator``, ``statements`` and ``idioms`` (programs from a stream of choices), ``leaves``
(the leaf operators and the call bookkeeping), ``runner`` (eager vs jitted, shrinking, saved
cases), ``jobs`` (the loop, in worker processes).
"""
