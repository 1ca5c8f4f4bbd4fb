"""``State``: what codegen knows at one point of a function, in program order: which names may
hold pending results, which are surely bound, which were given to calls that may still run, and
which may share objects. Statements update it; branches and loops join it."""

from __future__ import annotations

import dataclasses

from .aliases import Aliases, Mutations

__all__ = ["State"]


@dataclasses.dataclass
class State:
    """What codegen knows at one point of the function, in program order."""

    pending: set[str]  # names that may hold pending results (or containers of them)
    bound: set[str]  # names surely bound here
    lent: set[str]  # names given to calls that may still run (mutating them waits)
    # pending names that surely hold one handle (an operator call's result), not a container
    handles: set[str] = dataclasses.field(default_factory=set)
    #: which names may share objects (``alias = box``): see :mod:`.aliases`
    aliases: Aliases = dataclasses.field(default_factory=Aliases)
    #: pending name -> the line whose calls produce it (what explain names as a dependency)
    origin: dict[str, int] = dataclasses.field(default_factory=dict)
    #: pending names surely bound to a real list or dict (only elements are pending):
    #: ``totals[i] += v`` updates an element without waiting for the others
    filled: set[str] = dataclasses.field(default_factory=set)

    def copy(self) -> State:
        return State(set(self.pending), set(self.bound), set(self.lent), set(self.handles),
                     self.aliases.copy(), dict(self.origin), set(self.filled))

    def join(self, other: State) -> State:
        # filled on one path, holding a value that is not pending on the other: still a value
        # whose elements only may be pending
        filled = (self.filled & other.filled) | (self.filled & (other.bound - other.pending)) \
            | (other.filled & (self.bound - self.pending))
        return State(self.pending | other.pending, self.bound & other.bound,
                     self.lent | other.lent, self.handles & other.handles,
                     self.aliases.join(other.aliases), {**other.origin, **self.origin},
                     filled)

    def assign(self, other: State) -> None:
        """Take ``other``'s facts (after a branch or a loop)."""
        self.pending, self.bound = other.pending, other.bound
        self.lent, self.handles, self.aliases = other.lent, other.handles, other.aliases
        self.origin, self.filled = other.origin, other.filled

    def lend(self, names: set[str]) -> None:
        """``names`` were given to calls that may still run: so was what they reach."""
        self.lent |= self.aliases.lent(names)

    def conflicts(self, changes: Mutations) -> bool:
        """Whether ``changes`` may mutate an object a call that may still run was given."""
        return bool(changes) and bool(self.aliases.touched(changes) & self.lent)
