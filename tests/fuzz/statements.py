"""The statement kinds of one generated ``forward`` body (see :mod:`tests.fuzz.generator`).

The running value is the int ``x``. Each kind is a method taking ``nest`` (how many more levels
of ``if`` may open) and returning source lines; ``KINDS`` lists them, the simplest first, by the
name :data:`tests.fuzz.generator.DISABLED` uses to leave one out; the kinds of ordinary code
around calls live in :mod:`tests.fuzz.idioms`. A body records in ``needs`` the attributes and
methods its class must then define: ``peek``, ``pair``, ``log``, ``named`` (leaves), ``inner``
(a composite with named inputs), ``helper`` and ``_via`` (methods). ``keyword`` names the
attributes (``a``, ``b``) that take named inputs, which plain calls may then pass by keyword.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from .idioms import IDIOMS

if TYPE_CHECKING:
    from .generator import Chooser


class Body:
    """Statements of one forward."""

    def __init__(self, c: Chooser, disabled: Collection[str] = (),
                 keyword: Collection[str] = ()) -> None:
        self.c = c
        self.disabled = disabled
        self.keyword = keyword
        self.needs: set[str] = set()
        self.n = 0

    def fresh(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def block(self, count: int, nest: int) -> list[str]:
        out: list[str] = []
        for _ in range(count):
            out += self.statement(nest)
        return out

    def statement(self, nest: int) -> list[str]:
        name, kind = KINDS[self.c.choose(len(KINDS))]
        if name in self.disabled or (name == "ifelse" and nest <= 0):
            return self.pipe(nest)
        return kind(self, nest)

    def reduce(self, name: str) -> str:
        if self.c.choose(2):
            values = f"{name}.values()" if name.startswith("d") else name
            return f"x = (sum({values}) + len({name})) % 1009"
        return f"x = self.agg({name})"

    def final(self, root: bool) -> str:
        options = ["return x", "return self.agg([x, self.a(x)])"]
        if root:  # inner composites return ints: their callers compute with them
            options.append("return {'x': x, 'first': self.members[0](x)}")
        return self.c.pick(options)

    # -- the kinds of the first fuzzer -----------------------------------------------------

    def invoke(self, attr: str, arg: str) -> str:
        """``self.<attr>(arg)``, or by keyword when ``attr`` takes named inputs."""
        if attr not in self.keyword:
            return f"self.{attr}({arg})"
        return self.c.pick((f"self.{attr}({arg})", f"self.{attr}(x={arg})",
                            f"self.{attr}({arg}, y=3)"))

    def call(self, nest: int) -> list[str]:
        return [f"x = {self.invoke(self.c.pick(('a', 'b')), 'x')}"]

    def arith(self, nest: int) -> list[str]:
        return [f"x = {self.c.pick(('x + 3', 'x * 2 % 97', 'abs(x - 40)', 'x // 2 + 1'))}"]

    def fanout(self, nest: int) -> list[str]:
        ys = self.fresh("ys")
        return [f"{ys} = [m(x) for m in self.members]", self.reduce(ys)]

    def append(self, nest: int) -> list[str]:
        ys = self.fresh("ys")
        return [f"{ys} = []", "for m in self.members:", f"    {ys}.append(m(x + 1))",
                self.reduce(ys)]

    def dict_loop(self, nest: int) -> list[str]:
        d = self.fresh("d")
        return [f"{d} = {{}}", "for key, op in self.ops.items():", f"    {d}[key] = op(x)",
                self.reduce(d)]

    def dict_comp(self, nest: int) -> list[str]:
        d = self.fresh("d")
        return [f"{d} = {{key: op(x) for key, op in self.ops.items()}}", self.reduce(d)]

    def carried(self, nest: int) -> list[str]:
        return ["for m in self.members:", "    x = m(x)"]

    def if_else(self, nest: int) -> list[str]:
        c = self.c
        then = self.block(c.choose(2) + 1, nest - 1)
        other = self.block(c.choose(2) + 1, nest - 1)
        test = c.pick(("x % 2 == 0", "x > 300", "x % 3 == 1"))
        return [f"if {test}:", *("    " + s for s in then), "else:", *("    " + s for s in other)]

    def early(self, nest: int) -> list[str]:
        return [f"if x % {self.c.choose(5) + 3} == 1:", "    return x + 1"]

    def info(self, nest: int) -> list[str]:
        info = self.fresh("info")
        return [f"{info} = {{'v': x, 'w': self.a(x), 'u': self.b(x + 2)}}",
                f"x = ({info}['w'] + {info}['u'] * 2 + {info}['v']) % 1009"]

    def helper(self, nest: int) -> list[str]:
        self.needs.add("helper")
        return ["x = self.helper(x)"]

    def try_(self, nest: int) -> list[str]:
        return ["try:", "    x = self.a(x)", "except (ValueError, KeyError):", "    x = -x"]

    def pipe(self, nest: int) -> list[str]:
        y = self.fresh("y")
        return [f"{y} = {self.invoke('a', 'x')}", f"z = {self.invoke('b', f'{y} + x')}",
                f"x = self.agg([{y}, z, x])"]

    # -- calls reached other than as plain call sites --------------------------------------

    def mutate(self, nest: int) -> list[str]:
        """A container passed to a call, then mutated before the result is used."""
        c, n = self.c, self.fresh("")
        self.needs.add("peek")
        if c.choose(2):
            box, sub, drop = f"xs{n}", "[0]", "[0]"
            lines, grow = [f"{box} = [x, 1]"], f"{box}.append(3)"
        else:
            box, sub, drop = f"box{n}", '["n"]', '["m"]'
            lines, grow = [f'{box} = {{"n": x, "m": 0}}'], f'{box}["z"] = 3'
        variant = c.choose(7)
        arg = box
        if variant == 6:  # the call receives a container holding the one mutated
            arg = f"outer{n}"
            lines.append(f'{arg} = {{"inner": {box}}}')
        target = "self.peek" if variant == 6 or c.choose(3) else "self.agg"
        lines.append(f"seen{n} = {target}({arg})")
        lines += [[f"{box}{sub} += 1"], [f"del {box}{drop}"], [f"{box}{sub} = 5"], [grow],
                  [f"alias{n} = {box}", f"alias{n}{sub} += 2"],
                  [f'outer{n} = {{"inner": {box}}}', f'outer{n}["inner"]{sub} += 1'],
                  [f"{box}{sub} += 1"]][variant]
        later = f"self.peek({box})" if c.choose(2) else f"len({box})"
        return [*lines, f"x = (x + seen{n} + {later}) % 1009"]

    def star(self, nest: int) -> list[str]:
        return [self.c.pick(("x = self.a(*[x])", "x = self.b(*(x,))", "x = self.a(*[x + 1])"))]

    def zipped(self, nest: int) -> list[str]:
        c, variant = self.c, self.c.choose(4)
        if variant == 0:
            return ['x = [w(x + 1) for w, s in zip([self.a, self.b], ("p", "q"))][0]']
        if variant == 1:
            return ['x = sum(w(x) for w, s in zip([self.a, self.b], "pq")) % 1009']
        if variant == 2:
            ws = self.fresh("ws")
            return [f'{ws} = [w(x) + len(s) for w, s in zip(self.members, ("p", "qq", "rrr"))]',
                    self.reduce(ws)]
        d = self.fresh("d")
        pairs = c.pick(('zip(("p", "q"), self.members)', 'zip(("p", "q"), [self.b, self.a])'))
        return [f"{d} = {{s: w(x) for s, w in {pairs}}}", self.reduce(d)]

    def via(self, nest: int) -> list[str]:
        c = self.c
        if c.choose(3) == 2:
            ys = self.fresh("ys")
            return [f"{ys} = [via(x, m) for m in self.members]", self.reduce(ys)]
        return [c.pick(("x = via(x + 1, self.a)", "x = via(x, self.members[0])"))]

    def self_via(self, nest: int) -> list[str]:
        self.needs.add("_via")
        return [self.c.pick(("x = self._via(self.b, x)", "x = self._via(self.a, x + 2) + x"))]

    def subscript(self, nest: int) -> list[str]:
        options = ('x = self.pair(x)["v"]', 'x = self.pair(x + 1)["w"] + x',
                   "x = int(str(self.a(x)).strip())", 'x = self.pair(self.b(x))["v"]')
        line = self.c.pick(options)
        if "pair" in line:
            self.needs.add("pair")
        return [line]

    def impure(self, nest: int) -> list[str]:
        """The impure ``self.log`` reached through a star call, a zip comprehension, a helper
        method or a module function, maybe after a plain impure call still pending."""
        c = self.c
        self.needs.add("log")
        line = c.pick(("x = self.log(*[x])",
                       'x = [w(x) for w, s in zip([self.a, self.log], ("p", "q"))][1]',
                       "x = via(x, self.log)", "x = self._via(self.log, x)"))
        if "_via" in line:
            self.needs.add("_via")
        if not c.choose(2):
            return [line]
        y = self.fresh("y")
        return [f"{y} = self.log(x + 5)", line, f"x = (x + {y}) % 1009"]


KINDS: list[tuple[str, Callable[[Body, int], list[str]]]] = [
    ("call", Body.call), ("arith", Body.arith), ("fanout", Body.fanout),
    ("append", Body.append), ("dict_loop", Body.dict_loop), ("dict_comp", Body.dict_comp),
    ("carried", Body.carried), ("ifelse", Body.if_else), ("early", Body.early),
    ("info", Body.info), ("helper", Body.helper), ("try", Body.try_), ("pipe", Body.pipe),
    ("mutate", Body.mutate), ("star", Body.star), ("zip", Body.zipped), ("via", Body.via),
    ("self_via", Body.self_via), ("subscript", Body.subscript), ("impure", Body.impure),
    *IDIOMS,
]
