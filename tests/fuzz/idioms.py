"""Statement kinds of "ordinary code" around operator calls (see :mod:`tests.fuzz.statements`).

Each kind takes the :class:`~tests.fuzz.statements.Body` being generated and ``nest`` and
returns source lines, the simplest variant at choice 0. They exercise named-input call sites
(``self.named(x, y=z, scale=2)``, a composite ``self.inner`` whose forward is
``forward(self, x, y=0)`` called as ``self.inner(x=x)``), glue code on a pending result before
an independent call (continuations), per-item post-processing in comprehensions and loops,
call sites whose argument is built by glue (``self.agg([y + 1, z - 1])``), local aliases of
operator collections and literal operator lists, sampling over ``range``, a generator
expression reusing a loop's variable name, calls inside conditional expressions and boolean
operators (started only where eager reaches them, the impure ``self.log`` too), ``+=`` on
a string between calls, updates of one local over a loop's results (a running best, ``+=``),
rounds of lists rebuilt from the last, a static method applied to results, loops whose
body waits on its own call (started before the loop), and one-expression functions defined in
forward. ``IDIOMS`` lists them by the name ``DISABLED`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .statements import Body


def named(b: Body, nest: int) -> list[str]:
    """Keyword call sites: the leaf ``self.named`` (``forward(self, x, y=0, *, scale=1)``) and
    the composite ``self.inner`` (``forward(self, x, y=0)``)."""
    c = b.c
    variant = c.choose(7)
    if variant >= 5:
        b.needs.add("inner")
        return [("x = self.inner(x=x)", "x = self.inner(x, y=3)")[variant - 5]]
    b.needs.add("named")
    if variant < 3:
        return [("x = self.named(x)", "x = self.named(x=x)", "x = self.named(*[x, 1])")[variant]]
    y = b.fresh("y")
    if variant == 3:
        return [f"{y} = self.b(x)", f"x = self.named(x, {y})"]
    return [f"{y} = self.a(x + 1)", f"x = self.named(x, y={y}, scale=2)"]


def glue(b: Body, nest: int) -> list[str]:
    """Ordinary code on a pending result, then an independent call, then both used."""
    c = b.c
    y, z, w = b.fresh("y"), b.fresh("z"), b.fresh("w")
    lines = [f"{y} = {b.invoke('a', 'x')}"]
    variant = c.choose(3)
    if variant == 0:
        lines.append(f"{z} = {y} * 2 + 1")
    elif variant == 1:
        lines.append(f"{z} = abs({y} - 7) % 97")
    else:
        t = b.fresh("t")
        lines += [f"{t} = str({y}).strip()", f"{z} = int({t}[:3] or 0)"]
    lines.append(f"{w} = {b.invoke('b', 'x')}")
    lines.append(c.pick((f"x = ({z} + {w}) % 1009", f"x = self.agg([{z}, {w}, x])")))
    return lines


def postproc(b: Body, nest: int) -> list[str]:
    """Each item's result post-processed as it is produced."""
    variant = b.c.choose(4)
    if variant == 3:
        d = b.fresh("d")
        return [f"{d} = {{k: op(x) * 2 for k, op in self.ops.items()}}", b.reduce(d)]
    ys = b.fresh("ys")
    if variant == 0:
        return [f"{ys} = [m(x) % 7 for m in self.members]", b.reduce(ys)]
    if variant == 1:
        return [f"{ys} = [m(x + i) for i, m in enumerate(self.members)]", b.reduce(ys)]
    return [f"{ys} = []", "for m in self.members:", f"    {ys}.append(m(x) + 1)", b.reduce(ys)]


def glue_arg(b: Body, nest: int) -> list[str]:
    """A call whose argument is built by glue code from pending results, or holds what a
    helper method returns (``self.agg([self._half(y), z])``)."""
    y = b.fresh("y")
    variant = b.c.choose(3)
    if variant == 0:
        return [f"{y} = self.a(x)", f"x = self.b({y} % 13)"]
    z = b.fresh("z")
    if variant == 1:
        return [f"{y} = self.a(x)", f"{z} = self.b(x + 1)", f"x = self.agg([{y} + 1, {z} - 1])"]
    b.needs.add("_half")
    return [f"{y} = self.a(x)", f"{z} = self.b(x + 1)", f"x = self.agg([self._half({y}), {z}])"]


def alias(b: Body, nest: int) -> list[str]:
    """A local alias of ``self.members``, a literal list of (operator, bump) pairs, a tuple."""
    variant = b.c.choose(3)
    if variant == 0:
        ys = b.fresh("ys")
        return ["members = self.members", f"{ys} = [m(x) for m in members]", b.reduce(ys)]
    if variant == 1:
        acc = b.fresh("acc")
        return [f"{acc} = []", "for op, bump in [(self.a, 1), (self.b, 2)]:",
                f"    {acc}.append(op(x + bump))", b.reduce(acc)]
    ws = b.fresh("ws")
    return [f"{ws} = [w(x) for w in (self.a, self.b)]", b.reduce(ws)]


def ranged(b: Body, nest: int) -> list[str]:
    """One operator sampled over ``range``."""
    c = b.c
    ys = b.fresh("ys")
    attr, count = c.pick(("a", "b")), c.choose(3) + 1
    return [f"{ys} = [self.{attr}(x + i) for i in range({count})]", b.reduce(ys)]


def reuse(b: Body, nest: int) -> list[str]:
    """A generator expression whose ``m`` is not the loop's ``m`` (still bound after it)."""
    out = b.fresh("out")
    lines = [f"{out} = []", "for m in self.members:", f"    {out}.append(m(x))"]
    if b.c.choose(2):
        return [*lines, f"x = (sum(m % 5 for m in {out}) + m(x)) % 1009"]
    return [*lines, f"x = sum(m % 5 for m in {out}) % 1009"]


def condexpr(b: Body, nest: int) -> list[str]:
    """Calls in conditional expressions and ``and``/``or``: only the branch eager takes runs."""
    c = b.c
    variant = c.choose(4)
    if variant == 0:
        return ["x = self.a(x) if x % 2 else self.b(x)"]
    if variant == 1:
        return ["x = (x % 3 == 0 and self.a(x)) or self.b(x + 1)"]
    if variant == 2:
        b.needs.add("log")
        return ["x = self.log(x) if x % 5 == 0 else x + 1"]
    y = b.fresh("y")
    return [f"{y} = self.a(x)", f"x = self.b({y}) if {y} % 2 else {y} + 1"]


def augassign(b: Body, nest: int) -> list[str]:
    """``+=`` on a string between the calls reading it."""
    s, y, z = b.fresh("s"), b.fresh("y"), b.fresh("z")
    return [f'{s} = "p" + str(x)', f"{y} = self.a(len({s}))", f'{s} += "q"',
            f"{z} = self.b(len({s}))", f"x = (x + {y} + {z}) % 1009"]


def running(b: Body, nest: int) -> list[str]:
    """Updates of one local over a loop's pending results: a running best kept by an ``if``,
    ``+=`` on a number, a str and a list (a continuation each), and a list another name also
    holds (updated where eager updates it)."""
    c = b.c
    acc, v = b.fresh("acc"), b.fresh("v")
    variant = c.choose(7)
    head = ["for m in self.members:", f"    {v} = m(x)"]
    if variant >= 5:  # += into the elements of a list of numbers (and a dict of them)
        init = f"{acc} = [0] * len(self.members)" if variant == 5 else \
            f"{acc} = {{i: 0 for i in range(len(self.members))}}"
        return [init, "for i, m in enumerate(self.members):", f"    {acc}[i] += m(x + i) % 7",
                f"    {acc}[i] += 1", f"x = (x + sum({acc}{'.values()' * (variant == 6)})) % 1009"]
    if variant == 0:
        body = [f"    if {v} > {acc}:", f"        {acc} = {v}", "    else:",
                f"        {acc} = {acc} - 1"]
        return [f"{acc} = -1", *head, *body, f"x = (x + {acc}) % 1009"]
    if variant == 1:
        return [f"{acc} = 0", *head, f"    {acc} += {v} % 7", f"x = (x + {acc}) % 1009"]
    if variant == 2:
        return [f'{acc} = "s"', *head, f"    {acc} += str({v} % 10)",
                f"x = (x + len({acc})) % 1009"]
    if variant == 3:
        return [f"{acc} = []", *head, f"    {acc} += [{v}, 1]", b.reduce(acc)]
    keep = b.fresh("keep")
    return [f"{acc} = [x]", f"{keep} = {acc}", *head, f"    {acc} += [{v}]",
            f"    x = (x + len({keep})) % 1009", b.reduce(acc)]


def rounds(b: Body, nest: int) -> list[str]:
    """Rounds that build a new list from the last (``prev = cur; cur = []``); in one variant
    the old list is changed through its other name while a call it was given may still run."""
    c = b.c
    cur, prev = b.fresh("cur"), b.fresh("prev")
    lines = [f"{cur} = [x]", f"for r in range({c.choose(2) + 1}):", f"    {prev} = {cur}",
             f"    {cur} = []", "    for m in self.members:",
             f"        {cur}.append(m(sum({prev}) % 1009 + r))"]
    if c.choose(2):
        y = b.fresh("y")
        lines += [f"{y} = self.agg({prev})", f"{prev}.append(x)", f"x = ({y} + len({prev})) % 1009"]
    return [*lines, b.reduce(cur)]


def scored(b: Body, nest: int) -> list[str]:
    """A static method of the class scoring each result (a function of the user's), or a
    helper calling every element of the collection it is given (a loop and a comprehension
    over its parameter)."""
    y = b.fresh("y")
    if b.c.choose(3) == 2:
        b.needs.add("_each")
        return [f"{y} = self._each({b.c.pick(('self.members', '[self.a, self.b]'))}, x)",
                b.reduce(y)]
    b.needs.add("score")
    if b.c.choose(2):
        return [f"{y} = [self.score(m(x)) for m in self.members]", b.reduce(y)]
    return [f"{y} = self.score(self.a(x))", f"x = (x + self.score({y})) % 1009"]


def looptry(b: Body, nest: int) -> list[str]:
    """A loop whose body waits on its own call (a ``try`` around it, an ``if`` on its result):
    every iteration's call starts before the loop, with the assignments its input needs
    (which may raise: ``q = 100 // (x % 4 + i - 1)``), a second call reading the first's result
    (started when the first returns); failures are raised (or caught) where
    the body made the call, impure members are called in their place, an iteration skipped by
    ``continue`` before the call makes none, and a loop variable rebound before the call is
    read as rebound."""
    c = b.c
    acc, v, q = b.fresh("acc"), b.fresh("v"), b.fresh("q")
    loop = c.pick(("for m in self.members:", "for k, m in self.ops.items():",
                   "for i, m in enumerate(self.members):"))
    index = "i" if "enumerate" in loop else "len(k)" if "items" in loop else "1"
    caught = bool(c.choose(2))
    prefix = c.pick(([], [f"{q} = x + 1"], [f"{q} = (x + {index}) % 97", f"{q}2 = {q} * 2"],
                     *([[f"{q} = 100 // (x % 4 + {index} - 1)"]] if caught else [])))
    arg = f"{q}2" if len(prefix) == 2 else q if prefix else "x + 1"
    body = []
    if c.choose(4) == 0:  # an iteration skipped before its call
        body += [f"    if x % 3 == {index} % 3:", "        continue"]
    if "enumerate" in loop and c.choose(4) == 0:  # the loop's variable rebound first
        body += ["    i = i + x % 2"]
    if c.choose(3) == 0:  # a chain: the second call reads the first's result
        w = b.fresh("w")
        chain = [*prefix, f"{v} = m({arg})", f"{w} = self.b({v} % 11 + 1)"]
        if caught:
            body += ["    try:", *(f"        {line}" for line in chain),
                     f"        {acc}.append({w} + {v})",
                     "    except (ValueError, KeyError, ZeroDivisionError):",
                     f"        {acc}.append(-1)"]
        else:
            body += [*(f"    {line}" for line in chain), f"    if {w} % 3 == 0:",
                     f"        {acc}.append({w})", "    else:", f"        {acc}.append({v})"]
        return [f"{acc} = []", loop, *body, b.reduce(acc)]
    if caught:
        body += ["    try:", *(f"        {line}" for line in prefix), f"        {v} = m({arg})",
                 "    except (ValueError, KeyError, ZeroDivisionError):", f"        {v} = -1"]
    else:
        body += [*(f"    {line}" for line in prefix), f"    {v} = m({arg})"]
    body += [f"    if {v} % 3 == 0:", f"        {acc}.append({v})", "    else:",
             f"        {acc}.append({v} + 1)"]
    return [f"{acc} = []", loop, *body, b.reduce(acc)]


def localdef(b: Body, nest: int) -> list[str]:
    """A small function defined in forward (inlined where it is only called directly, its
    assignments folded into its return where that keeps what runs; left as written when it is
    passed on), closing over a local rebound after the def."""
    c = b.c
    f, k, ys = b.fresh("f"), b.fresh("k"), b.fresh("ys")
    body = c.pick(([f"    return self.a(v + {k}) * 2 + {k}"],
                   # assignments folded into the return (each read once, calls in order)
                   [f"    w = v + {k}", "    r = self.a(w)", f"    return r * 2 + {k}"],
                   # read twice, or a call moved before another: left as written
                   [f"    r = self.a(v + {k})", "    return r * 2 + r % 3"],
                   ["    r = self.log(v)", "    s = self.a(v + 1)", "    return s + r"]))
    if any("self.log" in line for line in body):
        b.needs.add("log")
    lines = [f"{k} = x % 5", f"def {f}(v):", *body]
    variant = c.choose(3)
    if variant == 0:
        return [*lines, f"{ys} = [{f}(i) for i in range(3)]", f"{k} = {k} + 1",
                f"x = (sum({ys}) + {f}(x)) % 1009"]
    if variant == 1:
        return [*lines, f"x = ({f}(x) + {f}(7)) % 1009"]
    return [*lines, f"{ys} = list(map({f}, [x, x + 1]))", b.reduce(ys)]


def tryblock(b: Body, nest: int) -> list[str]:
    """A ``try`` (or ``with contextlib.suppress``) block beside independent calls, run as one
    task where it qualifies: a call that may raise, glue that may raise (where it is caught), a
    second call reading the first (a chain) or not, a fan-out over the members (several may
    raise at once: the block then has a run of its own), handlers that catch some errors, call
    a fallback or re-raise, ``else``/``finally`` parts, names bound before the block or only in
    it, a container changed after the block reads it, a list the block appends to; or a
    helper whose ``try`` returns.
    Only names surely bound are read after it (the program runs eagerly without a NameError)."""
    c = b.c
    if c.choose(6) == 0:  # a helper whose try returns: each call of it is a task
        b.needs.add("_safe")
        return [f"x = (self._safe(x) + self._safe(x + 3) + {b.invoke('b', 'x')}) % 1009"]
    v, w, pre, box = b.fresh("v"), b.fresh("w"), b.fresh("pre"), b.fresh("box")
    lines = [f"{pre} = {b.invoke('b', 'x + 2')}"] if c.choose(2) else [f"{pre} = 1"]
    bound = {pre}
    for name in (v, w):
        if c.choose(3) == 0:
            lines.append(f"{name} = x % 7")  # bound before: the block may leave it as it is
            bound.add(name)
    suppress = c.choose(5) == 0
    caught = c.pick(("(ValueError, KeyError, ZeroDivisionError)", "ZeroDivisionError",
                     "(KeyError, RuntimeError)"))
    handler = c.pick(([f"    {w} = -1"], [f"    {v} = -2", f"    {w} = -3"],
                      [f"    {w} = {b.invoke('b', 'x + 5')}"], ["    raise"]))
    divides = suppress or ("ZeroDivisionError" in caught and handler != ["    raise"])
    body = [f"{v} = {b.invoke('a', 'x + 1')}",
            c.pick((f"{w} = {v} + {pre}", f"{w} = {v}",
                    *([f"{w} = 100 // ({v} % 5 - 1)"] if divides else [])))]
    if c.choose(3) == 0:
        body.append(f"{w} = {b.invoke('b', f'{w} % 50')}")  # a chain
    elif c.choose(4) == 0:
        body.append(f"{w} = {w} + {b.invoke('b', 'x')}")  # independent of the first call
    elif c.choose(3) == 0:  # a fan-out inside the block (members may raise, several at once)
        body.append(f"{w} = sum([m({w} % 50 + i) for i, m in enumerate(self.members)]) % 1009")
    if c.choose(4) == 0:
        lines.append(f"{box} = [x]")
        body[0] = f"{v} = {b.invoke('a', f'{box}[0] + 1')}"
    seen = b.fresh("seen")
    keeps = c.choose(4) == 0  # a list the block appends to (its output too)
    if keeps:
        lines.append(f"{seen} = [x]")
        body.append(f"{seen}.append({w} % 97)")
    if suppress:
        block = ["with contextlib.suppress(ValueError, ZeroDivisionError):",
                 *(f"    {line}" for line in body)]
    else:
        block = ["try:", *(f"    {line}" for line in body), f"except {caught}:", *handler]
        if keeps and handler != ["    raise"]:
            block.append(f"    {seen}.append(-1)")
        bound |= {v, w} if handler[0] in ("    raise", f"    {v} = -2") else {w}
        if c.choose(4) == 0:
            block += ["else:", f"    {w} = {w} * 2"]
        if c.choose(5) == 0:
            block += ["finally:", f"    {pre} = {pre} + 1"]
    after = [f"{box}[0] = -x"] if f"{box} = [x]" in lines and c.choose(2) else []
    reads = " + ".join([*(n for n in (v, w, pre) if n in bound),
                        *([f"sum({seen}) + len({seen})"] if keeps else [])])
    tail = [f"x = ({reads} + {b.invoke('b', 'x + 3')}) % 1009"] if c.choose(2) else [
        f"x = ({reads}) % 1009"]
    return [*lines, *block, *after, *tail]


IDIOMS: list[tuple[str, Callable[[Body, int], list[str]]]] = [
    ("named", named), ("glue", glue), ("postproc", postproc), ("glue_arg", glue_arg),
    ("alias", alias), ("range", ranged), ("reuse", reuse), ("condexpr", condexpr),
    ("augassign", augassign), ("running", running), ("rounds", rounds), ("scored", scored),
    ("looptry", looptry), ("localdef", localdef), ("tryblock", tryblock),
]
