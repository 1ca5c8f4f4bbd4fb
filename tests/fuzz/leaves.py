"""The leaf operators every generated fuzz program uses (imported, not copied, by each
program and each saved regression case)."""

import time

from emberjit import Operator

LOG: list[tuple[int, int]] = []


class Inc(Operator):
    def __init__(self, k, delay=0.0):
        self.k, self.delay = k, delay

    def forward(self, x):
        if self.delay:
            time.sleep(self.delay)
        return (x * 3 + self.k) % 1009


class Digits(Operator):
    def __init__(self, k, delay=0.0):
        self.k, self.delay = k, delay

    def forward(self, inputs):
        if self.delay:
            time.sleep(self.delay)
        text = str(inputs) * (self.k % 3 + 1)
        return sum(int(c) for c in text if c.isdigit()) + self.k


class Boom(Operator):
    def __init__(self, k, m, kind):
        self.k, self.m, self.kind = k, m, kind

    def forward(self, x):
        if x % self.m == 0:
            raise self.kind(f"boom {self.k} on {x % self.m}")
        return 100 // (x % self.m) + self.k


class Log(Operator):
    pure = False

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        LOG.append((self.k, x))
        return x + self.k


class Agg(Operator):
    def __init__(self, k):
        self.k = k

    def forward(self, xs):
        if isinstance(xs, dict):
            xs = [xs[key] for key in sorted(xs)]
        if isinstance(xs, int):
            return xs + self.k
        return (sum(xs) * 7 + len(xs) + self.k) % 1009
