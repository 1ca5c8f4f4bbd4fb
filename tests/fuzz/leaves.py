"""The leaf operators every generated fuzz program uses (imported, not copied, by each
program and each saved regression case), and the bookkeeping the runner compares.

Every leaf call is counted in ``CALLS`` under its instance's key: class, constructor arguments
and a serial in order of construction (:func:`new_root` restarts the serials, so the leaves of
two roots built the same way get the same keys). ``running()`` is the number of leaf calls in
progress; ``failures()`` the number of leaf calls that raised since :func:`reset_run`.
"""

import threading
import time
from collections import Counter
from contextlib import contextmanager

from emberjit import Operator

LOG: list[tuple[int, int]] = []
#: calls per leaf instance since :func:`reset_run`
CALLS: Counter[str] = Counter()

_lock = threading.Lock()
_state = {"serial": 0, "running": 0, "failed": 0}


def new_root() -> None:
    """Restart the construction serials: call just before building a root."""
    with _lock:
        _state["serial"] = 0


def reset_run() -> None:
    """Forget the log, the call counts and the failures (not the calls still running)."""
    with _lock:
        LOG.clear()
        CALLS.clear()
        _state["failed"] = 0


def running() -> int:
    return _state["running"]


def failures() -> int:
    return _state["failed"]


def settle(timeout: float = 2.0) -> int:
    """Wait (up to ``timeout`` s) for leaf calls still running; the number left."""
    deadline = time.monotonic() + timeout
    while _state["running"] and time.monotonic() < deadline:
        time.sleep(0.001)
    return _state["running"]


def _short(arg: object) -> str:
    return arg.__name__ if isinstance(arg, type) else repr(arg)


def _register(op: Operator, *args: object) -> None:
    with _lock:
        serial = _state["serial"]
        _state["serial"] += 1
    op.key = f"{type(op).__name__}({', '.join(map(_short, args))})#{serial}"


@contextmanager
def _tracked(op: Operator):
    with _lock:
        CALLS[op.key] += 1
        _state["running"] += 1
    try:
        yield
    except Exception:
        with _lock:
            _state["failed"] += 1
        raise
    finally:
        with _lock:
            _state["running"] -= 1


def _weigh(value: object) -> int:
    """The ints in ``value`` (an int, or lists and dicts of them, nested), summed and mixed."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return sum(_weigh(item) for item in value) * 3 + len(value)
    return value if isinstance(value, int) else 0


class Inc(Operator):
    def __init__(self, k, delay=0.0):
        self.k, self.delay = k, delay
        _register(self, k, delay)

    def forward(self, x):
        with _tracked(self):
            if self.delay:
                time.sleep(self.delay)
            return (x * 3 + self.k) % 1009


class Slow(Operator):
    def __init__(self, k, delay=0.002):
        self.k, self.delay = k, delay
        _register(self, k, delay)

    def forward(self, x):
        with _tracked(self):
            time.sleep(self.delay)
            return (x * 5 + self.k) % 1009


class Digits(Operator):
    def __init__(self, k, delay=0.0):
        self.k, self.delay = k, delay
        _register(self, k, delay)

    def forward(self, inputs):
        with _tracked(self):
            if self.delay:
                time.sleep(self.delay)
            text = str(inputs) * (self.k % 3 + 1)
            return sum(int(c) for c in text if c.isdigit()) + self.k


class Peek(Operator):
    """Takes an int, list or dict; reads its *current* contents after sleeping ``delay``."""

    def __init__(self, k, delay=0.0):
        self.k, self.delay = k, delay
        _register(self, k, delay)

    def forward(self, inputs):
        with _tracked(self):
            if self.delay:
                time.sleep(self.delay)
            return (_weigh(inputs) + self.k) % 1009


class Named(Operator):
    """An operator with named inputs, called as ``op(x)``, ``op(x=x)``, ``op(x, y)``,
    ``op(x, y=z, scale=2)`` or ``op(*[x, 1])``."""

    def __init__(self, k, delay=0.0):
        self.k, self.delay = k, delay
        _register(self, k, delay)

    def forward(self, x, y=0, *, scale=1):
        with _tracked(self):
            if self.delay:
                time.sleep(self.delay)
            return (x * 3 + y * 5 + scale + self.k) % 1009


class Pair(Operator):
    def __init__(self, k):
        self.k = k
        _register(self, k)

    def forward(self, x):
        with _tracked(self):
            return {"v": (x * 7 + self.k) % 1009, "w": (x + self.k) % 1009}


class Boom(Operator):
    def __init__(self, k, m, kind):
        self.k, self.m, self.kind = k, m, kind
        _register(self, k, m, kind)

    def forward(self, x):
        with _tracked(self):
            if x % self.m == 0:
                raise self.kind(f"boom {self.k} on {x % self.m}")
            return 100 // (x % self.m) + self.k


class Log(Operator):
    pure = False

    def __init__(self, k):
        self.k = k
        _register(self, k)

    def forward(self, x):
        with _tracked(self):
            LOG.append((self.k, x))
            return x + self.k


class Agg(Operator):
    def __init__(self, k):
        self.k = k
        _register(self, k)

    def forward(self, xs):
        with _tracked(self):
            if isinstance(xs, dict):
                xs = [xs[key] for key in sorted(xs)]
            if isinstance(xs, int):
                return xs + self.k
            return (sum(xs) * 7 + len(xs) + self.k) % 1009
